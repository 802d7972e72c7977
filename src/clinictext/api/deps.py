"""FastAPI dependencies and the request's unit of work: the caller's organization, and a
session whose transaction commits before the answer is sent.

Why the commit is not in the dependency: FastAPI runs a dependency's code after ``yield``
once the response has gone out, so a commit there would let a 201 name a row that does
not exist yet (or never will, if the commit fails). And a sync dependency runs in a
thread-pool hop of its own: a transaction begun in one hop and ended in another holds
SQLite's write lock while it waits for a free thread, which every other thread may be
waiting on. So ``unit_of_work`` wraps each sync route: the transaction begins, does its
work and commits (or rolls back) within the route's one hop; the dependency only closes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute

from clinictext.services import orgs

# Methods that never change anything: their transactions only read.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
F = TypeVar("F", bound=Callable[..., Any])


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for this request: read-only for GET, able to write otherwise.

    Its transaction begins at the first query and must end in the route (``unit_of_work``).
    Async, because making a session and closing one whose transaction has ended touch no
    database: as a sync dependency each cost two thread-pool hops a request (one to open,
    one to close), more than a small request's own query.
    """
    state = request.app.state
    factory = (
        state.read_session_factory if request.method in READ_METHODS else state.session_factory
    )
    session = factory()
    try:
        yield session
    finally:
        session.close()  # nothing left to end: the route committed or rolled back


SessionDep = Annotated[Session, Depends(get_session)]


def unit_of_work(endpoint: F) -> F:
    """Commit the route's session before its answer is built, in the route's own thread.

    A failed commit raises (a database error answers 503) and nothing was written. An
    error in the route rolls back at once, in the same thread. Async routes manage their
    own transactions and are returned unchanged.
    """
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        sessions = [v for v in (*args, *kwargs.values()) if isinstance(v, Session)]
        try:
            for name, value in kwargs.items():
                if isinstance(value, KeyToCheck):  # checked in the route's own transaction
                    kwargs[name] = _caller_for(sessions[0], value.key)
            result = endpoint(*args, **kwargs)
            for session in sessions:
                session.commit()
            return result
        except BaseException:
            for session in sessions:
                session.rollback()
            raise

    run.unit_of_work = True  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every route of ``routes``, also those of routers included into them."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            yield from api_routes(included.routes)


def each_a_unit_of_work(router: APIRouter) -> None:
    """Wrap every route of ``router`` in ``unit_of_work``, before it is included anywhere
    (including builds the app's routes from these endpoints).

    A route that takes ``CallerDep`` must be sync and take a session, in whose transaction
    the key is checked; TypeError at start-up otherwise (use ``CallerNowDep``)."""
    for route in api_routes(router.routes):
        if needs_caller(route) and (
            inspect.iscoroutinefunction(route.endpoint)
            or get_session not in {d.call for d in route.dependant.dependencies}
        ):
            raise TypeError(
                f"{route.path}: CallerDep needs a sync route with a SessionDep; "
                "an async route or one without a session takes CallerNowDep."
            )
        if not getattr(route.endpoint, "unit_of_work", False):
            route.endpoint = unit_of_work(route.endpoint)


def needs_caller(route: object) -> bool:
    """Whether ``route`` authenticates its caller through ``CallerDep``."""
    dependant = getattr(route, "dependant", None)
    return dependant is not None and any(d.call is get_caller for d in dependant.dependencies)


@dataclass(frozen=True)
class Caller:
    org_id: int
    api_key_id: int

    @property
    def actor(self) -> str:
        return f"api_key:{self.api_key_id}"


def _unauthorized(code: str, message: str) -> HTTPException:
    return HTTPException(
        401, detail={"code": code, "message": message}, headers={"WWW-Authenticate": "Bearer"}
    )


@dataclass(frozen=True)
class KeyToCheck:
    """An API key sent as it should be, not yet looked up (see ``get_caller``)."""

    key: str


async def get_caller(request: Request) -> KeyToCheck:
    """The caller's API key, checked in the route's own transaction.

    Here only the header is read (401 when it is missing or malformed). The key is looked
    up by ``unit_of_work``, in the route's thread and transaction, which hands the route the
    ``Caller``. Looked up here instead, in a sync dependency, it cost a thread-pool hop of
    its own and a transaction of its own (on PostgreSQL a pooled connection's ping, BEGIN
    and COMMIT: three round trips) on every request.
    """
    return KeyToCheck(_presented_key(request))


def get_caller_now(request: Request) -> Caller:
    """The caller, authenticated in a short read-only transaction of its own: for routes
    without a session of their own (async routes)."""
    key = _presented_key(request)
    with request.app.state.read_session_factory() as session, session.begin():
        return _caller_for(session, key)


def _presented_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if not header:
        raise _unauthorized(
            "missing_api_key",
            "Send your API key in the Authorization header: 'Authorization: Bearer ct_...'. "
            "Create one with 'clinictext apikey create --org ORG_ID'.",
        )
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise _unauthorized(
            "invalid_authorization",
            "The Authorization header must be 'Bearer ' followed by your API key.",
        )
    return key


def _caller_for(session: Session, key: str) -> Caller:
    row = orgs.authenticate(session, key) if len(key) <= 200 else None
    if row is None:
        raise _unauthorized(
            "invalid_api_key",
            "This API key is not valid (mistyped, or revoked). Check it, or create a new one "
            "with 'clinictext apikey create'.",
        )
    return Caller(org_id=row.organization_id, api_key_id=row.id)


# The route receives a ``Caller``: ``unit_of_work`` puts it in place of the ``KeyToCheck``.
CallerDep = Annotated[Caller, Depends(get_caller)]
CallerNowDep = Annotated[Caller, Depends(get_caller_now)]
