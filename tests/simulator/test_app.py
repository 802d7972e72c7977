"""The app as a whole: mounted under a prefix, deterministic SIDs, clean shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from twilio.request_validator import RequestValidator

from clinictext.simulator import SimulatorSettings, create_simulator, simulator_client
from tests.simulator.servers import Receiver, ServerThread, wait_until

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "mounted-token"
SENDER = "+15005550006"


def test_works_mounted_under_a_prefix() -> None:
    receiver = Receiver()
    with ServerThread(receiver.app) as recv:
        simulator = create_simulator(
            SimulatorSettings(
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                inbound_webhook_url=recv.url + "/sms",
                callback_delay_ms=(1, 3),
            )
        )

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with simulator.router.lifespan_context(simulator):
                yield

        async def home(request: object) -> PlainTextResponse:
            return PlainTextResponse("parent")

        parent = Starlette(
            routes=[Route("/", home), Mount("/simulator", app=simulator)], lifespan=lifespan
        )
        with ServerThread(parent) as server:
            base = server.url + "/simulator"
            client = simulator_client(base, ACCOUNT_SID, AUTH_TOKEN)
            sids = [
                client.messages.create(
                    to="+14155550101",
                    from_=SENDER,
                    body=f"n{i}",
                    status_callback=recv.url + "/status/mounted",
                ).sid
                for i in range(5)
            ]
            assert [m.sid for m in client.messages.list(page_size=2)] == sids[::-1]
            page = client.messages.page(page_size=2)
            assert page.next_page_url == base + page._payload["next_page_uri"]
            fetched = client.messages(sids[0]).fetch()
            assert fetched.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sids[0]}.json"

            got = receiver.wait_for("/status/mounted", lambda r: len(r) >= 10)
            validator = RequestValidator(AUTH_TOKEN)
            assert all(validator.validate(r.url, r.params, r.signature) for r in got)

            control = httpx.Client(base_url=base + "/_control")
            assert [m["sid"] for m in control.get("/messages").json()] == sids
            number = "+18335550100"
            control.post(f"/senders/{number}", json={})
            [incoming] = client.incoming_phone_numbers.list(phone_number=number)
            verifications = client.messaging.v1.tollfree_verifications.page(
                tollfree_phone_number_sid=incoming.sid
            )
            [verification] = list(verifications)
            assert verification.url == f"{base}/v1/Tollfree/Verifications/{verification.sid}"
            assert verifications._payload["meta"]["url"].startswith(base + "/v1/Tollfree/")
            answer = control.post(
                "/inbound", json={"from": "+14155550101", "to": SENDER, "body": "YES"}
            ).json()
            assert answer["status"] == 200
            assert httpx.get(server.url + "/").text == "parent"
            missing = httpx.get(base + "/2010-04-01/Nope.json")
            assert missing.status_code == 404 and missing.json()["code"] == 20404
            assert "/2010-04-01/Nope.json" in missing.json()["message"]
            assert "/simulator" not in missing.json()["message"]
            control.close()


def _sids(seed: int) -> list[str]:
    settings = SimulatorSettings(seed=seed, callback_delay_ms=(0, 0))
    with ServerThread(create_simulator(settings)) as server:
        client = simulator_client(server.url, settings.account_sid, settings.auth_token)
        sids = [
            client.messages.create(to="+14155550101", from_=SENDER, body=f"n{i}").sid
            for i in range(3)
        ]
        control = httpx.post(
            server.url + "/_control/inbound",
            json={"from": "+14155550101", "to": SENDER, "body": "x", "url": server.url + "/x"},
        )
        assert control.status_code == 200  # the simulator itself answers the webhook (404)
        sids.append(control.json()["sid"])
        return sids


def test_same_seed_same_sids() -> None:
    first = _sids(42)
    assert first == _sids(42)
    assert len(set(first)) == len(first)
    assert first != _sids(43)


def test_shutdown_cancels_pending_callbacks() -> None:
    receiver = Receiver()
    with ServerThread(receiver.app) as recv:
        settings = SimulatorSettings(callback_delay_ms=(60_000, 60_000))
        app = create_simulator(settings)
        with ServerThread(app) as server:
            client = simulator_client(server.url, settings.account_sid, settings.auth_token)
            client.messages.create(
                to="+14155550101", from_=SENDER, body="Hi", status_callback=recv.url + "/late"
            )
            simulator = app.state.simulator
            wait_until(lambda: simulator.callbacks.pending, lambda n: n == 1)
        assert simulator.callbacks.pending == 0
        assert simulator.callbacks._session is None
        assert receiver.requests() == []
