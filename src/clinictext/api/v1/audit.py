from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import MAX_ID, AuditOut
from clinictext.services import audit
from clinictext.services.patients import parse_cursor

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditOut])
def list_audit(
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    entity: Annotated[str | None, Query(max_length=30)] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> list[AuditOut]:
    """Who changed what and when, newest first."""
    rows = audit.list_events(
        session,
        caller.org_id,
        limit=limit + 1,
        before_id=parse_cursor(cursor),
        entity=entity,
        entity_id=entity_id,
    )
    if len(rows) > limit:
        rows = rows[:limit]
        response.headers["X-Next-Cursor"] = str(rows[-1].id)
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]
