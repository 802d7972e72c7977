"""No text reaches the patient after their STOP, however many are on their way.

50 texts are sent to one patient at once, and while the dispatcher is handing them to the
carrier (some claimed and waiting for their pacing slot, some with the carrier) the
patient texts STOP through the simulator (a signed webhook). From the moment the STOP is
answered, the carrier accepts exactly one more text for that patient: the confirmation.
Every other text either went out before the opt-out was recorded (it was handed over:
its last consent check committed first) or is canceled with that reason; none is left
pending. Wall-clock times of two transactions are taken before each waits for the lock,
so the order of commits, not of timestamps, is what the test checks.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from clinictext.store.db import make_engine, session_factory, transaction
from clinictext.store.models import ConsentEventRow, Message
from tests.e2e.harness import Number, Server, fresh_sender, sqlite_server, wait_until

pytestmark = pytest.mark.timeout(240)
TEXTS = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "stop-race") as s:
        yield s


@pytest.mark.parametrize("mps", [1, 50])
def test_after_a_stop_is_answered_only_the_confirmation_reaches_the_carrier(
    server: Server, mps: int
) -> None:
    number = fresh_sender()
    clinic = server.new_clinic(f"Race Clinic {mps}", [Number(number, mps=mps)])
    patient = clinic.patient()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda n: clinic.send(patient, f"Visit note {n % 3}"), range(TEXTS)))
    wait_until(
        lambda: len(server.carrier_messages(to=patient.phone)) >= 2,
        60,
        "the first texts to reach the carrier",
    )
    server.sim("/inbound", {"from": patient.phone, "to": number, "body": "STOP"})
    # The confirmation may already be with the carrier by now: it is told apart by its
    # words, everything else here reached the carrier before the STOP was answered.
    before = {
        m["sid"]
        for m in server.carrier_messages(to=patient.phone)
        if "unsubscribed" not in m["body"].lower()
    }

    def settled() -> list[dict] | None:
        rows = [clinic.message(i) for i in ids]
        pending = [m for m in rows if m["status"] in ("scheduled", "queued", "sending")]
        return None if pending else rows

    rows = wait_until(settled, 90, "every text to be sent or canceled")
    wait_until(
        lambda: any(
            "unsubscribed" in m["body"].lower() for m in server.carrier_messages(to=patient.phone)
        ),
        60,
        "the opt-out confirmation to reach the carrier",
    )
    after = [m for m in server.carrier_messages(to=patient.phone) if m["sid"] not in before]
    assert len(after) == 1 and "unsubscribed" in after[0]["body"].lower(), after

    canceled = [m for m in rows if m["status"] == "canceled"]
    went = [m for m in rows if m["provider_id"]]
    assert len(canceled) + len(went) == TEXTS
    assert all("opted out" in (m["error_message"] or "") for m in canceled), canceled[:2]
    assert {m["provider_id"] for m in went} <= before
    # In the database: whatever went out was handed over (its last consent check passed,
    # committed before the opt-out's); the rest never reached the provider.
    engine = make_engine(server.db_url)
    try:
        with transaction(session_factory(engine)) as s:
            opted_out = s.scalar(
                select(ConsentEventRow.id).where(
                    ConsentEventRow.organization_id == clinic.org_id,
                    ConsentEventRow.action == "opt_out",
                )
            )
            handed = dict(
                s.execute(
                    select(Message.id, Message.handed_at).where(
                        Message.id.in_([m["id"] for m in rows])
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert opted_out is not None
    assert all(handed[m["id"]] is not None for m in went)
    assert all(handed[m["id"]] is None for m in canceled)
