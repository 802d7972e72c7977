"""Compliance end to end (SPEC §3, §4, §6): keywords, revocation review, the lead auto-reply,
conversational consent and the send window, over real HTTP between clinictext and the
carrier simulator.

A patient texts the clinic through the simulator's control API (``/_control/inbound``): the
simulator posts a signed webhook to clinictext, which stores the text and reacts (keyword
confirmations and auto-replies are queued and sent by the in-process dispatcher). Each test
gets its own organization and sender numbers, so settings (clinic phone, send window) and
carrier side effects never leak from one test to another.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import (
    Clinic,
    Number,
    Patient,
    Server,
    fresh_phone,
    fresh_sender,
    sqlite_server,
    wait_until,
)

CLINIC_PHONE = "415-555-0100"  # as staff type it in the settings
CLINIC_PHONE_DISPLAY = "(415) 555-0100"  # as the replies must show it
NOT_YET_AT_CARRIER = frozenset({"scheduled", "queued", "sending"})
WAIT = 20.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "compliance") as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_simulator(server: Server) -> Iterator[None]:
    server.reset_simulator()
    yield
    server.sim("/outage", {"mode": "up"})


# --- helpers ----------------------------------------------------------------------------------


def _clinic(server: Server, name: str) -> tuple[Clinic, str]:
    """A fresh organization with one verified clinic number; the clinic and its number."""
    number = fresh_sender()
    return server.new_clinic(name, [Number(number, mps=10)]), number


def _texts_in(server: Server, patient: Patient, to: str, body: str) -> None:
    """The patient texts ``to``; returns once clinictext answered the signed webhook."""
    answer = server.sim("/inbound", {"from": patient.phone, "to": to, "body": body})
    assert answer["status"] == 200, answer


def _messages(clinic: Clinic, patient: Patient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = clinic.get(f"/patients/{patient.id}/messages", limit=200)
    return rows


def _inbound(clinic: Clinic, patient: Patient) -> list[dict[str, Any]]:
    return [m for m in _messages(clinic, patient) if m["direction"] == "inbound"]


def _outbound(clinic: Clinic, patient: Patient, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        m
        for m in _messages(clinic, patient)
        if m["direction"] == "outbound" and (kind is None or m["kind"] == kind)
    ]


def _at_carrier(server: Server, patient: Patient, contains: str = "") -> list[dict[str, Any]]:
    """What the carrier accepted for the patient's phone (optionally: whose body contains)."""
    return [
        m
        for m in server.carrier_messages(to=patient.phone)
        if m["direction"] != "inbound" and contains in m["body"]
    ]


def _settled(clinic: Clinic, patient: Patient, inbound: int) -> None:
    """Wait until clinictext stored ``inbound`` texts from the patient and has nothing left
    to hand to the carrier for them: whatever it queued in reaction has been sent."""

    def probe() -> bool:
        rows = _messages(clinic, patient)
        received = [m for m in rows if m["direction"] == "inbound"]
        waiting = [
            m for m in rows if m["direction"] == "outbound" and m["status"] in NOT_YET_AT_CARRIER
        ]
        return len(received) == inbound and not waiting

    wait_until(
        probe,
        WAIT,
        f"{inbound} inbound texts stored and no reply left to send",
        lambda: [(m["direction"], m["kind"], m["status"]) for m in _messages(clinic, patient)],
    )


def _consent(clinic: Clinic, patient: Patient) -> dict[str, Any]:
    data: dict[str, Any] = clinic.get(f"/patients/{patient.id}/consent")
    return data


def _check(can_text: dict[str, Any], check_id: str) -> dict[str, Any]:
    [check] = [c for c in can_text["checks"] if c["id"] == check_id]
    return check


def _refused(clinic: Clinic, patient: Patient, body: str) -> dict[str, Any]:
    """A staff text that must be refused (422); the error."""
    answer = clinic.post(
        "/messages", {"patient_id": patient.id, "channel": "clinic", "body": body}, expect=422
    )
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "cannot_text", error
    return error


def _flagged(clinic: Clinic) -> dict[int, dict[str, Any]]:
    return {p["id"]: p for p in clinic.get("/patients", flag="revocation_review", limit=200)}


# --- keywords -----------------------------------------------------------------------------------


def test_stop_twice_records_one_opt_out_and_one_confirmation_and_only_start_lifts_it(
    server: Server,
) -> None:
    clinic, number = _clinic(server, "Stop Twice Dental")
    patient = clinic.patient()

    _texts_in(server, patient, number, "STOP")
    [confirmation] = wait_until(
        lambda: _at_carrier(server, patient, "unsubscribed"),
        WAIT,
        "the opt-out confirmation to reach the carrier",
        lambda: server.carrier_messages(to=patient.phone),
    )
    assert confirmation["from"] == number
    assert "Stop Twice Dental" in confirmation["body"]
    assert "START" in confirmation["body"]

    _texts_in(server, patient, number, "STOP")
    _settled(clinic, patient, inbound=2)

    consent = _consent(clinic, patient)
    assert consent["state"] == "opted_out", consent
    opt_outs = [e for e in consent["history"] if e["action"] == "opt_out"]
    assert [e["source"] for e in opt_outs] == ["keyword"], consent["history"]
    assert len(_at_carrier(server, patient, "unsubscribed")) == 1, server.carrier_messages(
        to=patient.phone
    )
    assert len(_outbound(clinic, patient, "keyword_reply")) == 1, _outbound(clinic, patient)

    # Staff cannot text them, nor opt them back in.
    before = [m["id"] for m in _messages(clinic, patient)]
    error = _refused(clinic, patient, "Your crown is ready for pickup.")
    assert "consent" in error["failed"], error
    assert not _check(error, "consent")["ok"]
    assert [m["id"] for m in _messages(clinic, patient)] == before  # nothing was written
    refused = clinic.post(
        f"/patients/{patient.id}/consent",
        {"action": "opt_in", "level": "marketing", "source": "verbal", "evidence": "phone call"},
        expect=409,
    )
    assert refused.json()["error"]["code"] == "opt_in_refused", refused.text
    assert _consent(clinic, patient)["state"] == "opted_out"

    # Only the patient's own START does.
    _texts_in(server, patient, number, "START")
    [welcome] = wait_until(
        lambda: _at_carrier(server, patient, "subscribed to text messages again"),
        WAIT,
        "the opt-in confirmation to reach the carrier",
        lambda: server.carrier_messages(to=patient.phone),
    )
    assert welcome["from"] == number
    consent = _consent(clinic, patient)
    assert consent["state"] == "opted_in", consent
    assert consent["history"][-1]["action"] == "opt_in"
    assert consent["history"][-1]["source"] == "keyword"

    message_id = clinic.send(patient, "Your crown is ready for pickup.")
    delivered = clinic.wait_for(message_id, {"delivered", "undelivered", "failed", "canceled"})
    assert delivered["status"] == "delivered", delivered
    assert [m["body"] for m in _at_carrier(server, patient, "crown")] == [
        "Your crown is ready for pickup."
    ]


def test_help_gets_one_reply_with_the_organization_name_phone_rates_and_opt_out_line(
    server: Server,
) -> None:
    clinic, number = _clinic(server, "Harbor Help Dental")
    org = clinic.call("PATCH", "/org", {"clinic_phone": CLINIC_PHONE}, expect=200).json()
    assert org["clinic_phone"] == "+14155550100", org
    patient = clinic.patient()

    _texts_in(server, patient, number, "HELP")
    _settled(clinic, patient, inbound=1)

    replies = _at_carrier(server, patient)
    assert len(replies) == 1, replies
    [reply] = replies
    assert reply["from"] == number
    for part in (
        "Harbor Help Dental",
        CLINIC_PHONE_DISPLAY,
        "Msg & data rates may apply",
        "Reply STOP to opt out",
    ):
        assert part in reply["body"], (part, reply["body"])
    assert [m["kind"] for m in _outbound(clinic, patient)] == ["keyword_reply"]
    # HELP changes nothing about consent.
    assert _consent(clinic, patient)["state"] == "opted_in"


def test_stop_with_spaces_is_a_keyword_a_sentence_is_not_and_a_plain_request_is_flagged_for_review(
    server: Server,
) -> None:
    clinic, number = _clinic(server, "Review Dental")
    keyword, sentence, other = clinic.patient(), clinic.patient(), clinic.patient()

    # " stop " (lower case, spaces around) is the STOP keyword.
    _texts_in(server, keyword, number, " stop ")
    consent = _consent(clinic, keyword)
    assert consent["state"] == "opted_out", consent
    assert consent["source"] == "keyword", consent
    assert clinic.get(f"/patients/{keyword.id}")["review_flag"] is None

    # "stop by tomorrow" is an ordinary sentence: no opt-out, no flag.
    _texts_in(server, sentence, number, "stop by tomorrow")
    assert _consent(clinic, sentence)["state"] == "opted_in"
    assert clinic.get(f"/patients/{sentence.id}")["review_flag"] is None
    assert sentence.id not in _flagged(clinic)

    # "please stop texting me" is flagged for staff, not silently ignored nor opted out.
    _texts_in(server, sentence, number, "please stop texting me")
    _texts_in(server, other, number, "please stop texting me")
    flagged = _flagged(clinic)
    assert set(flagged) == {sentence.id, other.id}, flagged
    row = flagged[sentence.id]
    assert row["review_flag"] == "revocation_review"
    assert "stop texting me" in row["review_phrase"], row
    [flagged_text] = [m for m in _inbound(clinic, sentence) if m["body"].startswith("please")]
    assert row["review_message_id"] == flagged_text["id"]
    assert _consent(clinic, sentence)["state"] == "opted_in"
    assert row["unread_count"] == 2, row

    # Staff confirm: opted out (free text), flag cleared.
    confirmed = clinic.post(
        f"/patients/{sentence.id}/revocation-review", {"decision": "confirm"}, expect=200
    ).json()
    assert confirmed["review_flag"] is None and confirmed["review_phrase"] is None, confirmed
    consent = _consent(clinic, sentence)
    assert consent["state"] == "opted_out", consent
    assert consent["source"] == "free_text", consent
    assert [e["source"] for e in consent["history"] if e["action"] == "opt_out"] == ["free_text"]

    # Staff dismiss the other: consent unchanged, flag cleared.
    dismissed = clinic.post(
        f"/patients/{other.id}/revocation-review", {"decision": "dismiss"}, expect=200
    ).json()
    assert dismissed["review_flag"] is None, dismissed
    consent = _consent(clinic, other)
    assert consent["state"] == "opted_in", consent
    assert [e["action"] for e in consent["history"]] == ["opt_in"]
    assert _flagged(clinic) == {}

    # Reading the conversation zeroes the unread count of the two texts.
    assert clinic.get(f"/patients/{sentence.id}")["unread_count"] == 2
    read = clinic.post(f"/patients/{sentence.id}/read", expect=200).json()
    assert read["unread_count"] == 0, read
    assert clinic.get(f"/patients/{sentence.id}")["unread_count"] == 0


# --- the lead number ----------------------------------------------------------------------------


def test_a_closed_lead_texting_the_lead_number_gets_one_auto_reply_a_day_and_the_lead_stays_closed(
    server: Server,
) -> None:
    clinic, _ = _clinic(server, "Lead Reply Dental")
    lead_number = fresh_sender()
    clinic.add_number(Number(lead_number, purpose="lead", mps=10))
    clinic.call("PATCH", "/org", {"clinic_phone": CLINIC_PHONE}, expect=200)
    patient = clinic.patient()
    won = clinic.call(
        "PUT",
        f"/patients/{patient.id}/lead",
        {"stage": "closed_won", "substatus": "scheduled"},
        expect=200,
    ).json()
    assert (won["stage"], won["active"]) == ("closed_won", False), won

    _texts_in(server, patient, lead_number, "Hi, I have a question about my bill")
    [reply] = wait_until(
        lambda: _at_carrier(server, patient),
        WAIT,
        "the lead auto-reply to reach the carrier",
        lambda: server.carrier_messages(),
    )
    assert reply["from"] == lead_number, reply
    assert CLINIC_PHONE_DISPLAY in reply["body"], reply

    # A second text within 24 hours gets no reply.
    _texts_in(server, patient, lead_number, "Hello again, are you there?")
    _settled(clinic, patient, inbound=2)
    # Compared by id: the carrier's status of the reply moves on meanwhile.
    sids = [m["sid"] for m in _at_carrier(server, patient)]
    assert sids == [reply["sid"]], server.carrier_messages(to=patient.phone)
    assert [m["kind"] for m in _outbound(clinic, patient)] == ["auto_reply"]

    # Both texts are stored, each with its commlog, and the lead is not reopened.
    inbound = _inbound(clinic, patient)
    assert sorted(m["body"] for m in inbound) == [
        "Hello again, are you there?",
        "Hi, I have a question about my bill",
    ]
    assert all(m["status"] == "received" and m["channel"] == "lead" for m in inbound), inbound
    commlogs = clinic.get("/commlogs", patient_id=patient.id)
    assert {c["message_id"] for c in commlogs if c["direction"] == "inbound"} == {
        m["id"] for m in inbound
    }, commlogs
    lead = clinic.get(f"/patients/{patient.id}/lead")
    assert (lead["stage"], lead["substatus"], lead["active"]) == ("closed_won", "scheduled", False)
    assert [h["stage"] for h in lead["history"]] == ["closed_won"], lead


# --- sending ------------------------------------------------------------------------------------


def test_a_text_still_queued_when_the_patient_texts_stop_is_canceled_and_never_reaches_the_carrier(
    server: Server,
) -> None:
    clinic, number = _clinic(server, "Outage Stop Dental")
    patient = clinic.patient()
    body = "Reminder: bring your insurance card on Friday."

    server.sim("/outage", {"mode": "down", "failure": "503"})
    message_id = clinic.send(patient, body)
    # The dispatcher tried once, the provider refused (503), and the text waits to retry.
    wait_until(
        lambda: (m := clinic.message(message_id))["status"] == "queued" and m["attempts"],
        WAIT,
        "a failed attempt while the provider is down",
        lambda: clinic.message(message_id),
    )

    _texts_in(server, patient, number, "STOP")
    canceled = clinic.message(message_id)
    assert canceled["status"] == "canceled", canceled
    assert _consent(clinic, patient)["state"] == "opted_out"

    server.sim("/outage", {"mode": "up"})
    wait_until(
        lambda: _at_carrier(server, patient, "unsubscribed"),
        WAIT,
        "the opt-out confirmation to reach the carrier once the provider is back",
        lambda: server.carrier_messages(to=patient.phone),
    )
    _settled(clinic, patient, inbound=1)

    final = clinic.message(message_id)
    assert final["status"] == "canceled", final
    assert final["provider_id"] is None, final
    assert [h["status"] for h in final["history"]][-1] == "canceled", final["history"]
    at_carrier = _at_carrier(server, patient)
    assert len(at_carrier) == 1, at_carrier
    assert "unsubscribed" in at_carrier[0]["body"]
    assert all(m["body"] != body for m in server.carrier_messages()), server.carrier_messages()


def test_a_patient_without_opt_in_who_texts_in_can_be_answered_by_staff_but_not_by_campaigns(
    server: Server,
) -> None:
    clinic, number = _clinic(server, "Conversation Dental")
    patient = clinic.patient(consent=False)
    error = _refused(clinic, patient, "Hello from the front desk")
    assert error["failed"] == ["consent"], error

    _texts_in(server, patient, number, "Hi, do you have any openings next week?")
    _settled(clinic, patient, inbound=1)
    assert _outbound(clinic, patient) == []  # not a keyword: nothing is sent by itself

    manual = clinic.get(f"/patients/{patient.id}/can-text", channel="clinic", kind="manual")
    consent = _check(manual, "consent")
    assert manual["can_text"] is True, manual
    assert consent["ok"] is True, consent
    assert "conversation" in consent["detail"], consent

    campaign = clinic.get(f"/patients/{patient.id}/can-text", channel="clinic", kind="campaign")
    assert campaign["can_text"] is False, campaign
    assert _check(campaign, "consent")["ok"] is False, campaign
    assert _consent(clinic, patient)["state"] == "none"

    message_id = clinic.send(patient, "Yes, Tuesday at 10am is open. Shall we book it?")
    delivered = clinic.wait_for(message_id, {"delivered", "undelivered", "failed", "canceled"})
    assert delivered["status"] == "delivered", delivered
    assert [m["from"] for m in _at_carrier(server, patient)] == [number]


def _window_closed_an_hour_ago(zone: str) -> dict[str, str]:
    """A send window that does not contain the current time in ``zone``."""
    now = datetime.now(ZoneInfo(zone))
    if now.hour >= 2:
        return {"start": "00:00", "end": f"{now.hour - 1:02d}:{now.minute:02d}"}
    return {"start": f"{now.hour + 2:02d}:00", "end": "23:00"}  # opens in two hours


def test_an_automated_text_outside_the_send_window_is_scheduled_but_a_staff_text_goes_now(
    server: Server,
) -> None:
    zone = "America/New_York"
    clinic, number = _clinic(server, "Window Dental")
    window = _window_closed_an_hour_ago(zone)
    org = clinic.call("PATCH", "/org", {"send_window": window}, expect=200).json()
    assert org["send_window"] == window, org
    created = clinic.post(
        "/patients",
        {"first_name": "Nora", "last_name": "East", "phone": fresh_phone(), "timezone": zone},
        expect=201,
    ).json()
    patient = Patient(int(created["id"]), created["phone"])
    clinic.post(
        f"/patients/{patient.id}/consent",
        {"action": "opt_in", "level": "informational", "source": "web_form", "evidence": "e2e"},
        expect=201,
    )
    automated_body = "Reminder: your cleaning is on Monday at 9am."

    held = clinic.post(
        "/messages",
        {
            "patient_id": patient.id,
            "channel": "clinic",
            "body": automated_body,
            "kind": "automated",
        },
        expect=202,
    ).json()
    assert (held["status"], held["kind"], held["label"]) == ("scheduled", "automated", "Pending")
    summary = clinic.message(held["id"])["diagnosis"]["summary"]
    assert "held for the send window" in summary.lower(), summary
    assert f"at {window['start']}" in summary and zone in summary, summary
    assert "from now" in summary, summary

    # A staff text at the same moment is not held.
    manual = clinic.post(
        "/messages",
        {"patient_id": patient.id, "channel": "clinic", "body": "Your x-rays look great."},
        expect=202,
    ).json()
    assert manual["status"] == "queued", manual
    delivered = clinic.wait_for(manual["id"], {"delivered", "undelivered", "failed", "canceled"})
    assert delivered["status"] == "delivered", delivered

    # The automated text is still waiting for the window, and the carrier never saw it.
    still = clinic.message(held["id"])
    assert still["status"] == "scheduled", still
    assert [h["status"] for h in still["history"]] == ["scheduled"], still["history"]
    assert [m["body"] for m in _at_carrier(server, patient)] == ["Your x-rays look great."]
    assert all(m["from"] == number for m in _at_carrier(server, patient))
