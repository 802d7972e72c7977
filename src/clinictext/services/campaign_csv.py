"""A campaign audience from a CSV file: its lines matched to the organization's patients.

The file names patients by ``patient_id``, ``external_id`` or ``phone`` (the rules of the
file are ``domain.audience.read_audience_csv``). Each line that matches no patient is
reported with its line number and why, so the office can correct the file; the lines that
match become the audience's patient ids. A phone matches every patient with that number
(a family may share one; the campaign sends one text a number).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.audience import AudienceError, CsvRow, patient_id_of, read_audience_csv
from clinictext.domain.phones import PhoneError, parse_phone
from clinictext.services.errors import Invalid
from clinictext.services.orgs import get_org
from clinictext.store.models import Patient

CHUNK = 5_000


@dataclass(frozen=True)
class Unmatched:
    line: int
    value: str
    reason: str


@dataclass(frozen=True)
class CsvAudience:
    """The patients a file names (in file order, once each) and the lines that name none."""

    column: str
    patient_ids: list[int]
    unmatched: list[Unmatched] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "column": self.column,
            "patients": len(self.patient_ids),
            "unmatched": [u.__dict__ for u in self.unmatched],
        }


def _lookup(
    session: Session, org_id: int, column: str, values: Iterable[str]
) -> dict[str, list[int]]:
    """Each value's patients, a chunk of values a query."""
    attr = {"patient_id": Patient.id, "external_id": Patient.external_id, "phone": Patient.phone}
    target = attr[column]
    wanted = sorted(set(values))
    found: dict[str, list[int]] = {}
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start : start + CHUNK]
        chunk: list[object] = [int(v) for v in part] if column == "patient_id" else list(part)
        rows = session.execute(
            select(target, Patient.id)
            .where(Patient.organization_id == org_id, target.in_(chunk))
            .order_by(Patient.id)
        )
        for key, pid in rows:
            found.setdefault(str(key), []).append(pid)
    return found


def resolve_csv(session: Session, org_id: int, text: str) -> CsvAudience:
    """The patients a CSV file names; Invalid (field ``audience_csv``) for an unusable file."""
    org = get_org(session, org_id)
    try:
        parsed = read_audience_csv(text)
    except AudienceError as err:
        raise Invalid(err.message, code="invalid_audience_csv", field=err.field) from None
    unmatched: list[Unmatched] = []
    keyed: list[tuple[CsvRow, str]] = []
    for row in parsed.rows:
        if not row.value:
            unmatched.append(Unmatched(row.line, row.value, f"The {parsed.column} is empty."))
            continue
        key: str | None = row.value
        why = ""
        if parsed.column == "patient_id":
            number = patient_id_of(row.value)
            key = str(number) if number is not None else None
            why = "not a patient id (a whole number from 1)"
        elif parsed.column == "phone":
            try:
                key = parse_phone(row.value, org.country).e164
            except PhoneError as err:
                key, why = None, str(err).rstrip(".")
        if key is None:
            unmatched.append(Unmatched(row.line, row.value[:100], f"{why[0].upper()}{why[1:]}."))
            continue
        keyed.append((row, key))
    found = _lookup(session, org_id, parsed.column, (k for _, k in keyed))
    ids: dict[int, None] = {}
    for row, key in keyed:
        matches = found.get(key)
        if not matches:
            unmatched.append(
                Unmatched(
                    row.line,
                    row.value[:100],
                    f"No patient of the organization has the {parsed.column} '{row.value[:40]}'.",
                )
            )
            continue
        ids.update(dict.fromkeys(matches))
    unmatched.sort(key=lambda u: u.line)
    return CsvAudience(parsed.column, list(ids), unmatched)
