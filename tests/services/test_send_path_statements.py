"""One text costs the same fixed number of SQL statements, however long the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel, SendKind
from clinictext.services import orgs, sending
from clinictext.store.db import transaction
from clinictext.store.models import Message
from tests.support import counting, seed_clinic

NOW = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)
# Patient, organization and lead (one query); sender numbers; consent ledger; this month's
# spend (manual) or the cap's week of automated texts (automated); then the message, its
# status event, its commlog and the audit entry: four INSERTs, on PostgreSQL one statement.
WRITES = {"sqlite": 4, "postgresql": 1}


def _history(factory: sessionmaker[Session], org_id: int, patient_ids: list[int]) -> None:
    """Three months of texts of every kind."""
    rows = [
        {
            "organization_id": org_id,
            "patient_id": patient_ids[i % len(patient_ids)],
            "direction": "outbound",
            "kind": ("manual", "automated", "lead", "campaign")[i % 4],
            "channel": "clinic",
            "lane": 0,
            "body": "x",
            "encoding": "GSM-7",
            "segments": 1,
            "cost_micros": 7900,
            "to_phone": "+14155550123",
            "status": ("delivered", "failed", "queued")[i % 3],
            "due_at": NOW - timedelta(minutes=37 * i),
            "attempts": 0,
            "created_by": "t",
            "created_at": NOW - timedelta(minutes=37 * i),
            "updated_at": NOW,
        }
        for i in range(4_000)
    ]
    with transaction(factory) as s:
        s.execute(insert(Message), rows)


@pytest.mark.parametrize("kind", [SendKind.MANUAL, SendKind.AUTOMATED])
def test_one_text_runs_a_fixed_number_of_statements_with_a_small_and_a_large_history(
    engine: Engine, factory: sessionmaker[Session], kind: SendKind
) -> None:
    clinic = seed_clinic(factory, patient_count=3)
    with transaction(factory) as s:  # with a limit, the month's spend is read
        orgs.update_org(s, clinic.org_id, {"manual_spend_limit_cents": 10_000_000}, "t")
        org = orgs.get_org(s, clinic.org_id)
        org.automated_daily_cap, org.automated_weekly_cap = 50, 100

    def one_text(at: datetime) -> list[str]:
        with counting(engine) as seen, transaction(factory) as s:
            sending.send(
                s,
                clinic.org_id,
                clinic.patient_ids[0],
                Channel.CLINIC,
                "Your results are ready.",
                actor="t",
                send_kind=kind,
                now=at,
            )
        return [s for s in seen if s.split()[0].upper() not in ("BEGIN", "COMMIT")]

    small = one_text(NOW)
    _history(factory, clinic.org_id, clinic.patient_ids)
    large = one_text(NOW + timedelta(minutes=1))
    expected = 4 + WRITES[engine.dialect.name]
    assert len(small) == len(large) == expected, (small, large)
