from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import MAX_ID, CommlogOut
from clinictext.services import commlogs

router = APIRouter(tags=["commlogs"])


@router.get("/commlogs", response_model=list[CommlogOut])
def list_commlogs(
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> list[CommlogOut]:
    page = commlogs.list_commlogs(
        session, caller.org_id, patient_id=patient_id, limit=limit, cursor=cursor
    )
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    return [
        CommlogOut(
            id=c.id,
            patient_id=c.patient_id,
            message_id=c.message_id,
            direction=c.direction,
            kind=c.kind,
            at=c.at,
            deletable=commlogs.deletable(c),
        )
        for c in page.items
    ]


@router.delete("/commlogs/{commlog_id}", status_code=204)
def delete_commlog(
    caller: CallerDep, session: SessionDep, commlog_id: int = Path(ge=1, le=MAX_ID)
) -> Response:
    """Delete a sent text's commlog (kept in the audit log); a received text's gives 409."""
    commlogs.delete_commlog(session, caller.org_id, commlog_id, caller.actor)
    return Response(status_code=204)
