"""The patients of a campaign's audience, read in bulk with what the checklist needs.

A fixed number of queries however large the audience: the patients (their phone, time
zone, language), their leads, and their consent ledgers (in phone order, so each ledger is
one run of rows); a list of patient ids is read in chunks. Only what decides a check is
loaded: a consent's date matters to the sentence that names it, not to whether a check
passes, so the dates are read only for a page of patients that is shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from clinictext.domain.audience import Audience
from clinictext.domain.bulk import PatientFacts
from clinictext.domain.consent import (
    NO_CONSENT,
    Consent,
    ConsentAction,
    ConsentEvent,
    ConsentLevel,
    derive,
)
from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import PhoneStatus
from clinictext.store.models import (
    ConsentEventRow,
    Lead,
    Patient,
)

# Patient ids per query when the audience is a list of ids (the databases' bound-parameter
# limits are 32,766 on SQLite and 65,535 on PostgreSQL).
ID_CHUNK = 5_000

# Table columns, not mapped attributes: the rows come back as plain tuples, without the
# ORM's per-row bookkeeping (there may be 100,000 of them).
P = Patient.__table__.c
L = Lead.__table__.c
CE = ConsentEventRow.__table__.c
PATIENT_COLUMNS = (
    P.id,
    P.first_name,
    P.last_name,
    P.phone,
    P.phone_status,
    P.phone_reason,
    P.timezone,
    P.language,
    P.unknown_sender,
    P.last_inbound_at,
)


def _language_match(language: str) -> ColumnElement[bool]:
    """The patient's language is ``language`` or a regional form of it ("es" takes "es-MX")."""
    lang = language.lower().replace("_", "-")
    stored = func.lower(func.replace(P.language, "_", "-"))
    return or_(stored == lang, stored.like(lang.replace("%", "") + "-%"))


def _conditions(org_id: int, audience: Audience) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [P.organization_id == org_id]
    if audience.language is not None:
        where.append(_language_match(audience.language))
    if audience.lead_stages:
        where.append(
            P.id.in_(
                select(L.patient_id).where(
                    L.organization_id == org_id,
                    L.stage.in_([s.value for s in audience.lead_stages]),
                )
            )
        )
    return where


def where_chunks(org_id: int, audience: Audience) -> Iterator[list[ColumnElement[bool]]]:
    """The audience's conditions, once, or once per chunk of its patient ids."""
    base = _conditions(org_id, audience)
    if not audience.patient_ids:
        yield base
        return
    ids = sorted(audience.patient_ids)
    for start in range(0, len(ids), ID_CHUNK):
        yield [*base, P.id.in_(ids[start : start + ID_CHUNK])]


_ACTIONS = {a.value: a for a in ConsentAction}
_LEVELS = {lvl.value: lvl for lvl in ConsentLevel}
# A ledger's events without their times: (action, source, level) each.
Shape = tuple[tuple[str, str, str | None], ...]


def _consents(
    session: Session, org_id: int, phones: Select[Any] | None, dated: bool
) -> dict[str, Consent]:
    """The current consent of every phone ``phones`` selects (None: every phone of the
    organization's ledger), from one read of the ledger.

    Undated (``dated`` false) the consents carry no ``since``: whether a check passes never
    depends on it, only the sentence that names the date does. Then the ledger is read
    without its timestamps and ``derive`` runs once per distinct sequence of events (a
    handful, however many patients) instead of once a patient.
    """
    columns = [CE.phone, CE.action, CE.source, CE.level]
    if dated:
        columns.append(CE.at)
    query = select(*columns).where(CE.organization_id == org_id)
    if phones is not None:
        query = query.where(CE.phone.in_(phones))
    rows = session.execute(query.order_by(CE.phone, CE.id)).all()
    if dated:
        ledgers: dict[str, list[ConsentEvent]] = {}
        for phone, action, source, level, at in rows:
            event = ConsentEvent(_ACTIONS[action], source, at, _LEVELS[level] if level else None)
            ledgers.setdefault(phone, []).append(event)
        return {phone: derive(events) for phone, events in ledgers.items()}
    shapes: dict[str, list[tuple[str, str, str | None]]] = {}
    for phone, action, source, level in rows:
        shapes.setdefault(phone, []).append((action, source, level))
    derived: dict[Shape, Consent] = {}
    out: dict[str, Consent] = {}
    for phone, events in shapes.items():
        shape = tuple(events)
        consent = derived.get(shape)
        if consent is None:
            consent = derived[shape] = _undated(shape)
        out[phone] = consent
    return out


_NO_TIME = datetime.min.replace(tzinfo=UTC)


def _undated(shape: Shape) -> Consent:
    events = [
        ConsentEvent(_ACTIONS[action], source, _NO_TIME, _LEVELS[level] if level else None)
        for action, source, level in shape
    ]
    return replace(derive(events), since=None)


def load_patients(
    session: Session,
    org_id: int,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int | None = None,
    dated: bool = False,
) -> list[PatientFacts]:
    """The patients ``where`` selects (by id), with their consent and lead: three queries.

    ``where`` starts with the organization's condition; with nothing else, the audience is
    every patient of the organization.

    ``dated`` consents carry the date they took effect (for the checks' sentences).
    """
    query = select(*PATIENT_COLUMNS).where(*where).order_by(P.id)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    if not rows:
        return []
    if limit is not None:  # a page: its own ids, not the whole condition again
        where = [P.organization_id == org_id, P.id.in_([r[0] for r in rows])]
    # Every patient of the organization: its whole lead table and ledger, without asking
    # the database to match them to the patients (they are matched here, by id and phone).
    everyone = len(where) == 1
    lead_query = select(L.patient_id, L.stage, L.substatus).where(L.organization_id == org_id)
    if not everyone:
        lead_query = lead_query.where(L.patient_id.in_(select(P.id).where(*where)))
    leads = {
        pid: (LeadStage(stage), substatus)
        for pid, stage, substatus in session.execute(lead_query).all()
    }
    phones = None if everyone else select(P.phone).where(*where, P.phone.is_not(None))
    consents = _consents(session, org_id, phones, dated)
    statuses = {s.value: s for s in PhoneStatus}
    none = (None, None)
    return [
        PatientFacts(
            pid,
            first,
            last,
            phone,
            statuses[phone_status],
            phone_reason or "",
            timezone,
            language or "en",
            bool(unknown),
            last_inbound_at,
            consents.get(phone, NO_CONSENT) if phone else NO_CONSENT,
            *leads.get(pid, none),
        )
        for (
            pid,
            first,
            last,
            phone,
            phone_status,
            phone_reason,
            timezone,
            language,
            unknown,
            last_inbound_at,
        ) in rows
    ]


def patients_by_id(session: Session, org_id: int, ids: Sequence[int]) -> list[PatientFacts]:
    """These patients of the organization, with dated consents (a page, for its sentences)."""
    if not ids:
        return []
    return load_patients(
        session, org_id, [P.organization_id == org_id, P.id.in_(list(ids))], dated=True
    )
