"""Refresh asks about every text still "sent", in batches, and is safe to repeat."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select, update

from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import CallLog, ProviderMessage
from clinictext.services import refresh
from clinictext.store.db import transaction
from clinictext.store.models import Message, SupersededSid
from tests.support import queue_texts, seed_clinic

TEXTS = 2 * refresh.BATCH + 37  # more than two batches


class Carrier:
    """The provider's side of a refresh: what it knows of each text it accepted.

    Only the calls a refresh makes are here (the Provider protocol's seam); everything
    else in the test is the real service on a real database.
    """

    def __init__(self, answers: dict[str, tuple[Status, str | None]]) -> None:
        self.answers = answers
        self.fetched: list[str] = []

    async def ping(self) -> CallLog:
        return CallLog("ping", {}, {}, 200, 1.0)

    async def fetch(self, provider_id: str) -> ProviderMessage | None:
        self.fetched.append(provider_id)
        status, code = self.answers[provider_id]
        return ProviderMessage(provider_id, "", "", "", status, None, code)

    async def sender_verification(self, number: str, kind: str) -> Any:
        raise AssertionError("no sender is pending")


def _sent_texts(factory: Any) -> tuple[int, list[int]]:
    clinic = seed_clinic(factory, mps=100)
    ids = queue_texts(factory, clinic.org_id, [(clinic.patient_ids[0], "Hi")] * TEXTS)
    with transaction(factory) as s:
        for mid in ids:
            s.execute(
                update(Message)
                .where(Message.id == mid)
                .values(status="sent", provider_id=f"SM{mid}", handed_at=func.now())
            )
    return clinic.org_id, ids


def _refresh(factory: Any, carrier: Carrier, org_id: int) -> refresh.RefreshResult:
    return asyncio.run(refresh.refresh(factory, carrier, org_id, "staff", RetryPolicy()))  # type: ignore[arg-type]


def test_refresh_settles_every_sent_text_however_many_and_however_recent(factory: Any) -> None:
    org_id, ids = _sent_texts(factory)
    carrier = Carrier({f"SM{mid}": (Status.DELIVERED, None) for mid in ids})
    result = _refresh(factory, carrier, org_id)
    assert result.checked == TEXTS
    assert sorted(carrier.fetched) == sorted(f"SM{mid}" for mid in ids)
    with transaction(factory) as s:
        statuses = s.scalars(select(Message.status).where(Message.id.in_(ids))).all()
    assert set(statuses) == {"delivered"}


def test_refreshing_again_after_a_retry_changes_nothing_and_never_conflicts(
    factory: Any,
) -> None:
    org_id, ids = _sent_texts(factory)
    # The carrier says the first text's handset was unreachable: it is sent again.
    carrier = Carrier({f"SM{mid}": (Status.SENT, None) for mid in ids})
    carrier.answers[f"SM{ids[0]}"] = (Status.UNDELIVERED, "30003")
    for _ in range(3):
        _refresh(factory, carrier, org_id)
    with transaction(factory) as s:
        first = s.get(Message, ids[0])
        assert (first.status, first.provider_id) == ("queued", None)
        assert s.scalar(select(func.count()).select_from(SupersededSid)) == 1
        assert s.get(SupersededSid, f"SM{ids[0]}") is not None


def test_redrive_counts_every_text_that_goes_out_now_and_keeps_held_ones(factory: Any) -> None:
    from datetime import timedelta

    from clinictext.services import connector
    from clinictext.services.clock import utcnow

    clinic = seed_clinic(factory, patient_count=4)
    other = seed_clinic(
        factory, senders=("+14155550999",), patient_count=1, first_phone=14155559000, name="Other"
    )
    ids = queue_texts(factory, clinic.org_id, [(pid, "Hello") for pid in clinic.patient_ids])
    queue_texts(factory, other.org_id, [(other.patient_ids[0], "Not ours")])
    now = utcnow()
    with transaction(factory) as s:
        # ids[0], ids[1]: due now; ids[2]: waiting to retry; ids[3]: held for the window.
        s.execute(
            update(Message).where(Message.id == ids[2]).values(due_at=now + timedelta(minutes=5))
        )
        s.execute(
            update(Message)
            .where(Message.id == ids[3])
            .values(status=Status.SCHEDULED.value, due_at=now + timedelta(hours=9))
        )
    with transaction(factory) as s:
        assert connector.redrive(s, clinic.org_id, "test", now) == 3
    with transaction(factory) as s:
        due = dict(s.execute(select(Message.id, Message.due_at).where(Message.id.in_(ids))).all())
        assert due[ids[2]] == now
        assert due[ids[3]] == now + timedelta(hours=9)
