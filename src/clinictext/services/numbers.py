"""Sender numbers: the numbers an organization texts from."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from clinictext.domain.checklist import Channel, SenderFact, Verification
from clinictext.domain.phones import PhoneError, normalize_e164
from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, Invalid, NotFound
from clinictext.services.orgs import get_org
from clinictext.store.models import SenderNumber, table_of

# Landline and toll-free numbers need the provider's confirmation before they can text.
NEEDS_CONFIRMATION = frozenset({"landline", "toll_free"})
KINDS = ("long_code", "toll_free", "short_code", "landline")
MAX_MPS = 1000


def add_number(
    session: Session, org_id: int, number: str, purpose: Channel, kind: str, mps: int, actor: str
) -> SenderNumber:
    org = get_org(session, org_id)
    if kind not in KINDS:
        raise Invalid(
            "Choose the kind of number: long_code, toll_free, short_code or landline.",
            code="invalid_kind",
            field="kind",
        )
    if not 1 <= mps <= MAX_MPS:
        raise Invalid(
            f"Enter how many text segments a second the carrier allows, 1 to {MAX_MPS}.",
            code="invalid_mps",
            field="mps",
        )
    if kind == "short_code":
        digits = number.strip()
        if not (digits.isdecimal() and 5 <= len(digits) <= 6):
            raise Invalid(
                "A short code is 5 or 6 digits, e.g. 898211.", code="invalid_number", field="number"
            )
        e164 = digits
    else:
        try:
            e164 = normalize_e164(number, org.country)
        except PhoneError as err:
            raise Invalid(str(err), code="invalid_number", field="number") from None
    if session.scalar(select(SenderNumber.id).where(SenderNumber.number == e164)) is not None:
        raise Conflict(
            f"The number {e164} is already registered as a sender number.",
            code="number_already_registered",
            field="number",
        )
    now = utcnow()
    pending = kind in NEEDS_CONFIRMATION
    row = SenderNumber(
        organization_id=org_id,
        number=e164,
        purpose=purpose.value,
        kind=kind,
        verification=(Verification.PENDING if pending else Verification.VERIFIED).value,
        mps=mps,
        created_at=now,
        verified_at=None if pending else now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        org_id,
        actor,
        "number.added",
        "sender_number",
        row.id,
        {"number": e164, "purpose": purpose.value, "kind": kind},
    )
    return row


def list_numbers(
    session: Session, org_id: int, purpose: Channel | None = None
) -> list[SenderNumber]:
    if purpose is None:
        return list(session.scalars(_NUMBERS, {"org_id": org_id}))
    return list(session.scalars(_NUMBERS_FOR, {"org_id": org_id, "purpose": purpose.value}))


def sender_facts(session: Session, org_id: int, purpose: Channel) -> list[SenderFact]:
    """What the checklist knows of the numbers for ``purpose``: plain rows, read for every
    text sent."""
    rows = session.execute(_FACTS, {"org_id": org_id, "purpose": purpose.value})
    return [SenderFact(n, kind, Verification(v), i) for n, kind, v, i in rows]


# Built once: the send path reads its numbers for every text.
_NUMBERS = (
    select(SenderNumber)
    .where(SenderNumber.organization_id == bindparam("org_id"))
    .order_by(SenderNumber.id)
)
_NUMBERS_FOR = _NUMBERS.where(SenderNumber.purpose == bindparam("purpose"))
_SENDERS = table_of(SenderNumber).c
_FACTS = (
    select(_SENDERS.number, _SENDERS.kind, _SENDERS.verification, _SENDERS.id)
    .where(
        _SENDERS.organization_id == bindparam("org_id"), _SENDERS.purpose == bindparam("purpose")
    )
    .order_by(_SENDERS.id)
)


def get_number(session: Session, org_id: int, number_id: int) -> SenderNumber:
    row = session.get(SenderNumber, number_id)
    if row is None or row.organization_id != org_id:
        raise NotFound(f"There is no sender number {number_id}.", code="number_not_found")
    return row
