"""Plain reports applied to texts' rows: a batch's read, one UPDATE, its history rows.

Most of what the provider says about a text only moves it forward and names the
provider's id: the send answer (``sent``) and the ``sent`` and ``delivered`` callbacks.
Loading each text as an object and flushing it was most of the time a batch of answers or
callbacks held SQLite's one write lock, which every other writer waits for. Here a batch
reads its texts' rows once (locked, on PostgreSQL, in id order), applies such reports to
them in memory, and writes what changed in one UPDATE per kind of change (``UpdateRows``),
with their history rows buffered (``message_events``).

``domain.reports.decide`` judges every report; only what it calls plain (``is_plain``: no
error to record, no retry, no consequence for the patient) is applied here. Everything
else goes through ``status_updates`` as before, and a text with any such report in the
batch goes there with all of its reports, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, null, select
from sqlalchemy.orm import Session

from clinictext.domain.reports import Recorded, Report, Verb, decide, is_plain
from clinictext.domain.statuses import Status
from clinictext.services import message_events
from clinictext.store.bulk import UpdateRows
from clinictext.store.db import LockingSelect
from clinictext.store.models import Message

_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
# Built once: a worker records, and serve applies callbacks, many batches a second.
_STATES = LockingSelect(
    select(_MESSAGES.c.id, _MESSAGES.c.organization_id, _MESSAGES.c.status, _MESSAGES.c.provider_id)
    .where(_MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_MESSAGES.c.id)
)
# As ``status_updates.apply`` changes a text that moves forward: the status, the provider
# id, the time, and no longer claimed.
_MOVED = UpdateRows(
    _MESSAGES,
    "id",
    ("status", "provider_id", "updated_at"),
    {"claimed_by": null(), "lease_until": null()},
)
# A report that names the provider id of a text already that far: only the id.
_NAMED = UpdateRows(_MESSAGES, "id", ("provider_id",))


@dataclass(frozen=True)
class TextRow:
    id: int
    organization_id: int
    status: Status
    provider_id: str | None
    moved_at: datetime | None = None  # when a report of this batch moved it forward
    named: bool = False  # a report of this batch recorded its provider id

    # Built directly, not with ``dataclasses.replace``: that looks the fields up on every
    # call, and a batch of answers or callbacks makes two or three of these for each text.
    def naming(self, provider_id: str) -> TextRow:
        return TextRow(self.id, self.organization_id, self.status, provider_id, self.moved_at, True)

    def moving(self, status: Status, at: datetime) -> TextRow:
        return TextRow(self.id, self.organization_id, status, self.provider_id, at, self.named)

    def written(self) -> TextRow:
        return TextRow(self.id, self.organization_id, self.status, self.provider_id)


class ReportRows:
    """The rows of a batch's texts, and the plain reports applied to them in memory."""

    def __init__(self, session: Session, message_ids: Iterable[int]) -> None:
        ids = sorted(set(message_ids))
        self.rows: dict[int, TextRow] = {}
        if ids:
            for row in session.execute(_STATES.on(session), {"ids": ids}):
                self.rows[row.id] = TextRow(
                    row.id, row.organization_id, Status(row.status), row.provider_id
                )
        self._history: list[tuple[int, int, str, datetime]] = []

    def apply_all(
        self,
        message_id: int,
        reports: Sequence[Report],
        superseded: set[str],
        now: datetime,
        *,
        must_name_it: bool = False,
    ) -> bool:
        """Apply ``reports`` about the text, in order, if each is plain; else change
        nothing and return False. ``must_name_it``: a report naming another provider id
        than the text's is not about it (a callback's text is then looked for by that id),
        so it is not plain here."""
        row = self.rows.get(message_id)
        if row is None:
            return False
        history: list[tuple[int, int, str, datetime]] = []
        for report in reports:
            if must_name_it and row.provider_id not in (None, report.provider_id):
                return False
            recorded = Recorded(row.status, row.provider_id, report.provider_id in superseded)
            action = decide(recorded, report)
            if not is_plain(action, report):
                return False
            if action.verb is Verb.IGNORE or action.status is None:
                continue
            if row.provider_id is None:
                row = row.naming(report.provider_id)
            if action.status is not row.status:
                row = row.moving(action.status, now)
                history.append((row.organization_id, row.id, action.status.value, now))
        self.rows[message_id] = row
        self._history.extend(history)
        return True

    def write(self, session: Session) -> None:
        """Write the rows' changes and buffer their history rows (``message_events``)."""
        moved: list[dict[str, Any]] = []
        named: list[dict[str, Any]] = []
        for row in self.rows.values():
            if row.moved_at is not None:
                moved.append(
                    {
                        "id": row.id,
                        "status": row.status.value,
                        "provider_id": row.provider_id,
                        "updated_at": row.moved_at,
                    }
                )
            elif row.named:
                named.append({"id": row.id, "provider_id": row.provider_id})
        _MOVED.run(session, moved)
        _NAMED.run(session, named)
        for org_id, message_id, status, at in self._history:
            message_events.record_row(session, org_id, message_id, status, at)
        self._history.clear()
        for k, row in self.rows.items():
            if row.moved_at is not None or row.named:
                self.rows[k] = row.written()
