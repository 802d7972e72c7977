"""A campaign's audience: who it is for, as staff describe it, checked before anything runs.

An audience is any combination of: every patient (``all``), patients whose lead is in some
stages, patients of one language, and a list of patient ids (typed, or read from a CSV file
of patient ids, external ids or phones). Combinations intersect: "lead stages open and
in_progress, language es" is the Spanish-speaking open leads.

The CSV reader is here because what a file means (which column, which line says what) is a
rule staff meet in the per-line report; matching its values to patients needs the database
and is ``services.campaign_audience``.

Pure: no database, no clock.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clinictext.domain.leads import LeadStage

MAX_PATIENT_IDS = 100_000
MAX_ID = 2**63 - 1
KEYS = ("all", "lead_stages", "patient_ids", "language")
# A language as patients' records write it: "en", "es", "es-MX".
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


class AudienceError(ValueError):
    """An audience that cannot be used; ``field`` names the part to change."""

    def __init__(self, message: str, field: str = "audience") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Audience:
    everyone: bool = False
    lead_stages: tuple[LeadStage, ...] = ()
    patient_ids: tuple[int, ...] = ()
    language: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored and shown form: only the parts staff chose."""
        out: dict[str, Any] = {}
        if self.everyone:
            out["all"] = True
        if self.lead_stages:
            out["lead_stages"] = [s.value for s in self.lead_stages]
        if self.patient_ids:
            out["patient_ids"] = list(self.patient_ids)
        if self.language is not None:
            out["language"] = self.language
        return out

    def describe(self) -> str:
        """The audience in words, e.g. "patients whose lead is open, in language es"."""
        parts = []
        if self.patient_ids:
            n = len(self.patient_ids)
            parts.append(f"{n:,} chosen patient{'s' if n != 1 else ''}")
        if self.lead_stages:
            parts.append("leads " + " or ".join(s.value for s in self.lead_stages))
        if self.language is not None:
            parts.append(f"language {self.language}")
        return ", ".join(parts) if parts else "every patient"


def _stages(raw: Any) -> tuple[LeadStage, ...]:
    field = "audience.lead_stages"
    if not isinstance(raw, list) or not raw:
        raise AudienceError(
            'lead_stages must be a list of one or more stages, e.g. ["open", "in_progress"].',
            field,
        )
    known = {s.value: s for s in LeadStage}
    out: list[LeadStage] = []
    for item in raw:
        if not isinstance(item, str) or item not in known:
            shown = str(item)[:30]
            raise AudienceError(
                f"'{shown}' is not a lead stage: change it to one of {', '.join(known)}.", field
            )
        if known[item] not in out:
            out.append(known[item])
    return tuple(out)


def _ids(raw: Any) -> tuple[int, ...]:
    field = "audience.patient_ids"
    if not isinstance(raw, list) or not raw:
        raise AudienceError("patient_ids must be a list of one or more patient ids.", field)
    if len(raw) > MAX_PATIENT_IDS:
        raise AudienceError(
            f"patient_ids lists {len(raw):,} patients; the limit is {MAX_PATIENT_IDS:,}: "
            "split the audience into several campaigns, or use 'all' or lead stages.",
            field,
        )
    seen: dict[int, None] = {}
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ID:
            raise AudienceError(
                f"'{str(item)[:30]}' is not a patient id: ids are whole numbers from 1.", field
            )
        seen[item] = None
    return tuple(seen)


def _language(raw: Any) -> str:
    if not isinstance(raw, str) or not _LANGUAGE.fullmatch(raw.strip()):
        raise AudienceError(
            f"'{str(raw)[:20]}' is not a language: write it as a code such as en, es or es-MX.",
            "audience.language",
        )
    return raw.strip()


def parse_audience(raw: Any) -> Audience:
    """The audience ``raw`` (its JSON form) describes; ``AudienceError`` names what to change."""
    if not isinstance(raw, Mapping):
        raise AudienceError(
            'The audience must be an object such as {"all": true} or {"lead_stages": ["open"]}.'
        )
    for key in raw:
        if key not in KEYS:
            raise AudienceError(
                f"'{str(key)[:30]}' is not part of an audience: use {', '.join(KEYS)}.",
                f"audience.{str(key)[:30]}",
            )
    if not raw:
        raise AudienceError(
            "The audience is empty: choose 'all', lead stages, a language or patient ids."
        )
    everyone = raw.get("all")
    if "all" in raw and everyone is not True:
        raise AudienceError(
            "all can only be true (every patient); leave it out to choose patients another way.",
            "audience.all",
        )
    return Audience(
        everyone=everyone is True,
        lead_stages=_stages(raw["lead_stages"]) if "lead_stages" in raw else (),
        patient_ids=_ids(raw["patient_ids"]) if "patient_ids" in raw else (),
        language=_language(raw["language"]) if "language" in raw else None,
    )


# --- an audience from a CSV file ----------------------------------------------------------------

CSV_COLUMNS = ("patient_id", "external_id", "phone")
MAX_CSV_ROWS = MAX_PATIENT_IDS


@dataclass(frozen=True)
class CsvRow:
    line: int  # the line in the file (the header is line 1)
    value: str


@dataclass(frozen=True)
class AudienceCsv:
    """The column a file names patients by, and each data line's value (blank lines left out)."""

    column: str
    rows: tuple[CsvRow, ...]


def read_audience_csv(text: str) -> AudienceCsv:
    """Read a CSV whose header has one of :data:`CSV_COLUMNS` (other columns are ignored).

    With several of them, the first in that order is used (``patient_id`` names a patient
    exactly, a phone least exactly). ``AudienceError`` says what is wrong with the file.
    """
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark, as spreadsheet programs write
    if "\x00" in text:
        raise AudienceError(
            "The file is not a CSV text file (it contains NUL bytes): export it as CSV.",
            "audience_csv",
        )
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise AudienceError(f"The file is not readable as CSV: {err}.", "audience_csv") from None
    if header is None:
        raise AudienceError("The file is empty: it needs a header line.", "audience_csv")
    names = [h.strip().lower() for h in header]
    column = next((c for c in CSV_COLUMNS if c in names), None)
    if column is None:
        raise AudienceError(
            f"The header names none of the columns {', '.join(CSV_COLUMNS)}: add one, e.g. "
            "a first line 'patient_id'.",
            "audience_csv",
        )
    index = names.index(column)
    rows: list[CsvRow] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_CSV_ROWS:
                raise AudienceError(
                    f"The file has more than {MAX_CSV_ROWS:,} patients: split it into "
                    "several campaigns.",
                    "audience_csv",
                )
            value = cells[index].strip() if index < len(cells) else ""
            rows.append(CsvRow(reader.line_num, value))
    except csv.Error as err:
        raise AudienceError(
            f"Line {reader.line_num} of the file is not readable as CSV: {err}.", "audience_csv"
        ) from None
    if not rows:
        raise AudienceError("The file has a header but no patients.", "audience_csv")
    return AudienceCsv(column, tuple(rows))


def patient_id_of(value: str) -> int | None:
    """A ``patient_id`` cell as an id, or None when it is not one."""
    if not (value.isascii() and value.isdecimal()) or len(value) > 18:
        return None
    number = int(value)
    return number if number >= 1 else None
