"""Texts left ``sending`` by a worker that stopped: ask the provider before sending again.

A worker that dies between handing texts to the provider and recording the answer leaves
them ``sending`` with an expired lease. For each, the provider is asked (by its id if a
status callback already told us, else by listing what it sent to that number from that
sender since the text was created, matched by body): found, the text takes the
provider's id and status; not found, it was never sent and is queued again. A crash may
delay a text, never duplicate it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import Provider, ProviderMessage
from clinictext.services.status_updates import apply_report, match_parked, requeue
from clinictext.store.models import Message


@dataclass(frozen=True)
class Stale:
    message_id: int
    to: str
    from_: str
    body: str
    provider_id: str | None
    created_at: datetime


# How far before a text's creation a provider record may be dated (clock skew).
SKEW = timedelta(minutes=5)


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
        Stale(m.id, m.to_phone, m.from_phone or "", m.body, m.provider_id, m.created_at)
        for m in rows
    ]


@dataclass(frozen=True)
class Finding:
    message_id: int
    found: ProviderMessage | None


async def ask_provider(provider: Provider, stale: list[Stale]) -> list[Finding]:
    """What the provider knows about each stale text (raises ProviderUnavailable)."""
    findings: list[Finding] = []
    groups: dict[tuple[str, str], list[Stale]] = defaultdict(list)
    for s in stale:
        if s.provider_id:
            findings.append(Finding(s.message_id, await provider.fetch(s.provider_id)))
        else:
            groups[(s.to, s.from_)].append(s)
    for (to, from_), items in groups.items():
        since = min(s.created_at for s in items) - SKEW
        sent = await provider.find(to, from_, since)
        for s in sorted(items, key=lambda s: s.message_id):
            match = next(
                (
                    p
                    for p in sorted(sent, key=lambda p: (p.created_at or since, p.provider_id))
                    if p.body == s.body
                    and (p.created_at is None or p.created_at >= s.created_at - SKEW)
                ),
                None,
            )
            if match is not None:
                sent.remove(match)
            findings.append(Finding(s.message_id, match))
    return findings


def settle(
    session: Session,
    findings: list[Finding],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> tuple[int, int]:
    """Adopt what the provider has; queue again what it never got. Returns (adopted, requeued)."""
    adopted = requeued = 0
    ids = [f.message_id for f in findings]
    messages = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
    found_ids = [f.found.provider_id for f in findings if f.found]
    taken: set[str] = {
        pid
        for pid in session.scalars(
            select(Message.provider_id).where(Message.provider_id.in_(found_ids))
        )
        if pid
    }
    for finding in findings:
        message = messages.get(finding.message_id)
        if message is None or message.status != Status.SENDING.value:
            continue
        found = finding.found
        if found is not None and (
            found.provider_id not in taken or message.provider_id == found.provider_id
        ):
            apply_report(
                session,
                message,
                found.status,
                found.error_code,
                found.provider_id,
                now,
                policy,
                rng,
                error_message=found.error_message,
                detail="reconciled with the provider after an interrupted send",
            )
            taken.add(found.provider_id)
            adopted += 1
        else:
            requeue(session, message, now, now, "the provider never received it: sending again")
            requeued += 1
    match_parked(session, sorted(taken), now)
    return adopted, requeued
