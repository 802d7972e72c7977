"""Shared set-up for tests and benchmarks: a clinic ready to text, and waiting for servers."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel, SendKind, Verification
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.domain.content import check_body
from clinictext.domain.segments import count_segments
from clinictext.domain.statuses import Status
from clinictext.services import consent, numbers, orgs, patients
from clinictext.services.clock import utcnow
from clinictext.services.sending import LANE_CONVERSATION, message_kind
from clinictext.store.db import transaction
from clinictext.store.models import (
    AuditEvent,
    Commlog,
    Message,
    MessageEvent,
    Organization,
    Patient,
)


@dataclass(frozen=True)
class SeededClinic:
    org_id: int
    patient_ids: list[int]
    sender_ids: list[int]


def seed_clinic(
    factory: sessionmaker[Session],
    *,
    senders: tuple[str, ...] = ("+15005550006",),
    mps: int = 1,
    patient_count: int = 1,
    first_phone: int = 14155550123,
    level: ConsentLevel = ConsentLevel.INFORMATIONAL,
    name: str = "Clinic",
) -> SeededClinic:
    """An organization that can text: SMS on, approved, verified clinic numbers, and
    ``patient_count`` opted-in patients with consecutive phone numbers."""
    with transaction(factory) as s:
        org = orgs.create_org(s, name, actor="test")
        orgs.update_org(s, org.id, {"sms_enabled": True, "messaging_registration": "approved"}, "t")
        sender_ids = [
            numbers.add_number(s, org.id, n, Channel.CLINIC, "long_code", mps, "t").id
            for n in senders
        ]
        patient_ids = []
        for i in range(patient_count):
            pid = patients.create_patient(
                s,
                org.id,
                first_name=f"P{i}",
                last_name="Test",
                phone=f"+{first_phone + i}",
                actor="t",
            ).id
            consent.record(
                s, org.id, pid, action=ConsentAction.OPT_IN, source="verbal", level=level, actor="t"
            )
            patient_ids.append(pid)
        return SeededClinic(org.id, patient_ids, sender_ids)


def received_message(
    org_id: int, patient_id: int, body: str, *, at: datetime | None = None, **columns: Any
) -> Message:
    """A text a patient sent to the clinic number, as inbound processing builds it before
    storing it (``messages.store_new`` stores it with its history row and commlog)."""
    at = at or utcnow()
    return Message(
        **{
            "organization_id": org_id,
            "patient_id": patient_id,
            "direction": "inbound",
            "kind": "manual",
            "channel": "clinic",
            "lane": 0,
            "body": body,
            "encoding": "GSM-7",
            "segments": 1,
            "cost_micros": 0,
            "to_phone": "+14155550100",
            "from_phone": "+14155550123",
            "status": Status.RECEIVED.value,
            "attempts": 0,
            "created_by": "patient",
            "created_at": at,
            "updated_at": at,
            **columns,
        }
    )


def queue_texts(
    factory: sessionmaker[Session],
    org_id: int,
    texts: Sequence[tuple[int, str]],
    *,
    channel: Channel = Channel.CLINIC,
    actor: str = "t",
    now: datetime | None = None,
    spread: bool = False,
) -> list[int]:
    """Queue staff texts ``(patient_id, body)`` in bulk; their message ids, in order.

    From the organization's first verified number of ``channel``, or with ``spread`` from
    each of its verified numbers in turn (a clinic group texting from several numbers, so
    that one number's pace does not bound a throughput measure).

    The rows are those ``sending.send`` writes for a staff text that passes the checklist
    (the message ``queued`` and due now, its first status event, its commlog and the
    ``message.queued`` audit entry), inserted with one executemany per table in one
    transaction. The checklist is not run: seed a clinic that can text (``seed_clinic``).
    """
    now = now or utcnow()
    kind = message_kind(channel, SendKind.MANUAL)
    with transaction(factory) as s:
        org = s.get(Organization, org_id)
        assert org is not None, f"no organization {org_id}"
        senders = [
            n
            for n in numbers.list_numbers(s, org_id, channel)
            if n.verification == Verification.VERIFIED.value
        ]
        assert senders, f"organization {org_id} has no verified {channel} number"
        if not spread:
            senders = senders[:1]
        wanted = sorted({pid for pid, _ in texts})
        phones = {
            pid: phone
            for pid, phone in s.execute(
                select(Patient.id, Patient.phone).where(
                    Patient.organization_id == org_id, Patient.id.in_(wanted)
                )
            )
        }
        segments = {body: count_segments(check_body(body)) for body in {b for _, b in texts}}
        rows = []
        for n, (pid, body) in enumerate(texts):
            sender = senders[n % len(senders)]
            phone = phones.get(pid)
            assert phone, f"patient {pid} of organization {org_id} has no phone"
            info = segments[body]
            rows.append(
                {
                    "organization_id": org_id,
                    "patient_id": pid,
                    "sender_number_id": sender.id,
                    "direction": "outbound",
                    "kind": kind,
                    "channel": channel.value,
                    "lane": LANE_CONVERSATION,
                    "body": body,
                    "encoding": info.encoding,
                    "segments": info.segments,
                    "cost_micros": info.segments * org.segment_price_micros,
                    "to_phone": phone,
                    "from_phone": sender.number,
                    "status": Status.QUEUED.value,
                    "due_at": now,
                    "attempts": 0,
                    "created_by": actor,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        if not rows:
            return []
        ids = list(
            s.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True), rows)
        )
        s.execute(
            insert(MessageEvent),
            [
                {
                    "organization_id": org_id,
                    "message_id": mid,
                    "status": Status.QUEUED.value,
                    "detail": None,
                    "at": now,
                }
                for mid in ids
            ],
        )
        s.execute(
            insert(Commlog),
            [
                {
                    "organization_id": org_id,
                    "patient_id": row["patient_id"],
                    "message_id": mid,
                    "direction": "outbound",
                    "kind": kind,
                    "at": now,
                }
                for mid, row in zip(ids, rows, strict=True)
            ],
        )
        s.execute(
            insert(AuditEvent),
            [
                {
                    "organization_id": org_id,
                    "actor": actor,
                    "action": "message.queued",
                    "entity": "message",
                    "entity_id": mid,
                    "data": {
                        "patient_id": row["patient_id"],
                        "channel": channel.value,
                        "kind": kind,
                    },
                    "at": now,
                }
                for mid, row in zip(ids, rows, strict=True)
            ],
        )
        return ids


def wait_http(url: str, timeout: float = 30) -> None:
    """Wait until ``url`` answers at all (a server finished starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` runs inside the block, in order."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
