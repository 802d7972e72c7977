"""Claiming due texts for one worker, with per-sender pacing that holds across workers.

A claim marks texts ``sending`` and commits before the provider is called, so a crash can
leave a text ``sending`` but never lets two workers send it. Pacing: each sender number
keeps ``next_send_at``; every claimed text reserves ``segments / mps`` seconds of it, so
a 3-segment text on a 1-mps number occupies 3 seconds. Only texts whose slot falls within
the horizon are claimed; the rest stay queued for the next round. The reservation keeps
the average rate across workers; the worker's own sliding window (``dispatch.pacing``)
keeps any one second from carrying more than ``mps`` segments when slots bunch up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clinictext.domain.checklist import Verification
from clinictext.domain.statuses import DUE, Status
from clinictext.services import message_events
from clinictext.store.models import Message, SenderNumber


@dataclass(frozen=True)
class Claim:
    message_id: int
    organization_id: int
    to: str
    from_: str
    body: str
    slot: datetime  # not before this time: the sender's pacing
    sender_id: int = 0
    segments: int = 1
    mps: int = 1  # the sender's segments per second, for the worker's own sliding window


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def claim_due(
    session: Session,
    worker: str,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    horizon: timedelta,
) -> list[Claim]:
    """Claim up to ``limit`` due texts, conversations first, in the caller's transaction."""
    query = (
        select(Message.id, Message.sender_number_id, Message.segments)
        .join(SenderNumber, SenderNumber.id == Message.sender_number_id)
        .where(
            Message.status.in_([s.value for s in DUE]),
            Message.due_at <= now,
            SenderNumber.verification == Verification.VERIFIED.value,
        )
        .order_by(Message.lane, Message.due_at, Message.id)
        .limit(limit)
    )
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=Message)
    candidates = session.execute(query).all()
    if not candidates:
        return []
    sender_ids = sorted({row.sender_number_id for row in candidates})
    lock = select(SenderNumber).where(SenderNumber.id.in_(sender_ids)).order_by(SenderNumber.id)
    if _is_postgres(session):
        lock = lock.with_for_update()
    senders = {s.id: s for s in session.scalars(lock)}
    chosen: dict[int, datetime] = {}
    paced: dict[int, tuple[int, int, int]] = {}
    for row in candidates:
        sender = senders[row.sender_number_id]
        slot = max(sender.next_send_at or now, now)
        if slot > now + horizon:
            continue
        sender.next_send_at = slot + timedelta(seconds=max(row.segments, 1) / max(sender.mps, 1))
        chosen[row.id] = slot
        paced[row.id] = (sender.id, max(row.segments, 1), max(sender.mps, 1))
    if not chosen:
        return []
    ids = list(chosen)
    session.execute(
        update(Message)
        .where(Message.id.in_(ids))
        .values(
            status=Status.SENDING.value,
            attempts=Message.attempts + 1,
            claimed_by=worker,
            lease_until=now + horizon + lease,
            handed_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            Message.id, Message.organization_id, Message.to_phone, Message.from_phone, Message.body
        ).where(Message.id.in_(ids))
    ).all()
    message_events.insert_history(
        session,
        [
            # At the slot: when the worker hands it to the provider.
            message_events.history_values(
                r.organization_id, r.id, Status.SENDING.value, chosen[r.id]
            )
            for r in rows
        ],
    )
    claims = [
        Claim(
            r.id,
            r.organization_id,
            r.to_phone,
            r.from_phone or "",
            r.body,
            chosen[r.id],
            *paced[r.id],
        )
        for r in rows
    ]
    claims.sort(key=lambda c: (c.slot, c.message_id))
    return claims
