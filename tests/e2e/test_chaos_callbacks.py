"""Duplicated and reordered status callbacks cannot move a text backwards or record a status
twice: every text ends in its true final status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import (
    FINAL,
    Clinic,
    Number,
    Server,
    assert_history_forward_only,
    fresh_sender,
    sqlite_server,
    statuses,
    wait_until,
)

DUPLICATES = 3
OK_PATIENTS, TEXTS_EACH = 10, 2
LANDLINE_PATIENTS = 10  # one text each: the first 30006 flags the phone, refusing any more


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "chaos") as s:
        yield s


@pytest.fixture(scope="module")
def clinic(server: Server) -> Clinic:
    return server.new_clinic("Chaos Clinic", [Number(fresh_sender(), mps=100)])


@pytest.fixture(autouse=True)
def _fresh_simulator(server: Server) -> None:
    server.reset_simulator()


def test_duplicated_and_reordered_callbacks_leave_every_text_in_its_true_final_status(
    server: Server, clinic: Clinic
) -> None:
    chaos = server.sim("/chaos", {"duplicate_callbacks": DUPLICATES, "reorder": True})
    assert (chaos["duplicate_callbacks"], chaos["reorder"]) == (DUPLICATES, True)
    ok = [clinic.patient() for _ in range(OK_PATIENTS)]
    landlines = [clinic.patient() for _ in range(LANDLINE_PATIENTS)]
    for patient in landlines:
        server.sim(f"/numbers/{patient.phone}", {"persona": "landline"})

    expected: dict[int, tuple[str, str | None]] = {}
    for round_ in range(TEXTS_EACH):
        for n, patient in enumerate(ok):
            body = f"Reminder {round_}-{n}: your appointment is on Friday."
            expected[clinic.send(patient, body)] = ("delivered", None)
    for n, patient in enumerate(landlines):
        expected[clinic.send(patient, f"Landline text {n}: please call us.")] = (
            "undelivered",
            "30006",
        )
    assert len(expected) == 30

    clinic.wait_all(expected, FINAL, timeout=40)

    # Let the simulator finish every copy of every callback: 2 statuses x (1 + duplicates).
    sids = {i: clinic.message(i)["provider_id"] for i in expected}
    per_message = 2 * (1 + DUPLICATES)

    def all_callbacks_answered() -> list[dict[str, Any]] | None:
        calls: list[dict[str, Any]] = server.sim("/callbacks")
        answered = Counter(c["sid"] for c in calls if c["http_status"] is not None)
        done = all(answered[sid] >= per_message for sid in sids.values())
        return calls if done else None

    calls = wait_until(all_callbacks_answered, 30, "every callback copy to be answered")
    refused = [c for c in calls if c["http_status"] != 204]
    assert refused == [], refused

    for message_id, (status, code) in expected.items():
        message = clinic.message(message_id)
        assert (message["status"], message["error_code"]) == (status, code), message
        assert message["label"] == ("Delivered" if status == "delivered" else "Failed")
        assert_history_forward_only(message)
        assert statuses(message)[:2] == ["queued", "sending"], message["history"]
        assert statuses(message)[-1] == status, message["history"]
        assert message["provider_id"] == sids[message_id]

    carrier = {m["sid"]: m for m in server.carrier_messages()}
    for message_id, (status, _) in expected.items():
        assert carrier[sids[message_id]]["status"] == status
    for patient in landlines:
        assert clinic.get(f"/patients/{patient.id}")["phone_status"] == "landline"
    for patient in ok:
        assert clinic.get(f"/patients/{patient.id}")["phone_status"] == "valid"
