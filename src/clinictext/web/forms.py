"""Forms that refuse bad input: the error next to its field, what was typed kept, nothing
half-saved.

A route catches the service's error, calls ``refusal`` (which rolls the transaction back,
so the commit that ends the route writes nothing) and renders the form again with the
returned errors and the submitted values, answering 422. htmx swaps 4xx answers in
(see the ``htmx-config`` in base.html), so the form is replaced where it stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from clinictext.services.errors import ServiceError

FORM_ERROR = "_form"  # an error that belongs to the whole form, not one field


@dataclass
class Refusal:
    """Errors by field name (``FORM_ERROR`` for the form as a whole)."""

    errors: dict[str, str] = field(default_factory=dict)
    status: int = 422

    def __bool__(self) -> bool:
        return bool(self.errors)


def refusal(session: Session, err: ServiceError, default_field: str = FORM_ERROR) -> Refusal:
    """Undo everything this request wrote, and say what was wrong and where."""
    session.rollback()
    name = str(err.extra.get("field") or default_field)
    return Refusal({name: err.message}, status=err.status if err.status >= 400 else 422)
