"""FastAPI dependencies: one transaction per request, and the caller's organization."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from clinictext.services import orgs


def get_session(request: Request) -> Iterator[Session]:
    """A session in a transaction: committed when the route returns, rolled back on error."""
    factory = request.app.state.session_factory
    with factory() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


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


def get_caller(request: Request, session: SessionDep) -> Caller:
    return _authenticate(request, session)


def get_caller_detached(request: Request) -> Caller:
    """Authenticate in a short transaction of its own, for routes that run their own.

    On SQLite a request transaction holds the write lock until the route returns, so a
    route that opens further transactions (refreshing the connector) must not hold one.
    """
    with request.app.state.session_factory() as session, session.begin():
        return _authenticate(request, session)


def _authenticate(request: Request, session: Session) -> Caller:
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
    row = orgs.authenticate(session, key) if len(key) <= 200 else None
    if row is None:
        raise _unauthorized(
            "invalid_api_key",
            "This API key is not valid (mistyped, or revoked). Check it, or create a new one "
            "with 'clinictext apikey create'.",
        )
    return Caller(org_id=row.organization_id, api_key_id=row.id)


CallerDep = Annotated[Caller, Depends(get_caller)]
DetachedCallerDep = Annotated[Caller, Depends(get_caller_detached)]
