"""The organization's link policy on staff texts (SPEC §5): ``block`` refuses, ``warn`` sends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.links import find_links, link_finding
from clinictext.providers.base import InboundText
from clinictext.services.clock import utcnow
from clinictext.services.inbound import receive
from clinictext.store.db import transaction
from clinictext.store.models import AuditEvent, Message
from tests.api.helpers import textable_patient
from tests.conftest import Org

LINK_TEXT = "Please fill in your forms at https://smileclinic.example.com/forms before Tuesday."


def set_policy(org: Org, policy: str) -> None:
    r = org.patch("/org", {"url_policy": policy})
    assert r.status_code == 200, r.text
    assert r.json()["url_policy"] == policy


def send(org: Org, pid: int, body: str, **extra: Any) -> Any:
    return org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": body, **extra})


def test_block_refuses_a_staff_text_with_a_link_and_writes_nothing(
    ready_org: Org, rows: Any
) -> None:
    pid = textable_patient(ready_org)
    set_policy(ready_org, "block")
    before = rows()
    r = send(ready_org, pid, LINK_TEXT)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "link_blocked"
    assert "link" in error["message"] and error["message"].endswith(".")
    finding = error["finding"]
    assert finding["code"] == "link"
    assert finding["severity"] == "block"
    assert finding["links"] == ["https://smileclinic.example.com/forms"]
    assert finding["suggestion"]
    assert rows() == before


def test_block_names_a_public_shortener(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    set_policy(ready_org, "block")
    r = send(ready_org, pid, "Book here: bit.ly/3smile")
    assert r.status_code == 422
    finding = r.json()["error"]["finding"]
    assert (finding["code"], finding["links"]) == ("link_shortener", ["bit.ly/3smile"])
    assert "shortener" in finding["message"]


def test_block_lets_a_text_without_a_link_through(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    set_policy(ready_org, "block")
    r = send(ready_org, pid, "See you at 3.30pm, Dr.Lee says bring your x-rays.")
    assert r.status_code == 202, r.text


def test_warn_sends_the_text_and_notes_the_link_in_the_audit(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    pid = textable_patient(ready_org)
    set_policy(ready_org, "warn")
    r = send(ready_org, pid, LINK_TEXT)
    assert r.status_code == 202, r.text
    assert r.json()["body"] == LINK_TEXT
    with factory() as s:
        queued = s.scalars(select(AuditEvent).where(AuditEvent.action == "message.queued")).one()
    assert queued.data["findings"] == ["link"]
    assert "smileclinic" not in str(queued.data)  # no body text in the audit log


def test_new_organizations_warn_by_default(ready_org: Org) -> None:
    assert ready_org.get("/org").json()["url_policy"] == "warn"
    pid = textable_patient(ready_org)
    assert send(ready_org, pid, LINK_TEXT).status_code == 202


def test_block_does_not_touch_clinictexts_own_replies(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    """A keyword reply clinictext writes may carry a link (here a reworded HELP)."""
    help_text = (
        "{org}: for help call {phone} or visit https://smileclinic.example.com/help. "
        "Msg & data rates may apply. Reply STOP to opt out."
    )
    r = ready_org.patch("/org", {"url_policy": "block", "replies": {"help": help_text}})
    assert r.status_code == 200, r.text
    textable_patient(ready_org)
    with transaction(factory) as s:
        got = receive(
            s,
            InboundText("SMtest-help", "+14155550123", "+14155550100", "HELP", 1),
            utcnow(),
        )
        assert len(got.replies) == 1
        reply_id = got.replies[0].id
    with factory() as s:
        reply = s.get(Message, reply_id)
        assert reply is not None
        assert reply.status == "queued" and "https://smileclinic.example.com/help" in reply.body


# --- the pure detector -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "links"),
    [
        ("Book at https://clinic.example/book?x=1.", ["https://clinic.example/book?x=1"]),
        ("see www.acme.health/a, ok", ["www.acme.health/a"]),
        ("go to bit.ly/3xYz!", ["bit.ly/3xYz"]),
        ("(smileclinic.com/forms)", ["smileclinic.com/forms"]),
        ("Visit Clinic.COM today", ["Clinic.COM"]),
        ("email us at frontdesk@clinic.com", []),
        ("Dr.Lee said 3.5mg twice a day", []),
        ("See you tomorrow.To reschedule call us", []),
        ("Gracias.De nada", []),
        ("e.g. at 9 a.m. in the U.S.", []),
    ],
)
def test_find_links(body: str, links: list[str]) -> None:
    assert find_links(body) == links


def test_warn_is_a_warning_and_no_link_is_no_finding() -> None:
    warned = link_finding("call or visit clinic.com", "warn")
    assert warned is not None and warned.severity == "warning"
    assert link_finding("call us", "block") is None
