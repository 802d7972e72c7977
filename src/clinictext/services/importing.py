"""Importing patients from a CSV file, all or nothing unless asked to skip bad rows.

Columns (header row required, any order; only first_name/last_name are required):
first_name, last_name, phone, timezone, external_id, language,
consent (informational|marketing), consent_source, consent_evidence,
lead_stage (open|in_progress|closed_won|closed_lost), lead_substatus, lead_reason.
A row whose external_id matches an existing patient updates that patient.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.consent import ConsentAction, ConsentLevel, OptInSource
from clinictext.domain.leads import LeadStage
from clinictext.services import consent as consent_service
from clinictext.services import leads as lead_service
from clinictext.services import patients as patient_service
from clinictext.services.errors import Invalid, ServiceError
from clinictext.store.models import Patient

COLUMNS = (
    "first_name",
    "last_name",
    "phone",
    "timezone",
    "external_id",
    "language",
    "consent",
    "consent_source",
    "consent_evidence",
    "lead_stage",
    "lead_substatus",
    "lead_reason",
)
REQUIRED = ("first_name", "last_name")
MAX_ROWS = 200_000
MAX_FIELD = 2000


class BadFile(ServiceError):
    """The file as a whole cannot be imported; nothing was imported."""

    status = 422
    code = "bad_import_file"


@dataclass(frozen=True)
class Rejected:
    line: int  # the line number in the file, counting the header as line 1
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    committed: bool = False


def read_csv(data: bytes) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts keyed by the (normalized) header, or ``BadFile``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile("The file is not UTF-8 text. Save it as 'CSV UTF-8' and try again.") from None
    if "\x00" in text:
        raise BadFile("The file contains binary data; export it from your spreadsheet as CSV.")
    if not text.strip():
        raise BadFile("The file is empty.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            raise BadFile(
                f"Unknown column(s): {', '.join(unknown)}. Allowed columns: {', '.join(COLUMNS)}."
            )
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise BadFile(f"The header row lacks the column(s): {', '.join(missing)}.")
        if len(set(header)) != len(header):
            raise BadFile("A column appears twice in the header row.")
        rows: list[dict[str, str]] = []
        for values in reader:
            if not any(v.strip() for v in values):
                rows.append({})  # blank line: keeps line numbers right, skipped later
                continue
            if len(values) != len(header):
                rows.append(
                    {"__error__": f"has {len(values)} fields; the header has {len(header)}"}
                )
                continue
            rows.append(dict(zip(header, values, strict=True)))
            if len(rows) > MAX_ROWS:
                raise BadFile(f"The file has more than {MAX_ROWS:,} rows; split it.")
    except csv.Error as err:
        raise BadFile(f"The file is not valid CSV ({err}).") from None
    return rows


def _value(row: dict[str, str], name: str) -> str | None:
    raw = row.get(name, "").strip()
    if len(raw) > MAX_FIELD:
        raise Invalid(f"{name} is longer than {MAX_FIELD} characters.")
    return raw or None


def _import_row(session: Session, org_id: int, row: dict[str, str], actor: str) -> bool:
    """Create or update one patient; True when created."""
    if "__error__" in row:
        raise Invalid(f"The row {row['__error__']}.")
    first, last = _value(row, "first_name") or "", _value(row, "last_name") or ""
    external_id = _value(row, "external_id")
    existing = None
    if external_id is not None:
        existing = session.scalar(
            select(Patient).where(
                Patient.organization_id == org_id, Patient.external_id == external_id
            )
        )
    fields = {
        "first_name": first,
        "last_name": last,
        "phone": _value(row, "phone"),
        "timezone": _value(row, "timezone"),
        "language": _value(row, "language") or "en",
    }
    if existing is None:
        patient = patient_service.create_patient(
            session,
            org_id,
            actor=actor,
            external_id=external_id,
            **fields,  # type: ignore[arg-type]
        )
    else:
        patient = patient_service.update_patient(session, org_id, existing.id, fields, actor)
    level = _value(row, "consent")
    if level is not None:
        if level not in {lv.value for lv in ConsentLevel}:
            raise Invalid(f"The consent column must be informational or marketing, not '{level}'.")
        source = _value(row, "consent_source") or OptInSource.IMPORT.value
        consent_service.record(
            session,
            org_id,
            patient.id,
            action=ConsentAction.OPT_IN,
            source=source,
            level=ConsentLevel(level),
            evidence=_value(row, "consent_evidence") or "",
            actor=actor,
        )
    stage = _value(row, "lead_stage")
    if stage is not None:
        if stage not in {st.value for st in LeadStage}:
            raise Invalid(
                "The lead_stage column must be one of open, in_progress, closed_won, closed_lost, "
                f"not '{stage}'."
            )
        lead_service.set_stage(
            session,
            org_id,
            patient.id,
            LeadStage(stage),
            actor=actor,
            substatus=_value(row, "lead_substatus"),
            reason=_value(row, "lead_reason"),
        )
    return existing is None


def import_patients(
    session: Session,
    org_id: int,
    rows: Iterable[dict[str, str]],
    *,
    actor: str,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every row in the caller's transaction.

    Each row runs in a savepoint so a bad row leaves no trace. When any row is rejected and
    ``skip_invalid`` is false, ``report.committed`` is False and the caller must roll back.
    """
    report = ImportReport()
    for index, row in enumerate(rows):
        line = index + 2
        if progress:
            progress(1)
        if not row:
            continue
        report.rows += 1
        savepoint = session.begin_nested()
        try:
            created = _import_row(session, org_id, row, actor)
        except ServiceError as err:
            savepoint.rollback()
            report.rejected.append(Rejected(line, err.message))
            continue
        savepoint.commit()
        if created:
            report.created += 1
        else:
            report.updated += 1
    report.committed = skip_invalid or not report.rejected
    return report
