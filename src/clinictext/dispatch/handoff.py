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

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from clinictext.domain.consent import hand_off_refusal
from clinictext.domain.statuses import Status
from clinictext.services import consent as consent_service
from clinictext.services.outbox import cancel
from clinictext.store.db import LockingSelect
from clinictext.store.models import Message

_MESSAGES: Table = Message.__table__  # type: ignore[assignment]

# Built once: a worker hands texts over many times a second, a few dozen at a time, and
# building these cost more than running them. Plain rows, not messages as objects: a
# hand-off holds SQLite's write lock, and loading every column of each text into an
# object, then flushing one UPDATE per text, was most of its time there.
_OURS = LockingSelect(
    select(
        _MESSAGES.c.id,
        _MESSAGES.c.organization_id,
        _MESSAGES.c.to_phone,
        _MESSAGES.c.kind,
        _MESSAGES.c.created_at,
    )
    .where(
        _MESSAGES.c.id.in_(bindparam("ids", expanding=True)),
        _MESSAGES.c.status == Status.SENDING.value,
        _MESSAGES.c.claimed_by == bindparam("worker"),
        _MESSAGES.c.handed_at.is_(None),
    )
    .order_by(_MESSAGES.c.id)
)
_MARK_HANDED = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
    .values(handed_at=bindparam("now"))
)


def hand_off(session: Session, message_ids: list[int], worker: str, now: datetime) -> set[int]:
    """Mark handed the texts that may go now; cancel those an opt-out has stopped.

    Returns the ids to send. A text no longer claimed by ``worker`` (canceled, or taken
    over after its lease ran out) is left alone and not sent.
    """
    # Locked on PostgreSQL, in id order; a row changed meanwhile (an opt-out canceled it)
    # is judged again as it now is, and left out.
    ours = session.execute(_OURS.on(session), {"ids": message_ids, "worker": worker}).all()
    # Read after the rows are locked, so an opt-out either committed before (and is seen
    # here) or waits for this transaction (``outbox.cancel_pending_to``).
    consents = consent_service.consents_of(session, {(r.organization_id, r.to_phone) for r in ours})
    go: set[int] = set()
    for row in ours:
        refusal = hand_off_refusal(
            consents[(row.organization_id, row.to_phone)], row.kind, row.created_at
        )
        if refusal is None:
            go.add(row.id)
            continue
        message = session.get(Message, row.id)
        if message is not None:
            cancel(session, message, now, refusal)
    if go:
        session.execute(_MARK_HANDED, {"ids": sorted(go), "now": now})
    return go
