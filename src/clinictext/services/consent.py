"""Recording consent and reading a patient's current consent from the ledger.

A batch of inbound texts asks the consent of every number it hears from; reading each
ledger on its own was a query (and an autoflush) per text. ``preload`` reads the ledgers
of a whole batch in one query and keeps each number's derived consent in the session for
the batch's transaction; ``record`` drops the number it appends to, so the next read of
that number goes back to the ledger and sees the new event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.consent import (
    NO_CONSENT,
    Consent,
    ConsentAction,
    ConsentEvent,
    ConsentLevel,
    ConsentRefused,
    ConsentState,
    OptInSource,
    OptOutSource,
    check_staff_opt_in,
    derive,
)
from clinictext.services import audit, outbox
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, Invalid
from clinictext.services.patients import get_patient
from clinictext.store.models import ConsentEventRow, table_of

log = logging.getLogger("clinictext.consent")


# (organization id, phone) -> its consent, read by ``preload`` for one transaction.
_PRELOADED = "clinictext_consent_preloaded"


def consents_of(
    session: Session, numbers: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], Consent]:
    """The current consent of each (organization, phone) in ``numbers``, from one read of
    their ledgers (a batch of texts received, or a wave of texts handed over)."""
    wanted = set(numbers)
    if not wanted:
        return {}
    events: dict[tuple[int, str], list[ConsentEvent]] = {key: [] for key in wanted}
    rows = session.execute(
        _LEDGERS_OF,
        {"orgs": list({org for org, _ in wanted}), "phones": list({phone for _, phone in wanted})},
    )
    for org_id, phone, action, source, at, level in rows:
        found = events.get((org_id, phone))
        if found is not None:
            found.append(_event(action, source, at, level))
    return {key: derive(found) for key, found in events.items()}


def preload(session: Session, numbers: Iterable[tuple[int, str]]) -> None:
    """Read, in one query, the consent of each (organization, phone) in ``numbers``, and
    keep it for the rest of the transaction."""
    consents = consents_of(session, numbers)
    if consents:
        preloaded: dict[tuple[int, str], Consent] = session.info.setdefault(_PRELOADED, {})
        preloaded.update(consents)


def forget_preloaded(session: Session) -> None:
    """After a rollback to a savepoint the preloaded consents may be stale: read again."""
    session.info.pop(_PRELOADED, None)


def ledger(session: Session, org_id: int, phone: str) -> list[ConsentEventRow]:
    """The ledger of one phone number in one organization, oldest first."""
    q = (
        select(ConsentEventRow)
        .where(ConsentEventRow.organization_id == org_id, ConsentEventRow.phone == phone)
        .order_by(ConsentEventRow.id)
    )
    return list(session.scalars(q))


def to_event(row: ConsentEventRow) -> ConsentEvent:
    return _event(row.action, row.source, row.at, row.level)


def current(session: Session, org_id: int, phone: str | None) -> Consent:
    if phone is None:
        return NO_CONSENT
    preloaded: dict[tuple[int, str], Consent] | None = session.info.get(_PRELOADED)
    if preloaded is not None:
        known = preloaded.get((org_id, phone))
        if known is not None:
            return known
    rows = session.execute(_LEDGER_EVENTS, {"org_id": org_id, "phone": phone})
    return derive(_event(*row) for row in rows)


# Many numbers' ledgers as plain values, oldest first: built once, since a batch of texts
# received or handed over reads them many times a second.
# Of the table's columns, not the model's: plain rows skip the ORM's execution path.
_EVENTS = table_of(ConsentEventRow).c
_LEDGERS_OF = (
    select(_EVENTS.organization_id, _EVENTS.phone, _EVENTS.action, _EVENTS.source, _EVENTS.at,
           _EVENTS.level)
    .where(
        _EVENTS.organization_id.in_(bindparam("orgs", expanding=True)),
        _EVENTS.phone.in_(bindparam("phones", expanding=True)),
    )
    .order_by(_EVENTS.id)
)  # fmt: skip

# One number's ledger as plain values, oldest first: built once, since building a
# statement costs more than running this one (it is read for every text sent).
_LEDGER_EVENTS = (
    select(_EVENTS.action, _EVENTS.source, _EVENTS.at, _EVENTS.level)
    .where(_EVENTS.organization_id == bindparam("org_id"), _EVENTS.phone == bindparam("phone"))
    .order_by(_EVENTS.id)
)


def _event(action: str, source: str, at: datetime, level: str | None) -> ConsentEvent:
    return ConsentEvent(
        action=ConsentAction(action),
        source=source,
        at=at,
        level=ConsentLevel(level) if level else None,
    )


@dataclass(frozen=True)
class ConsentView:
    consent: Consent
    history: list[ConsentEventRow]


def view(session: Session, org_id: int, patient_id: int) -> ConsentView:
    patient = get_patient(session, org_id, patient_id)
    if patient.phone is None:
        return ConsentView(NO_CONSENT, [])
    rows = ledger(session, org_id, patient.phone)
    return ConsentView(derive(to_event(r) for r in rows), rows)


def record(
    session: Session,
    org_id: int,
    patient_id: int,
    *,
    action: ConsentAction,
    source: str,
    actor: str,
    level: ConsentLevel | None = None,
    evidence: str = "",
    by_patient: bool = False,
    now: datetime | None = None,
) -> ConsentView:
    """Append a consent event for the patient's phone.

    ``by_patient`` marks events that come from the patient's own text (keywords); only
    those may use the ``keyword`` opt-in source and lift a patient-held opt-out.
    """
    patient = get_patient(session, org_id, patient_id)
    if patient.phone is None:
        raise Conflict(
            "The patient has no phone number, and consent is recorded per phone number: "
            "add the patient's wireless phone first.",
            code="no_phone",
        )
    if action is ConsentAction.OPT_IN:
        if source not in {s.value for s in OptInSource}:
            raise Invalid(
                f"'{source}' is not an opt-in source; use one of: "
                + ", ".join(s.value for s in OptInSource if s is not OptInSource.KEYWORD)
                + ".",
                code="invalid_source",
            )
        level = level or ConsentLevel.INFORMATIONAL
        if not by_patient:
            try:
                check_staff_opt_in(current(session, org_id, patient.phone), source)
            except ConsentRefused as err:
                raise Conflict(str(err), code="opt_in_refused") from None
    else:
        if source not in {s.value for s in OptOutSource}:
            raise Invalid(
                f"'{source}' is not an opt-out source; use one of: "
                + ", ".join(s.value for s in OptOutSource)
                + ".",
                code="invalid_source",
            )
        level = None
    now = now or utcnow()
    row = ConsentEventRow(
        organization_id=org_id,
        patient_id=patient.id,
        phone=patient.phone,
        action=action.value,
        level=level.value if level else None,
        source=source,
        evidence=evidence,
        recorded_by=actor,
        at=now,
    )
    session.add(row)
    session.flush()
    preloaded: dict[tuple[int, str], Consent] | None = session.info.get(_PRELOADED)
    if preloaded is not None:
        preloaded.pop((org_id, patient.phone), None)  # the ledger has a new event
    if action is ConsentAction.OPT_OUT:
        # Nothing queued may reach an opted-out number, whichever number it was to go from.
        outbox.cancel_pending_to(
            session, org_id, patient.phone, now, "canceled: the patient opted out"
        )
    audit.record(
        session,
        org_id,
        actor,
        f"consent.{action.value}",
        "patient",
        patient.id,
        {"source": source, "level": row.level, "consent_event_id": row.id},
        at=now,
    )
    return view(session, org_id, patient_id)


# How long a patient's STOP waits for texts already with the provider to be answered.
SETTLE_TIMEOUT = 5.0


def settle_after_opt_out(
    factory: sessionmaker[Session], org_id: int, phone: str | None, timeout: float = SETTLE_TIMEOUT
) -> None:
    """If ``phone`` is opted out, wait until the texts handed over before it are answered.

    The opt-out already stopped every text not yet handed over; waiting before answering
    the STOP makes the answer mean "nothing more will reach the patient". Bounded: a
    provider that hangs is not waited for past ``timeout``.
    """
    if phone is None:
        return
    deadline = time.monotonic() + timeout
    while True:
        with factory() as session, session.begin():
            if current(session, org_id, phone).state is not ConsentState.OPTED_OUT:
                return
            if not outbox.in_flight_to(session, org_id, phone, utcnow()):
                return
        if time.monotonic() > deadline:
            log.warning("texts handed over before an opt-out still unanswered after %ss", timeout)
            return
        time.sleep(0.02)
