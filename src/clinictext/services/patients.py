"""Patients: who the clinic texts, with their wireless phone read and flagged.

Finding a patient (``list_patients``) is one indexed query whatever the size of the
practice: a name is found by the start of its first or last name, case and accents aside,
through the folded name keys the model keeps (``domain.name_search.name_keys``), each read as a
range of one btree index; an external id or a phone number through their own indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, union, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from clinictext.domain.name_search import search_words
from clinictext.domain.phones import ParsedPhone, PhoneError, PhoneStatus, parse_phone
from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, Invalid, NotFound
from clinictext.services.orgs import get_org, validate_timezone
from clinictext.store.models import Commlog, ConsentEventRow, Message, Patient

EDITABLE = ("first_name", "last_name", "phone", "timezone", "external_id", "language")


def read_phone(raw: str | None, region: str) -> ParsedPhone | None:
    """Parse a patient's phone for storage; None when there is no phone."""
    if raw is None or not raw.strip():
        return None
    try:
        return parse_phone(raw, region)
    except PhoneError as err:
        raise Invalid(str(err), code="invalid_phone", field="phone") from None


def _apply_phone(patient: Patient, parsed: ParsedPhone | None) -> None:
    if parsed is None:
        patient.phone, patient.phone_status, patient.phone_reason = None, PhoneStatus.MISSING, ""
    else:
        patient.phone, patient.phone_status = parsed.e164, parsed.status.value
        patient.phone_reason = parsed.reason


def _check_first_name(first: str) -> None:
    """Every patient has a first name (texts greet them by it); the last name may be blank."""
    if not first.strip():
        raise Invalid(
            "A patient needs a first name; it is empty or only spaces.",
            code="invalid_name",
            field="first_name",
        )


def _check_external_id(
    session: Session, org_id: int, external_id: str | None, own: int | None
) -> None:
    if external_id is None:
        return
    other = session.scalar(
        select(Patient.id).where(
            Patient.organization_id == org_id, Patient.external_id == external_id
        )
    )
    if other is not None and other != own:
        raise Conflict(
            f"Patient {other} already has external id '{external_id}'.",
            code="external_id_taken",
            patient_id=other,
        )


def create_patient(
    session: Session,
    org_id: int,
    *,
    first_name: str,
    last_name: str,
    phone: str | None,
    actor: str,
    timezone: str | None = None,
    external_id: str | None = None,
    language: str = "en",
    unknown_sender: bool = False,
) -> Patient:
    org = get_org(session, org_id)
    _check_first_name(first_name)
    if timezone is not None:
        validate_timezone(timezone)
    parsed = read_phone(phone, org.country)
    _check_external_id(session, org_id, external_id, None)
    now = utcnow()
    patient = Patient(
        organization_id=org_id,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        timezone=timezone,
        external_id=external_id,
        language=language,
        unknown_sender=unknown_sender,
        created_at=now,
        updated_at=now,
    )
    _apply_phone(patient, parsed)
    session.add(patient)
    session.flush()
    audit.record(session, org_id, actor, "patient.created", "patient", patient.id)
    return patient


def get_patient(session: Session, org_id: int, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None or patient.organization_id != org_id:
        raise NotFound(f"There is no patient {patient_id}.", code="patient_not_found")
    return patient


def update_patient(
    session: Session, org_id: int, patient_id: int, changes: dict[str, Any], actor: str
) -> Patient:
    patient = get_patient(session, org_id, patient_id)
    org = get_org(session, org_id)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    if "first_name" in changes:
        _check_first_name(changes["first_name"] or "")
    if changes.get("timezone") is not None:
        validate_timezone(changes["timezone"])
    if "external_id" in changes:
        _check_external_id(session, org_id, changes["external_id"], patient.id)
    changed: list[str] = []
    if "phone" in changes:
        parsed = read_phone(changes.pop("phone"), org.country)
        new_phone = parsed.e164 if parsed else None
        if new_phone != patient.phone or (parsed and parsed.status.value != patient.phone_status):
            _apply_phone(patient, parsed)
            changed.append("phone")
    for field, value in changes.items():
        if isinstance(value, str) and field in ("first_name", "last_name"):
            value = value.strip()
        if getattr(patient, field) != value:
            setattr(patient, field, value)
            changed.append(field)
    if changed:
        patient.updated_at = utcnow()
        audit.record(
            session, org_id, actor, "patient.updated", "patient", patient.id, {"fields": changed}
        )
    return patient


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdecimal() or len(cursor) > 18:
        raise Invalid(
            "The cursor is not one this API returned; start again without a cursor.",
            code="invalid_cursor",
        )
    return int(cursor)


def prefix_range(prefix: str) -> tuple[str, str]:
    """The bounds ``[low, high)`` of the strings that start with ``prefix`` in code point
    order (bytewise UTF-8, as the name keys compare): its last character incremented."""
    while prefix:
        following = ord(prefix[-1]) + 1
        if 0xD800 <= following <= 0xDFFF:  # no string holds a surrogate: skip them
            following = 0xE000
        if following <= 0x10FFFF:
            return prefix, prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return "", "\U0010ffff"


def _phone_in(q: str, country: str) -> str | None:
    """The number ``q`` is, when it reads as a phone number (it has enough digits)."""
    if sum(ch.isdecimal() for ch in q) < 7:
        return None
    try:
        return parse_phone(q, country).e164
    except PhoneError:
        return None


def matching(org_id: int, q: str, country: str) -> ColumnElement[bool]:
    """The patients ``q`` finds: by the start of the first or last name (then the other:
    "smi" and "john sm" find John Smith), by external id, or by phone number.

    The ids come from a union of one index range per alternative, each with the
    organization: a plan no database's statistics can turn into a walk through every
    patient (an ``OR`` of the same ranges was, on SQLite before ``ANALYZE``).
    """
    mine = Patient.organization_id == org_id
    terms: list[ColumnElement[bool]] = [Patient.external_id == q.strip()]
    words = search_words(q)
    if words:
        low, high = prefix_range(words)
        terms.append(and_(Patient.name_key >= low, Patient.name_key < high))
        terms.append(and_(Patient.surname_key >= low, Patient.surname_key < high))
    phone = _phone_in(q, country)
    if phone is not None:
        terms.append(Patient.phone == phone)
    found = union(*(select(Patient.id).where(mine, term) for term in terms))
    return Patient.id.in_(found)


def list_patients(
    session: Session,
    org_id: int,
    *,
    phone: str | None = None,
    q: str | None = None,
    unknown_sender: bool | None = None,
    flag: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    org = get_org(session, org_id)
    query = select(Patient).where(Patient.organization_id == org_id)
    if phone:
        parsed = read_phone(phone, org.country)
        query = query.where(Patient.phone == (parsed.e164 if parsed else None))
    if q and q.strip():
        query = query.where(matching(org_id, q, org.country))
    if unknown_sender is not None:
        query = query.where(Patient.unknown_sender.is_(unknown_sender))
    if flag is not None:
        query = query.where(Patient.review_flag == flag)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Patient.id > after)
    rows = list(session.scalars(query.order_by(Patient.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more else None)


def mark_read(session: Session, org_id: int, patient_id: int) -> Patient:
    """Staff have read the patient's texts: the conversation is no longer unread."""
    patient = get_patient(session, org_id, patient_id)
    patient.unread_count = 0
    return patient


def merge_unknown_sender(
    session: Session, org_id: int, source_id: int, target_id: int, actor: str
) -> Patient:
    """Fold an ``unknown_sender`` record (someone who texted in) into the real patient.

    Their texts, commlogs and consent events move over; the unknown record is removed.
    """
    source = get_patient(session, org_id, source_id)
    target = get_patient(session, org_id, target_id)
    if source.id == target.id:
        raise Invalid("A patient cannot be merged into itself.", code="invalid_merge")
    if not source.unknown_sender:
        raise Conflict(
            f"Patient {source.id} is not an unknown sender; only records created for an "
            "unknown number can be merged away.",
            code="not_unknown_sender",
        )
    moved = {"patient_id": target.id}
    session.execute(update(Message).where(Message.patient_id == source.id).values(moved))
    session.execute(update(Commlog).where(Commlog.patient_id == source.id).values(moved))
    session.execute(
        update(ConsentEventRow).where(ConsentEventRow.patient_id == source.id).values(moved)
    )
    if target.phone is None and source.phone is not None:
        target.phone, target.phone_status, target.phone_reason = (
            source.phone,
            source.phone_status,
            source.phone_reason,
        )
    target.unread_count += source.unread_count
    if source.last_inbound_at and (
        target.last_inbound_at is None or source.last_inbound_at > target.last_inbound_at
    ):
        target.last_inbound_at = source.last_inbound_at
    if target.review_flag is None and source.review_flag is not None:
        target.review_flag, target.review_phrase, target.review_message_id = (
            source.review_flag,
            source.review_phrase,
            source.review_message_id,
        )
    target.updated_at = utcnow()
    session.flush()
    session.delete(source)
    audit.record(
        session,
        org_id,
        actor,
        "patient.merged",
        "patient",
        target.id,
        {"merged_patient_id": source_id},
    )
    return target
