"""When an automated or campaign text may go out: the send window and the frequency cap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from clinictext.domain.checklist import SendKind
from clinictext.domain.frequency import counted_since, next_allowed
from clinictext.domain.send_window import Window
from clinictext.domain.statuses import Status
from clinictext.domain.window_search import NoSendWindowError, place
from clinictext.services.errors import CannotText, Invalid
from clinictext.store.models import AUTOMATED_WHERE, Message

_NOT_COUNTED = (Status.CANCELED.value, Status.FAILED.value)


class ScheduledOrg(Protocol):
    """What scheduling reads of an organization: a ``models.Organization``, or the plain row
    the send path reads (``eligibility.OrgFacts``)."""

    @property
    def timezone(self) -> str: ...
    @property
    def send_window_start(self) -> str: ...
    @property
    def send_window_end(self) -> str: ...
    @property
    def automated_daily_cap(self) -> int: ...
    @property
    def automated_weekly_cap(self) -> int: ...


class ScheduledPatient(Protocol):
    """What scheduling reads of a patient (``models.Patient`` or ``eligibility.PatientFacts``)."""

    @property
    def id(self) -> int: ...
    @property
    def organization_id(self) -> int: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...


@dataclass(frozen=True)
class Slot:
    at: datetime
    reason: str | None  # why it is held; None when it goes now


def _automated_times(
    session: Session, patient: ScheduledPatient, now: datetime, moving: int | None = None
) -> list[datetime]:
    """When the patient's automated texts that can still count go (or went) out; the text
    ``moving`` (one being moved to another time) does not count against itself.

    Reads the partial index ``ix_messages_automated_patient``: only this patient's
    automated texts of the last week and later (``counted_since``), not their whole history.
    """
    since = counted_since(now)
    mine = (
        Message.organization_id == patient.organization_id,
        Message.patient_id == patient.id,
        # Literal, as in the index's WHERE, so that SQLite sees the index applies.
        AUTOMATED_WHERE,
        Message.status.not_in(_NOT_COUNTED),
        *(() if moving is None else (Message.id != moving,)),
    )
    # A text without a due time counts at its creation, as the cap always has: a second
    # branch, so that each reads one range of the index.
    return list(
        session.scalars(
            union_all(
                select(Message.due_at.label("at")).where(*mine, Message.due_at > since),
                select(Message.created_at.label("at")).where(*mine, Message.due_at.is_(None)),
            )
        )
    )


def send_window(org: ScheduledOrg) -> Window:
    """The organization's send window; Invalid when its stored times are unreadable."""
    try:
        return Window.parse(org.send_window_start, org.send_window_end)
    except ValueError as err:  # saved before times were checked strictly
        raise Invalid(
            f"{err} Set the send window again in the organization settings "
            "(PATCH /api/v1/org with send_window).",
            code="invalid_send_window",
        ) from None


def slot_for(
    session: Session,
    org: ScheduledOrg,
    patient: ScheduledPatient,
    kind: SendKind,
    now: datetime,
    *,
    moving: int | None = None,
) -> Slot:
    """Now for staff texts; for automated and campaign texts the next allowed moment from
    ``now``. ``moving`` is a written text given a new time (an appointment moved): the
    others count, it does not."""
    if kind is SendKind.MANUAL:
        return Slot(now, None)
    window = send_window(org)
    automated = kind is SendKind.AUTOMATED
    times = _automated_times(session, patient, now, moving) if automated else []
    at, reason = now, None
    for _ in range(20):
        if times:
            capped = next_allowed(times, at, org.automated_daily_cap, org.automated_weekly_cap)
            if capped > at:
                at = capped
                reason = (
                    f"Deferred by the frequency cap ({org.automated_daily_cap} a day, "
                    f"{org.automated_weekly_cap} a week for automated texts)."
                )
        try:
            placement = place(at, window, patient.phone, patient.timezone, org.timezone)
        except NoSendWindowError as err:
            raise CannotText(str(err), code="no_send_window") from None
        if placement.allowed:
            return Slot(at, reason if at > now else None)
        at, reason = placement.send_at, placement.reason
    return Slot(at, reason)
