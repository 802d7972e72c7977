"""Importing patients from a CSV file, all or nothing unless asked to skip bad rows.

Columns (header row required, any order; the first_name and last_name columns are required,
and every row needs a first name): first_name, last_name, phone, timezone, external_id,
language, consent (informational|marketing), consent_source (web_form|paper_form|verbal|
import|api; import when empty), consent_evidence,
lead_stage (open|in_progress|closed_won|closed_lost), lead_substatus, lead_reason.
A row whose external_id matches an existing patient updates that patient; an external_id
that appears on two rows of one file rejects the later row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.consent import (
    STAFF_OPT_IN_SOURCES,
    ConsentAction,
    ConsentLevel,
    OptInSource,
)
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
# The consent_source values a file may give (how the patient agreed), in the order shown.
CONSENT_SOURCES = tuple(s.value for s in OptInSource if s in STAFF_OPT_IN_SOURCES)
MAX_ROWS = 200_000
MAX_FIELD = 2000


class BadFile(ServiceError):
    """The file as a whole cannot be imported; nothing was imported."""

    status = 422
    code = "bad_import_file"


@dataclass(frozen=True)
class CsvRow:
    line: int  # where the record starts in the file, counting the header as line 1
    values: dict[str, str]
    error: str | None = None  # a malformed record, reported as a rejected row


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


def check_patient_header(header: list[str]) -> None:
    """``BadFile`` unless ``header`` is a patient file's: known columns, the required ones,
    none twice."""
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


def read_csv(
    data: bytes, check_header: Callable[[list[str]], None] = check_patient_header
) -> list[CsvRow]:
    """The records of a CSV file keyed by the (normalized) header, or ``BadFile``.

    ``check_header`` refuses a header that is not the expected file's (patients by default).
    Blank lines are skipped; a record with the wrong number of fields is kept with an error
    so the report can name its line.
    """
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
        check_header(header)
        rows: list[CsvRow] = []
        line = reader.line_num + 1
        for values in reader:
            start, line = line, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                error = f"has {len(values)} fields; the header has {len(header)}"
                rows.append(CsvRow(start, {}, error))
            else:
                rows.append(CsvRow(start, dict(zip(header, values, strict=True))))
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


def _import_row(session: Session, org_id: int, record: CsvRow, actor: str) -> bool:
    """Create or update one patient; True when created."""
    if record.error is not None:
        raise Invalid(f"The row {record.error}.")
    row = record.values
    first, last = _value(row, "first_name") or "", _value(row, "last_name") or ""
    if not first:
        raise Invalid("The first_name is empty; every patient needs a first name.")
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
        if source not in CONSENT_SOURCES:
            raise Invalid(
                f"The consent_source column must be one of {', '.join(CONSENT_SOURCES)} "
                f"(or empty for import), not '{source}'."
            )
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


def _external_id(record: CsvRow) -> str | None:
    if record.error is not None:
        return None
    return record.values.get("external_id", "").strip() or None


def _first_lines_by_external_id(rows: list[CsvRow]) -> dict[str, int]:
    first: dict[str, int] = {}
    for record in rows:
        external_id = _external_id(record)
        if external_id is not None:
            first.setdefault(external_id, record.line)
    return first


def _duplicate_of(record: CsvRow, first_seen: dict[str, int]) -> str | None:
    """Why this row repeats an earlier row's external_id, or None."""
    external_id = _external_id(record)
    if external_id is None or first_seen[external_id] == record.line:
        return None
    first = first_seen[external_id]
    return (
        f"The external_id '{external_id[:64]}' is also on line {first}: a patient may appear "
        f"only once in a file. Merge lines {first} and {record.line} (with --skip-invalid, "
        f"line {record.line} is left out)."
    )


def import_patients(
    session: Session,
    org_id: int,
    rows: Iterable[CsvRow],
    *,
    actor: str,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every row in the caller's transaction.

    Each row runs in a savepoint so a bad row leaves no trace. ``report.committed`` is False,
    and the caller must roll back, when a row was rejected and either ``skip_invalid`` is
    false or no row at all could be imported.
    """
    rows = list(rows)
    first_seen = _first_lines_by_external_id(rows)
    return import_rows(
        session,
        rows,
        lambda record: _import_row(session, org_id, record, actor),
        lambda record: _duplicate_of(record, first_seen),
        skip_invalid=skip_invalid,
        progress=progress,
    )


def import_rows(
    session: Session,
    rows: list[CsvRow],
    import_one: Callable[[CsvRow], bool],
    refused: Callable[[CsvRow], str | None],
    *,
    skip_invalid: bool,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    """The all-or-nothing loop of every import: ``refused`` says why a row is bad before it
    is tried (a repeated id); ``import_one`` imports it (True: created, False: updated) or
    raises ``ServiceError``. Each row runs in a savepoint, so a bad row leaves no trace."""
    report = ImportReport()
    for record in rows:
        if progress:
            progress(1)
        report.rows += 1
        reason = refused(record)
        if reason is not None:
            report.rejected.append(Rejected(record.line, reason))
            continue
        savepoint = session.begin_nested()
        try:
            created = import_one(record)
        except ServiceError as err:
            savepoint.rollback()
            report.rejected.append(Rejected(record.line, err.message))
            continue
        savepoint.commit()
        if created:
            report.created += 1
        else:
            report.updated += 1
    imported_any = report.created + report.updated > 0
    report.committed = not report.rejected or (skip_invalid and imported_any)
    return report
