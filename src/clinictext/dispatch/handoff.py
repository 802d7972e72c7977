"""The last moment before the provider call: consent is checked again, atomically.

A claimed text waits for its sender's pacing slot, and the patient may opt out
meanwhile. So right before the call, in one short transaction, each text is checked
against the consent ledger and marked handed (``handed_at``); the call follows the commit.
An opt-out cancels every text not yet handed (``outbox.cancel_pending_to``) in a
transaction of its own, and the two cannot interleave: on SQLite both take the write
lock; on PostgreSQL the hand-off locks the message row, which the opt-out's cancel must
also lock. So a text either was handed before the opt-out was recorded, or it is
canceled with that reason, never sent after it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from clinictext.domain.consent import hand_off_refusal
from clinictext.domain.statuses import Status
from clinictext.services import consent as consent_service
from clinictext.services.outbox import cancel
from clinictext.store.db import LockingSelect
from clinictext.store.models import Message

# Built once: a worker hands texts over many times a second, a few at a time, and
# building these cost more than running them.
_MESSAGES = LockingSelect(
    select(Message).where(Message.id.in_(bindparam("ids", expanding=True))).order_by(Message.id)
)


def hand_off(session: Session, message_ids: list[int], worker: str, now: datetime) -> set[int]:
    """Mark handed the texts that may go now; cancel those an opt-out has stopped.

    Returns the ids to send. A text no longer claimed by ``worker`` (canceled, or taken
    over after its lease ran out) is left alone and not sent.
    """
    go: set[int] = set()
    ours = [
        m
        for m in session.scalars(_MESSAGES.on(session), {"ids": message_ids})
        if m.status == Status.SENDING.value and m.claimed_by == worker and m.handed_at is None
    ]
    # Read after the rows are locked, so an opt-out either committed before (and is seen
    # here) or waits for this transaction (``outbox.cancel_pending_to``).
    consents = consent_service.consents_of(session, {(m.organization_id, m.to_phone) for m in ours})
    for message in ours:
        key = (message.organization_id, message.to_phone)
        refusal = hand_off_refusal(consents[key], message.kind, message.created_at)
        if refusal is not None:
            cancel(session, message, now, refusal)
            continue
        message.handed_at = now
        go.add(message.id)
    return go
