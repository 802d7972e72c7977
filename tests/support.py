"""Shared set-up for tests and benchmarks: a clinic ready to text, and waiting for servers."""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.services import consent, numbers, orgs, patients
from clinictext.store.db import transaction


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
