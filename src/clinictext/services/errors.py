"""Errors a use case raises for a person to read; the API maps each to an HTTP status."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Something the caller asked for cannot be done; nothing was changed."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Invalid(ServiceError):
    status = 422
    code = "invalid"


class CannotText(ServiceError):
    """The can-text checklist failed; ``extra['checks']`` carries every check."""

    status = 422
    code = "cannot_text"
