"""Texts left ``sending`` by a worker that stopped: ask the provider before sending again.

A worker that dies after claiming texts leaves them ``sending`` with an expired lease.
One never handed over (no ``handed_at``: it was waiting for its slot) went nowhere and
is queued again at once. For a handed one the provider is asked: by its id if a status
callback already told us, else by listing what it sent to that number from that sender,
matched by ``domain.reconciliation`` (a carrier message belongs to one text only). While
another worker is still handing texts to the same number from the same sender, its
answers are not recorded yet and a match could take one of them: such texts wait for the
next round. Found, a text takes the provider's id and status; not found, it was never
sent and is queued again. A crash may delay a text, never duplicate it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clinictext.domain.reconciliation import SKEW, Candidate, Text, match
from clinictext.domain.reports import Report, Verb
from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import Provider, ProviderMessage
from clinictext.services.status_updates import apply_report, match_parked, requeue
from clinictext.store.db import for_update
from clinictext.store.models import Message, SupersededSid

# A group deferred because another worker is mid-send is looked at again this soon.
DEFER = timedelta(seconds=2)
# A live worker has the provider's answer within its timeout (15 s): a text handed over
# longer ago than this and still "sending" was stranded by a crash, not in flight.
IN_FLIGHT_WINDOW = timedelta(seconds=30)


@dataclass(frozen=True)
class Stale:
    message_id: int
    to: str
    from_: str
    body: str
    provider_id: str | None
    created_at: datetime
    handed: bool


def take_stale(
    session: Session, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[Stale]:
    """Claim texts whose lease expired, extending the lease to this worker."""
    query = (
        select(Message)
        .where(Message.status == Status.SENDING.value, Message.lease_until < now)
        .order_by(Message.lease_until)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    if not rows:
        return []
    session.execute(
        update(Message)
        .where(Message.id.in_([m.id for m in rows]))
        .values(claimed_by=worker, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return [
        Stale(
            m.id,
            m.to_phone,
            m.from_phone or "",
            m.body,
            m.provider_id,
            m.created_at,
            m.handed_at is not None,
        )
        for m in rows
    ]


@dataclass
class Answers:
    """What the provider said: by id for texts it named, and lists per (to, from)."""

    fetched: dict[int, ProviderMessage | None]
    listed: dict[tuple[str, str], list[ProviderMessage]]


async def ask_provider(provider: Provider, stale: list[Stale]) -> Answers:
    """What the provider knows about each handed stale text (raises ProviderUnavailable)."""
    answers = Answers({}, {})
    groups: dict[tuple[str, str], list[Stale]] = defaultdict(list)
    for s in stale:
        if not s.handed:
            continue
        if s.provider_id:
            answers.fetched[s.message_id] = await provider.fetch(s.provider_id)
        else:
            groups[(s.to, s.from_)].append(s)
    for (to, from_), items in groups.items():
        since = min(s.created_at for s in items) - SKEW
        answers.listed[(to, from_)] = await provider.find(to, from_, since)
    return answers


def settle(
    session: Session,
    stale: list[Stale],
    answers: Answers,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> tuple[int, int]:
    """Adopt what the provider has; queue again what it never got. Returns (adopted, requeued)."""
    adopted = requeued = 0
    query = select(Message).where(Message.id.in_([s.message_id for s in stale]))
    messages = {m.id: m for m in session.scalars(for_update(session, query.order_by(Message.id)))}

    def ours(message_id: int) -> Message | None:
        m = messages.get(message_id)
        return m if m is not None and m.status == Status.SENDING.value else None

    def adopt(message: Message, found: ProviderMessage, why: str) -> None:
        verb = apply_report(
            session,
            message,
            Report(found.provider_id, found.status, found.error_code),
            now,
            policy,
            rng,
            error_message=found.error_message,
            detail=f"reconciled with the provider after an interrupted send: {why}",
        )
        if verb is Verb.IGNORE and message.status == Status.SENDING.value:
            # The provider's copy belongs to an attempt given up: this one never went.
            requeue(session, message, now, now, "the provider has no copy of this attempt")

    found_ids: list[str] = []
    for s in stale:
        message = ours(s.message_id)
        if message is None:
            continue
        if not s.handed:
            requeue(
                session, message, now, now, "claimed by a worker that stopped before sending it"
            )
            requeued += 1
        elif s.message_id in answers.fetched:
            found = answers.fetched[s.message_id]
            if found is None:
                requeue(session, message, now, now, "the provider never received it: sending again")
                requeued += 1
            else:
                adopt(message, found, "found by its provider id")
                found_ids.append(found.provider_id)
                adopted += 1

    by_group: dict[tuple[str, str], list[Stale]] = defaultdict(list)
    for s in stale:
        if s.handed and s.message_id not in answers.fetched and ours(s.message_id) is not None:
            by_group[(s.to, s.from_)].append(s)
    for key, items in by_group.items():
        if _others_in_flight(session, key, [s.message_id for s in items], now):
            session.execute(
                update(Message)
                .where(Message.id.in_([s.message_id for s in items]))
                .values(lease_until=now + DEFER)
                .execution_options(synchronize_session=False)
            )
            continue
        candidates = answers.listed.get(key, [])
        owned = _owned(session, [c.provider_id for c in candidates])
        by_id = {c.provider_id: c for c in candidates}
        texts = [Text(s.message_id, s.body, s.created_at) for s in items]
        pool = [Candidate(c.provider_id, c.body, c.created_at) for c in candidates]
        for m in match(texts, pool, owned):
            message = messages[m.message_id]
            if m.provider_id is None:
                requeue(session, message, now, now, f"sending again: {m.why}")
                requeued += 1
            else:
                adopt(message, by_id[m.provider_id], f"matched by body, {m.why}")
                found_ids.append(m.provider_id)
                adopted += 1
    match_parked(session, sorted(found_ids), now, policy, rng)
    return adopted, requeued


def _owned(session: Session, provider_ids: list[str]) -> set[str]:
    """Which of ``provider_ids`` already belong to a text, or to an attempt given up."""
    texts = session.scalars(
        select(Message.provider_id).where(Message.provider_id.in_(provider_ids))
    )
    given_up = session.scalars(
        select(SupersededSid.provider_id).where(SupersededSid.provider_id.in_(provider_ids))
    )
    return {pid for pid in texts if pid} | set(given_up)


def _others_in_flight(
    session: Session, key: tuple[str, str], excluded: list[int], now: datetime
) -> bool:
    """Whether a live worker is handing texts to ``to`` from ``from_`` right now.

    Texts stranded by another crash (handed over long ago) do not count: two stranded
    groups to one number would otherwise keep deferring each other.
    """
    to, from_ = key
    return (
        session.scalar(
            select(Message.id)
            .where(
                Message.status == Status.SENDING.value,
                Message.handed_at >= now - IN_FLIGHT_WINDOW,
                Message.lease_until >= now,
                Message.to_phone == to,
                Message.from_phone == from_,
                Message.id.not_in(excluded),
            )
            .limit(1)
        )
        is not None
    )
