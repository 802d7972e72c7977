from __future__ import annotations

from fastapi import APIRouter, Path

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import MAX_ID, NumberIn, NumberOut
from clinictext.domain.checklist import Channel
from clinictext.services import numbers

router = APIRouter(tags=["numbers"])


@router.post("/numbers", response_model=NumberOut, status_code=201)
def add_number(body: NumberIn, caller: CallerDep, session: SessionDep) -> NumberOut:
    """Add a sender number; landline and toll-free numbers stay pending until confirmed."""
    row = numbers.add_number(
        session,
        caller.org_id,
        body.number,
        Channel(body.purpose),
        body.kind,
        body.mps,
        caller.actor,
    )
    return NumberOut.model_validate(row, from_attributes=True)


@router.get("/numbers", response_model=list[NumberOut])
def list_numbers(caller: CallerDep, session: SessionDep) -> list[NumberOut]:
    return [
        NumberOut.model_validate(r, from_attributes=True)
        for r in numbers.list_numbers(session, caller.org_id)
    ]


@router.get("/numbers/{number_id}", response_model=NumberOut)
def get_number(
    caller: CallerDep, session: SessionDep, number_id: int = Path(ge=1, le=MAX_ID)
) -> NumberOut:
    row = numbers.get_number(session, caller.org_id, number_id)
    return NumberOut.model_validate(row, from_attributes=True)
