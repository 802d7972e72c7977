"""Every error leaves as ``{"error": {"code", "message", ...}}`` with a sentence to act on."""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from clinictext.api import schemas
from clinictext.api.middleware import redacted_traceback
from clinictext.services.errors import ServiceError

log = logging.getLogger("clinictext.api")


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    for key, value in extra.items():
        if isinstance(value, list):
            value = [asdict(v) if is_dataclass(v) and not isinstance(v, type) else v for v in value]
        body[key] = value
    return JSONResponse({"error": body}, status_code=status)


# How long a client should wait before retrying a request refused for lack of a database.
RETRY_AFTER_SECONDS = 5


def _unavailable(message: str) -> JSONResponse:
    response = error_response(503, "database_unavailable", message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


# Validation problems with an error code of their own (the pydantic error type of the same
# name, raised in api/schemas.py); every other problem is ``invalid_request``.
OWN_CODES = frozenset({"invalid_text", "invalid_time", "invalid_send_window"})
# Pydantic's own word for text it cannot read (a lone surrogate in a constrained string).
_ALIASES = {"string_unicode": "invalid_text"}


def _kind(err: dict[str, Any]) -> str:
    kind = str(err.get("type", ""))
    return _ALIASES.get(kind, kind)


def _problems(err: dict[str, Any]) -> list[dict[str, str]]:
    """One entry per field the error is about (``unknown_fields`` names several)."""
    loc = tuple(err.get("loc", ()))
    if _kind(err) != "unknown_fields":
        return [{"field": _field(loc), "problem": _describe(err)}]
    out = []
    for name in err.get("ctx", {}).get("fields", []):
        field = _field((*loc, name))
        out.append({"field": field, "problem": f"'{field}' is not a field of this request."})
    return out


def _describe(err: dict[str, Any]) -> str:
    field = _field(tuple(err.get("loc", ())))
    kind = _kind(err)
    if kind == "invalid_text":
        return f"'{field}' {schemas.BROKEN_TEXT}."
    if kind in OWN_CODES:
        return f"'{field}' {err.get('msg', 'is not valid')}."
    if kind == "missing":
        return f"'{field}' is required."
    if kind == "extra_forbidden":
        return f"'{field}' is not a field of this request; remove it."
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"'{field}' must be one of {expected}."
    if kind in ("string_too_long", "string_too_short"):
        return f"'{field}' {err.get('msg', '').lower().replace('string', 'text')}."
    return f"'{field}': {err.get('msg', 'is not valid')}."


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_req: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        content_type = req.headers.get("content-type", "")
        body_errors = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("body",)]
        if body_errors and content_type and "json" not in content_type.lower():
            return error_response(
                415,
                "unsupported_media_type",
                f"The body was sent as '{content_type.split(';')[0]}'; send JSON with the header "
                "'Content-Type: application/json'.",
            )
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(
                400,
                "malformed_json",
                "The request body is not valid JSON. Send a JSON object, e.g. "
                '{"first_name": "Ana", "last_name": "Diaz", "phone": "(415) 555-0123"}.',
            )
        problems = [p for e in errors for p in _problems(e)]
        shown = problems[: schemas.MAX_FIELD_PROBLEMS]
        more = {"more_problems": len(problems) - len(shown)} if len(problems) > len(shown) else {}
        unknown = next((e for e in errors if _kind(e) == "unknown_fields"), None)
        if unknown is not None:
            count = unknown.get("ctx", {}).get("count", len(shown))
            names = ", ".join(f"'{p['field']}'" for p in shown[:3])
            return error_response(
                422,
                "invalid_request",
                f"The request has {count:,} fields this address does not know (such as "
                f"{names}); remove them. /docs lists the fields of each request.",
                fields=shown,
                **more,
            )
        if any(e.get("type") == "model_attributes_type" for e in errors) or (
            errors and tuple(errors[0].get("loc", ())) == ("body",)
        ):
            return error_response(
                422,
                "invalid_request",
                "The request body must be a JSON object.",
                fields=shown,
                **more,
            )
        code = next((_kind(e) for e in errors if _kind(e) in OWN_CODES), "invalid_request")
        message = " ".join(p["problem"] for p in shown[:3])
        return error_response(422, code, message, fields=shown, **more)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            404: ("not_found", "There is nothing at this address. See /docs for the API."),
            405: ("method_not_allowed", "This address does not accept that method."),
        }
        code, message = codes.get(exc.status_code, ("http_error", str(exc.detail)))
        if isinstance(exc.detail, dict):
            code, message = exc.detail.get("code", code), exc.detail.get("message", message)
        response = error_response(exc.status_code, code, message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(IntegrityError)
    async def _integrity(_req: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced to create the same thing; the loser's transaction rolled back.
        log.info("integrity conflict: %s", type(exc.orig).__name__)
        return error_response(
            409,
            "conflict",
            "This change conflicts with one saved at the same moment (for example the same "
            "number or external id). Nothing was changed: reload and try again.",
        )

    @app.exception_handler(OperationalError)
    async def _database_unavailable(_req: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return _unavailable(
            "The database is busy or unreachable, and nothing was changed. Try again in a "
            "moment; if it persists, check the database server."
        )

    @app.exception_handler(PoolTimeout)
    async def _no_free_connection(_req: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed busy for the pool's whole timeout: the server is
        # overloaded (or something holds connections), the database itself may be fine.
        log.warning("no database connection free in time: %s", type(exc).__name__)
        return _unavailable(
            "The server is too busy to reach the database right now, and nothing was changed. "
            f"Try again in {RETRY_AFTER_SECONDS} seconds; if it persists, the server needs "
            "more database connections or fewer requests at once."
        )

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        # The message of a database error holds the statement's parameters (names, numbers,
        # bodies): the traceback is logged without messages, the full error only at DEBUG.
        log.error("unhandled error in %s %s\n%s", req.method, req.url.path, redacted_traceback(exc))
        log.debug("unhandled error in %s %s", req.method, req.url.path, exc_info=exc)
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side and nothing was changed. Try again; "
            "if it keeps happening, contact support.",
        )
