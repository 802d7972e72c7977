"""Bad input gets a 4xx with an error code and a sentence, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import textable_patient
from tests.conftest import Org

HUGE = 2**63  # one past the largest id a database column can hold

# (method, path, json body or raw bytes, expected status, expected error code)
CASES: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/patients", b"{not json", 400, "malformed_json"),
    ("POST", "/patients", b"", 422, "invalid_request"),
    ("POST", "/patients", [1, 2], 422, "invalid_request"),
    ("POST", "/patients", "just a string", 422, "invalid_request"),
    ("POST", "/patients", {"first_name": "A"}, 422, "invalid_request"),
    ("POST", "/patients", {"first_name": 5, "last_name": "B"}, 422, "invalid_request"),
    (
        "POST",
        "/patients",
        {"first_name": "A", "last_name": "B", "fone": "1"},
        422,
        "invalid_request",
    ),
    (
        "POST",
        "/patients",
        {"first_name": "A", "last_name": "B", "phone": "12"},
        422,
        "invalid_phone",
    ),
    (
        "POST",
        "/patients",
        {"first_name": "A", "last_name": "B", "phone": "+1 555"},
        422,
        "invalid_phone",
    ),
    (
        "POST",
        "/patients",
        {"first_name": "A", "last_name": "B", "phone": "call me"},
        422,
        "invalid_phone",
    ),
    (
        "POST",
        "/patients",
        {"first_name": "A", "last_name": "B", "phone": 4155550123},
        422,
        "invalid_request",
    ),
    ("POST", "/patients", {"first_name": "", "last_name": ""}, 422, "invalid_name"),
    ("POST", "/patients", {"first_name": "A\u0000", "last_name": "B"}, 422, "invalid_request"),
    ("POST", "/patients", {"first_name": "A" * 101, "last_name": "B"}, 422, "invalid_request"),
    (
        "POST",
        "/patients",
        {"first_name": "A", "last_name": "B", "timezone": "Mars/Base"},
        422,
        "invalid_timezone",
    ),
    ("GET", "/patients/999999", None, 404, "patient_not_found"),
    ("GET", "/patients/0", None, 422, "invalid_request"),
    ("GET", "/patients/abc", None, 422, "invalid_request"),
    ("GET", f"/patients/{HUGE}", None, 422, "invalid_request"),
    ("GET", "/patients?limit=0", None, 422, "invalid_request"),
    ("GET", "/patients?limit=100000", None, 422, "invalid_request"),
    ("GET", "/patients?cursor=xyz", None, 422, "invalid_cursor"),
    ("GET", "/patients?phone=12", None, 422, "invalid_phone"),
    ("PATCH", "/patients/999999", {"first_name": "X"}, 404, "patient_not_found"),
    ("PATCH", "/patients/{pid}", {"phone": "12"}, 422, "invalid_phone"),
    ("PATCH", "/patients/{pid}", {"first_name": None}, 422, "invalid_request"),
    ("PATCH", "/patients/{pid}", {"id": 7}, 422, "invalid_request"),
    ("POST", "/patients/{pid}/consent", {"action": "maybe"}, 422, "invalid_request"),
    ("POST", "/patients/{pid}/consent", {"action": "opt_in"}, 422, "invalid_source"),
    (
        "POST",
        "/patients/{pid}/consent",
        {"action": "opt_in", "source": "keyword"},
        409,
        "opt_in_refused",
    ),
    (
        "POST",
        "/patients/{pid}/consent",
        {"action": "opt_in", "source": "rumour"},
        422,
        "invalid_source",
    ),
    (
        "POST",
        "/patients/{pid}/consent",
        {"action": "opt_in", "level": "all", "source": "verbal"},
        422,
        "invalid_request",
    ),
    (
        "POST",
        "/patients/{pid}/consent",
        {"action": "opt_out", "source": "gossip"},
        422,
        "invalid_source",
    ),
    ("POST", "/patients/999999/consent", {"action": "opt_out"}, 404, "patient_not_found"),
    ("PUT", "/patients/{pid}/lead", {"stage": "won"}, 422, "invalid_request"),
    ("PUT", "/patients/{pid}/lead", {"stage": "closed_lost"}, 422, "invalid_lead_change"),
    ("PUT", "/patients/{pid}/lead", {"stage": "open", "reason": "x"}, 422, "invalid_lead_change"),
    ("GET", "/patients/{pid}/can-text?channel=fax", None, 422, "invalid_request"),
    ("GET", "/patients/{pid}/can-text?kind=spam", None, 422, "invalid_request"),
    ("GET", "/patients/999999/can-text", None, 404, "patient_not_found"),
    (
        "POST",
        "/messages",
        {"patient_id": "{pid}", "channel": "clinic", "body": ""},
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": "{pid}", "channel": "clinic", "body": "   \n "},
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": "{pid}", "channel": "clinic", "body": "x" * 2000},
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": "{pid}", "channel": "clinic", "body": "a\u0000b"},
        422,
        "invalid_body",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": "{pid}", "channel": "clinic", "body": 5},
        422,
        "invalid_request",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": "{pid}", "channel": "sms", "body": "hi"},
        422,
        "invalid_request",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": 999999, "channel": "clinic", "body": "hi"},
        404,
        "patient_not_found",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": "7", "channel": "clinic", "body": "hi"},
        422,
        "invalid_request",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": HUGE, "channel": "clinic", "body": "hi"},
        422,
        "invalid_request",
    ),
    (
        "POST",
        "/messages",
        {"patient_id": -1, "channel": "clinic", "body": "hi"},
        422,
        "invalid_request",
    ),
    ("POST", "/messages", {"channel": "clinic", "body": "hi"}, 422, "invalid_request"),
    ("GET", "/messages/999999", None, 404, "message_not_found"),
    ("GET", "/messages?status=lost", None, 422, "invalid_request"),
    ("GET", "/messages?patient_id=999999", None, 404, "patient_not_found"),
    ("POST", "/numbers", {"number": "12", "purpose": "lead"}, 422, "invalid_number"),
    ("POST", "/numbers", {"number": "+15005550006", "purpose": "fax"}, 422, "invalid_request"),
    (
        "POST",
        "/numbers",
        {"number": "+15005550006", "purpose": "lead", "mps": 0},
        422,
        "invalid_request",
    ),
    (
        "POST",
        "/numbers",
        {"number": "+15005550006", "purpose": "lead"},
        409,
        "number_already_registered",
    ),
    (
        "POST",
        "/numbers",
        {"number": "12ab", "purpose": "lead", "kind": "short_code"},
        422,
        "invalid_number",
    ),
    ("GET", "/numbers/999999", None, 404, "number_not_found"),
    ("PATCH", "/org", {"sms_enabled": "yes"}, 422, "invalid_request"),
    ("PATCH", "/org", {"messaging_registration": "done"}, 422, "invalid_request"),
    ("PATCH", "/org", {"timezone": "Nowhere"}, 422, "invalid_timezone"),
    ("PATCH", "/org", {"clinic_phone": "12"}, 422, "invalid_phone"),
    (
        "PATCH",
        "/org",
        {"send_window": {"start": "21:00", "end": "08:00"}},
        422,
        "invalid_send_window",
    ),
    ("PATCH", "/org", {"send_window": {"start": "8am!!", "end": "21:00"}}, 422, "invalid_time"),
    ("PATCH", "/org", {"manual_spend_limit_usd": -5}, 422, "invalid_request"),
    ("PATCH", "/org", {"owner": "me"}, 422, "invalid_request"),
    ("PATCH", "/org", {"replies": {"opt_out": "{org}: bye"}}, 422, "invalid_reply"),
    ("PATCH", "/org", {"replies": {"help": "Call {phone} or {website}"}}, 422, "invalid_reply"),
    ("PATCH", "/org", {"replies": {"goodbye": "x"}}, 422, "invalid_request"),
    ("PATCH", "/org", {"automated_daily_cap": 0}, 422, "invalid_request"),
    (
        "POST",
        "/patients/{pid}/revocation-review",
        {"decision": "confirm"},
        409,
        "nothing_to_review",
    ),
    ("POST", "/patients/{pid}/revocation-review", {"decision": "maybe"}, 422, "invalid_request"),
    ("POST", "/patients/999999/read", None, 404, "patient_not_found"),
    ("GET", "/patients?flag=vip", None, 422, "invalid_request"),
    (
        "POST",
        "/messages",
        {"patient_id": "{pid}", "channel": "clinic", "body": "hi", "kind": "campaign"},
        422,
        "invalid_request",
    ),
    ("DELETE", "/commlogs/999999", None, 404, "commlog_not_found"),
    ("GET", "/commlogs?patient_id=999999", None, 404, "patient_not_found"),
    ("GET", "/nowhere", None, 404, "not_found"),
    ("PUT", "/messages", {"x": 1}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), CASES)
def test_bad_request_gets_a_clear_error_and_changes_nothing(
    ready_org: Org, rows: Any, method: str, path: str, body: Any, status: int, code: str
) -> None:
    pid = textable_patient(ready_org)
    path = path.replace("{pid}", str(pid))
    if isinstance(body, dict):
        body = {k: (pid if v == "{pid}" else v) for k, v in body.items()}
    before = rows()
    kwargs: dict[str, Any] = {}
    if isinstance(body, bytes):
        kwargs["content"] = body
        kwargs["headers"] = {**ready_org.headers, "Content-Type": "application/json"}
    elif body is not None:
        kwargs["json"] = body
    kwargs.setdefault("headers", ready_org.headers)
    r = ready_org.client.request(method, "/api/v1" + path, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and len(error["message"]) > 15
    assert error["message"][0].isupper() or error["message"][0] in "'\""
    assert rows() == before


def test_form_encoded_body_is_told_to_send_json(ready_org: Org, rows: Any) -> None:
    before = rows()
    r = ready_org.client.post(
        "/api/v1/patients",
        content=b"first_name=A&last_name=B",
        headers={**ready_org.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert "application/json" in r.json()["error"]["message"]
    assert rows() == before


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer ct_wrong"}, "invalid_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_authorization"),
        ({"Authorization": "Bearer"}, "invalid_authorization"),
        ({"Authorization": "Bearer " + "x" * 5000}, "invalid_api_key"),
    ],
)
def test_missing_or_wrong_api_key_is_401(
    ready_org: Org, rows: Any, headers: dict[str, str], code: str
) -> None:
    before = rows()
    for method, path, body in [
        ("GET", "/api/v1/org", None),
        ("POST", "/api/v1/patients", {"first_name": "A", "last_name": "B"}),
        # Input refused as well: the key is still what the caller hears about first.
        ("POST", "/api/v1/patients", {"first_name": 7}),
        ("GET", "/api/v1/messages/0", None),
        ("GET", "/api/v1/patients?limit=many", None),
    ]:
        r = ready_org.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == code
        assert r.headers["www-authenticate"] == "Bearer"
    assert rows() == before
