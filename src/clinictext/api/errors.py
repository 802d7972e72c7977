"""Every error leaves as ``{"error": {"code", "message", ...}}`` with a sentence to act on."""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from clinictext.api import deps, schemas
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


_FASTAPI_UNREADABLE_BODY = "There was an error parsing the body"
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


# --- the errors in the OpenAPI document ---------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "snake_case, stable"},
                "message": {"type": "string", "description": "a sentence a person can act on"},
            },
            "additionalProperties": True,
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
DESCRIPTIONS = {
    "400": "malformed_json (or malformed_form): the body cannot be read",
    "401": "missing_api_key, invalid_authorization or invalid_api_key",
    "403": "invalid_signature: the provider's signature is missing or wrong",
    "404": "not found, or another organization's",
    "409": "conflict: the change clashes with the current state or one saved at that moment",
    "413": "payload_too_large: the body is over 1 MB",
    "415": "unsupported_media_type: send JSON",
    "422": "invalid_request (or a more specific code): each field's problem is in 'fields'",
    "503": "database_unavailable: nothing was changed; retry after Retry-After seconds",
}


def _refers_to_an_id(schema: dict[str, Any], op: dict[str, Any]) -> bool:
    names = [p.get("name", "") for p in op.get("parameters", []) if p.get("in") != "header"]
    ref = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ).get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        body = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
        names += list(body.get("properties", {}))
    # A row of this organization named by its id (an external id is only stored).
    return any((n.endswith("_id") and n != "external_id") or n == "into" for n in names)


def error_statuses(schema: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> set[str]:
    """The 4xx and 5xx answers an operation gives, from what it takes and where it lives."""
    codes = {"503"}  # every operation reaches the database
    params = [p for p in op.get("parameters", []) if p.get("in") in ("path", "query")]
    if path.startswith("/webhooks/"):
        return codes | {"400", "403", "413"}
    if path.startswith("/api/"):
        codes.add("401")
        if method in _WRITE_METHODS:
            codes |= {"409", "413", "422"}
    if "requestBody" in op:
        codes |= {"400", "413", "415", "422"}
    if params:
        codes.add("422")
    if any(p.get("in") == "path" for p in params) or _refers_to_an_id(schema, op):
        codes.add("404")
    return codes


def document_errors(app: FastAPI) -> None:
    """List each operation's error answers, in the error shape, in the OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ERROR_SCHEMA
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                for status in sorted(error_statuses(schema, path, method, op)):
                    entry = responses.setdefault(status, {"description": DESCRIPTIONS[status]})
                    entry["content"] = {"application/json": {"schema": _ERROR_REF}}
                    if status == "503":
                        entry["headers"] = {
                            "Retry-After": {
                                "description": "seconds to wait before trying again",
                                "schema": {"type": "integer"},
                            }
                        }
                if responses.get("422", {}).get("description") == "Validation Error":
                    responses["422"]["description"] = DESCRIPTIONS["422"]
        # FastAPI's own validation error shape is never sent: ours replaces it.
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


BUSY_PAGE = (
    "The server is busy or cannot reach its database right now, and nothing was changed. "
    "Try again in a moment."
)


def _page(req: Request, status: int, message: str) -> Response | None:
    """The error as a page, when the request was for one of the staff web pages."""
    hook = getattr(req.app.state, "page_errors", None)
    return hook(req, status, message) if hook is not None else None


def _http_error_response(exc: StarletteHTTPException, code: str, message: str) -> Response:
    """``exc`` answered: its own code and message when it names them, and its headers."""
    if isinstance(exc.detail, dict):
        code, message = exc.detail.get("code", code), exc.detail.get("message", message)
    response = error_response(exc.status_code, code, message)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _caller_refused(req: Request) -> Response | None:
    """The 401 for a request whose input was refused before its API key was looked up
    (the key is checked in the route's own transaction, which such a request never
    reaches): a caller without a valid key learns that first, as on every other route.
    None when the key is valid, or cannot be checked now (the input's error stands)."""
    try:
        await anyio.to_thread.run_sync(deps.get_caller_now, req)
    except StarletteHTTPException as refused:
        return _http_error_response(refused, "unauthorized", str(refused.detail))
    except (OperationalError, PoolTimeout):  # no database now: the input's error stands
        log.info("API key not checked for a refused request: database unavailable")
    return None


def install(app: FastAPI) -> None:
    document_errors(app)

    @app.exception_handler(ServiceError)
    async def _service_error(req: Request, exc: ServiceError) -> Response:
        page = _page(req, exc.status, exc.message)
        if page is not None:
            return page
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(req: Request, exc: RequestValidationError) -> Response:
        page = _page(
            req,
            422,
            "Some of what was sent cannot be read (a value is missing, too long or of the wrong "
            "kind). Nothing was changed: go back, check the form and try again.",
        )
        if page is not None:
            return page
        if deps.needs_caller(req.scope.get("route")):
            refused = await _caller_refused(req)
            if refused is not None:
                return refused
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
    async def _http_error(req: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405, 413):
            page = _page(
                req,
                exc.status_code,
                {
                    404: "There is nothing here: the page or record does not exist "
                    "in your organization.",
                    405: "This address does not accept that.",
                    413: "What was sent is too large.",
                }[exc.status_code],
            )
            if page is not None:
                return page
        codes = {
            404: ("not_found", "There is nothing at this address. See /docs for the API."),
            405: ("method_not_allowed", "This address does not accept that method."),
        }
        code, message = codes.get(exc.status_code, ("http_error", str(exc.detail)))
        if exc.status_code == 400 and exc.detail == _FASTAPI_UNREADABLE_BODY:
            # FastAPI's answer when the JSON parser itself fails, e.g. on nesting too deep.
            code, message = (
                "malformed_json",
                "The request body could not be read as JSON (it may be nested too deeply). "
                "Send a JSON object of the fields listed in /docs.",
            )
        return _http_error_response(exc, code, message)

    @app.exception_handler(IntegrityError)
    async def _integrity(req: Request, exc: IntegrityError) -> Response:
        # Two requests raced to create the same thing; the loser's transaction rolled back.
        log.info("integrity conflict: %s", type(exc.orig).__name__)
        page = _page(
            req,
            409,
            "This change conflicts with one saved at the same moment, and nothing was "
            "changed. Reload the page and try again.",
        )
        if page is not None:
            return page
        return error_response(
            409,
            "conflict",
            "This change conflicts with one saved at the same moment (for example the same "
            "number or external id). Nothing was changed: reload and try again.",
        )

    @app.exception_handler(OperationalError)
    async def _database_unavailable(req: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        page = _page(req, 503, BUSY_PAGE)
        if page is not None:
            return page
        return _unavailable(
            "The database is busy or unreachable, and nothing was changed. Try again in a "
            "moment; if it persists, check the database server."
        )

    @app.exception_handler(PoolTimeout)
    async def _no_free_connection(req: Request, exc: PoolTimeout) -> Response:
        # Every pooled connection stayed busy for the pool's whole timeout: the server is
        # overloaded (or something holds connections), the database itself may be fine.
        log.warning("no database connection free in time: %s", type(exc).__name__)
        page = _page(req, 503, BUSY_PAGE)
        if page is not None:
            return page
        return _unavailable(
            "The server is too busy to reach the database right now, and nothing was changed. "
            f"Try again in {RETRY_AFTER_SECONDS} seconds; if it persists, the server needs "
            "more database connections or fewer requests at once."
        )

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> Response:
        # The message of a database error holds the statement's parameters (names, numbers,
        # bodies): the traceback is logged without messages, the full error only at DEBUG.
        log.error("unhandled error in %s %s\n%s", req.method, req.url.path, redacted_traceback(exc))
        log.debug("unhandled error in %s %s", req.method, req.url.path, exc_info=exc)
        page = _page(
            req,
            500,
            "Something went wrong on our side and nothing was changed. Try again; if it keeps "
            "happening, tell your clinic's IT contact.",
        )
        if page is not None:
            return page
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side and nothing was changed. Try again; "
            "if it keeps happening, contact support.",
        )
