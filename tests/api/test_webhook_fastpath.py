"""Webhooks answered ahead of the framework give the routes' answers, and refuse the same.

Every case is posted twice: url-encoded, which the fast path answers, and as a multipart
form, which it leaves to the FastAPI route. The two must agree in status and body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from clinictext.api import webhooks
from clinictext.api.webhook_fastpath import WebhookFastPath
from clinictext.providers.factory import SIMULATOR_AUTH_TOKEN
from tests.api.test_webhooks import PUBLIC, queued_message, status_params
from tests.conftest import Org

pytestmark = pytest.mark.timeout(120)

INBOUND = "/webhooks/twilio/sms"
BOUNDARY = "fastpath-boundary"


def signature(path: str, params: dict[str, str]) -> str:
    return str(RequestValidator(SIMULATOR_AUTH_TOKEN).compute_signature(PUBLIC + path, params))


def multipart(params: dict[str, str]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in params.items()
    ]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


def post(org: Org, path: str, params: dict[str, str], *, fast: bool, sig: str | None = None) -> Any:
    headers = {"X-Twilio-Signature": signature(path, params) if sig is None else sig}
    if fast:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(params).encode()
    else:
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
        body = multipart(params)
    return org.client.post(path, content=body, headers=headers)


def answer(response: Any) -> tuple[int, str, str]:
    return response.status_code, response.headers.get("content-type", ""), response.text


def inbound(sid: str, body: str = "Thanks") -> dict[str, str]:
    return {"MessageSid": sid, "From": "+14155550123", "To": "+14155550100", "Body": body}


def test_status_callbacks_are_answered_alike(ready_org: Org) -> None:
    answers: dict[bool, list[tuple[int, str, str]]] = {}
    statuses = {}
    for fast in (True, False):
        m = queued_message(ready_org)
        path = f"/webhooks/twilio/status?mid={m['id']}"
        sid = f"SMfast{fast}"
        incomplete = {k: v for k, v in status_params(sid, "sent").items() if "Status" not in k}
        answers[fast] = [
            answer(post(ready_org, path, status_params(sid, "sent"), fast=fast)),
            answer(post(ready_org, path, status_params(sid, "sent"), fast=fast, sig="forged")),
            answer(post(ready_org, path, incomplete, fast=fast)),
            # Two ``mid``s: the last one counts, as Starlette reads a query.
            answer(
                post(
                    ready_org,
                    f"/webhooks/twilio/status?mid=0&mid={m['id']}",
                    status_params(sid, "delivered", "0"),
                    fast=fast,
                )
            ),
        ]
        detail = ready_org.get(f"/messages/{m['id']}").json()
        statuses[fast] = (detail["status"], [h["status"] for h in detail["history"]])
    assert answers[True] == answers[False]
    assert [a[0] for a in answers[True]] == [204, 403, 400, 204]
    assert statuses[True] == statuses[False] == ("delivered", ["queued", "sent", "delivered"])


def test_inbound_texts_are_answered_alike(ready_org: Org, rows: Any) -> None:
    answers: dict[bool, list[tuple[int, str, str]]] = {}
    for fast in (True, False):
        sid = f"SMin{fast}"
        missing_from = {k: v for k, v in inbound(sid).items() if k != "From"}
        before = rows()
        first = answer(post(ready_org, INBOUND, inbound(sid), fast=fast))
        stored = rows()
        assert stored != before
        answers[fast] = [
            first,
            answer(post(ready_org, INBOUND, inbound(sid), fast=fast)),  # a duplicate
            answer(post(ready_org, INBOUND, missing_from, fast=fast)),
            answer(post(ready_org, INBOUND, inbound(sid + "x"), fast=fast, sig="")),
        ]
        assert rows() == stored  # stored once; the refusals changed nothing
    assert answers[True] == answers[False]
    assert [a[0] for a in answers[True]] == [200, 200, 400, 403]


@pytest.fixture
def routeless(ready_org: Org) -> Iterator[Org]:
    """The app without its webhook routes: what still answers is the fast path."""
    router = ready_org.client.app.router  # type: ignore[attr-defined]
    kept = list(router.routes)
    hooks = webhooks.router
    router.routes[:] = [r for r in kept if getattr(r, "original_router", None) is not hooks]
    assert len(router.routes) == len(kept) - 1
    try:
        yield ready_org
    finally:
        router.routes[:] = kept


def test_the_fast_path_answers_without_the_routes(routeless: Org) -> None:
    app = routeless.client.app  # type: ignore[attr-defined]
    assert app.user_middleware[0].cls is WebhookFastPath  # outermost
    m = queued_message(routeless)
    path = f"/webhooks/twilio/status?mid={m['id']}"
    assert post(routeless, path, status_params("SMr", "delivered"), fast=True).status_code == 204
    assert routeless.get(f"/messages/{m['id']}").json()["status"] == "delivered"
    assert post(routeless, INBOUND, inbound("SMr2"), fast=True).status_code == 200
    # What it leaves to the app finds no route here.
    assert post(routeless, INBOUND, inbound("SMr3"), fast=False).status_code in (404, 405)


def test_what_the_fast_path_leaves_is_refused_as_before(ready_org: Org, rows: Any) -> None:
    m = queued_message(ready_org)
    params = status_params("SMz", "delivered")
    before = rows()
    nul = f"/webhooks/twilio/status?mid={m['id']}%00"
    r = post(ready_org, nul, params, fast=True)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_request")
    big = urlencode(params) + "&Pad=" + "x" * 1_000_001
    path = f"/webhooks/twilio/status?mid={m['id']}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(path, params),
    }
    r = ready_org.client.post(path, content=big, headers=headers)
    assert (r.status_code, r.json()["error"]["code"]) == (413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield urlencode(params).encode()
        for _ in range(20):
            yield b"&Pad=" + b"x" * 100_000

    r = ready_org.client.post(path, content=chunks(), headers=headers)
    assert (r.status_code, r.json()["error"]["code"]) == (413, "payload_too_large")
    too_many = "&".join(f"f{i}=1" for i in range(1001))
    r = ready_org.client.post(path, content=too_many, headers=headers)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "malformed_form")
    assert ready_org.client.get(path).status_code == 405
    assert rows() == before


def test_a_failure_inside_is_503_with_retry_after(
    ready_org: Org, rows: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ready_org.client.app  # type: ignore[attr-defined]

    def broken(params: Any) -> Any:
        raise RuntimeError("parser crashed")

    monkeypatch.setattr(app.state.provider, "parse_status", broken)
    m = queued_message(ready_org)
    before = rows()
    path = f"/webhooks/twilio/status?mid={m['id']}"
    r = post(ready_org, path, status_params("SMe", "delivered"), fast=True)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "webhook_not_recorded"
    assert r.headers["Retry-After"]
    assert rows() == before
