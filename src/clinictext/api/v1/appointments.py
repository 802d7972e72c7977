"""`/appointments`: book, list, read, move and change the status of appointments.

Times are ISO 8601 with their offset (a time without one is refused, 422); answers give
them in UTC. Each appointment carries its planned texts (``texts``): every rule's reminder
or confirmation for it, with its state and, when skipped, the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import MAX_ID, ExternalId, Id, NoNul, Request
from clinictext.domain.appointments import STATUSES
from clinictext.services import appointments
from clinictext.services.errors import Invalid

router = APIRouter(tags=["appointments"])

AppointmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The appointment's id.")]
StartsAt = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=40,
        description="ISO 8601 with its offset, e.g. 2026-12-01T15:30:00-05:00",
    ),
    NoNul,
]
ProviderName = Annotated[str, Field(strict=True, max_length=200), NoNul]
StatusName = Literal["scheduled", "confirmed", "canceled", "completed", "no_show"]
assert set(get_args(StatusName)) == set(STATUSES)


class AppointmentIn(Request):
    patient_id: Id
    starts_at: StartsAt
    provider: ProviderName | None = None
    location_id: Id | None = None
    external_id: ExternalId | None = None


class AppointmentPatch(Request):
    """Only the fields sent change: ``starts_at`` moves it, ``status`` changes its status."""

    starts_at: StartsAt | None = None
    status: StatusName | None = None
    provider: ProviderName | None = None
    location_id: Id | None = None


class AppointmentTextOut(BaseModel):
    rule_id: int
    rule_name: str
    purpose: str
    due_at: datetime
    state: str
    reason: str | None
    message_id: int | None
    message_status: str | None
    sent_at: datetime | None = Field(
        default=None, description="When its text was handed to the provider."
    )


class AppointmentOut(BaseModel):
    id: int
    patient_id: int
    patient_name: str
    starts_at: datetime
    status: str
    confirm_code: str
    provider: str | None
    location_id: int | None
    location_name: str | None
    timezone: str = Field(description="The time zone its texts give the time in.")
    external_id: str | None
    confirmed_at: datetime | None
    confirmed_via: str | None
    created_at: datetime
    updated_at: datetime
    texts: list[AppointmentTextOut]


@router.post("/appointments", response_model=AppointmentOut, status_code=201)
def create_appointment(
    body: AppointmentIn, caller: CallerDep, session: SessionDep
) -> AppointmentOut:
    """Book an appointment: it is ``scheduled`` with a fresh confirm code, its texts planned."""
    row = appointments.create(
        session,
        caller.org_id,
        patient_id=body.patient_id,
        starts_at=body.starts_at,
        provider_name=body.provider,
        location_id=body.location_id,
        external_id=body.external_id,
        actor=caller.actor,
    )
    return AppointmentOut.model_validate(appointments.described(session, row))


@router.get("/appointments", response_model=list[AppointmentOut])
def list_appointments(
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    status: StatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> list[AppointmentOut]:
    """Appointments by start time, ``from`` (included) ``to`` (excluded); ``X-Next-Cursor``
    carries the cursor of the next page, if any."""
    rows = appointments.list_appointments(
        session,
        caller.org_id,
        patient_id=patient_id,
        start=appointments.read_instant(start, "from") if start else None,
        end=appointments.read_instant(end, "to") if end else None,
        status=status,
        limit=limit + 1,
        cursor=cursor,
    )
    if len(rows) > limit:
        rows = rows[:limit]
        response.headers["X-Next-Cursor"] = appointments.cursor_of(rows[-1])
    return [AppointmentOut.model_validate(d) for d in appointments.described_many(session, rows)]


@router.get("/appointments/{appointment_id}", response_model=AppointmentOut)
def get_appointment(
    appointment_id: AppointmentId, caller: CallerDep, session: SessionDep
) -> AppointmentOut:
    row = appointments.get(session, caller.org_id, appointment_id)
    return AppointmentOut.model_validate(appointments.described(session, row))


@router.patch("/appointments/{appointment_id}", response_model=AppointmentOut)
def patch_appointment(
    appointment_id: AppointmentId, body: AppointmentPatch, caller: CallerDep, session: SessionDep
) -> AppointmentOut:
    """Move (``starts_at``: re-plans its texts), change ``status`` (409 with the reason when
    its state does not allow it), ``provider`` or ``location_id`` (null clears them)."""
    sent = body.model_dump(exclude_unset=True)
    for field in ("starts_at", "status"):
        if field in sent and sent[field] is None:
            raise Invalid(f"'{field}' cannot be empty; leave it out to keep it.", field=field)
    row = appointments.update(
        session,
        caller.org_id,
        appointment_id,
        actor=caller.actor,
        starts_at=body.starts_at,
        status=body.status,
        provider_name=sent.get("provider", ...),
        location_id=sent.get("location_id", ...),
    )
    return AppointmentOut.model_validate(appointments.described(session, row))
