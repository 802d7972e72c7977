"""POST /api/v1/lint: the deliverability lint with the caller's own link policy and name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clinictext.api.middleware import MAX_BODY_BYTES
from clinictext.api.v1.lint import MAX_LINT_CHARS
from tests.conftest import Org


def lint(org: Org, body: str, kind: str = "manual") -> dict[str, Any]:
    r = org.post("/lint", {"body": body, "kind": kind})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def codes(answer: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in answer["findings"]}


def test_a_plain_text_has_no_findings(make_org: Any) -> None:
    answer = lint(make_org(), "Hi Ana, see you tomorrow at 3:00 PM.")
    assert answer == {
        "encoding": "GSM-7",
        "segments": 1,
        "characters": 36,
        "per_segment": 160,
        "findings": [],
        "blocked": False,
        "ucs2_characters": [],
        "gsm7_rewrite": None,
        "gsm7_rewrite_segments": None,
    }


def test_ucs2_names_the_characters_and_offers_the_rewrite(make_org: Any) -> None:
    body = "We\u2019re open today \u2014 call us " + "a" * 60
    answer = lint(make_org(), body)
    assert (answer["encoding"], answer["segments"], answer["characters"]) == ("UCS-2", 2, 87)
    assert answer["ucs2_characters"] == ["\u2019", "\u2014"]
    assert answer["gsm7_rewrite"] == "We're open today - call us " + "a" * 60
    assert answer["gsm7_rewrite_segments"] == 1
    finding = answer["findings"][0]
    assert finding["code"] == "ucs2_characters"
    assert finding["severity"] == "warning"
    assert finding["matches"] == ["\u2019", "\u2014"]
    assert finding["message"] and finding["suggestion"]
    assert codes(answer) == {"ucs2_characters": "warning", "long_message": "info"}


def test_links_follow_the_organizations_policy_in_staff_texts_only(make_org: Any) -> None:
    org = make_org()
    text = "Forms: https://smile.example.com/forms"
    assert codes(lint(org, text)) == {"link": "warning"}
    assert org.patch("/org", {"url_policy": "block"}).status_code == 200
    blocked = lint(org, text)
    assert codes(blocked) == {"link": "block"}
    assert blocked["blocked"] is True
    assert blocked["findings"][0]["matches"] == ["https://smile.example.com/forms"]
    assert codes(lint(org, text, "automated")) == {"link": "info"}
    assert codes(lint(org, "Book: bit.ly/3smile", "automated")) == {"link_shortener": "warning"}


def test_campaign_texts_must_name_this_organization(make_org: Any) -> None:
    org = make_org("Lakeside Clinic")
    answer = lint(org, "Smile Dental: whitening is 20% off. Reply STOP to opt out.", "campaign")
    assert codes(answer) == {"missing_org_name": "warning"}
    assert "Lakeside Clinic" in answer["findings"][0]["message"]
    ok = lint(org, "Lakeside Clinic: whitening is 20% off. Reply STOP to opt out.", "campaign")
    assert ok["findings"] == []
    assert codes(lint(org, "Lakeside Clinic: 20% off whitening.", "campaign")) == {
        "missing_opt_out": "warning"
    }


def test_a_body_too_long_to_send_is_linted_as_a_block(make_org: Any) -> None:
    answer = lint(make_org(), "a" * MAX_LINT_CHARS)
    assert codes(answer) == {"cannot_send": "block", "long_message": "warning"}
    assert answer["segments"] == 105


def test_lint_writes_nothing(make_org: Any, rows: Any) -> None:
    org = make_org()
    before = rows()
    lint(org, "FREE whitening [ConfirmURL]", "campaign")
    assert rows() == before


def test_lint_needs_an_api_key(make_org: Any) -> None:
    org = make_org()
    r = org.client.post("/api/v1/lint", json={"body": "hi", "kind": "manual"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        pytest.param({"kind": "manual"}, 422, "invalid_request", "body", id="missing-body"),
        pytest.param({"body": "hi"}, 422, "invalid_request", "kind", id="missing-kind"),
        pytest.param(
            {"body": "hi", "kind": "sms"}, 422, "invalid_request", "kind", id="wrong-kind"
        ),
        pytest.param({"body": "hi", "kind": 1}, 422, "invalid_request", "kind", id="kind-int"),
        pytest.param({"body": 42, "kind": "manual"}, 422, "invalid_request", "body", id="body-int"),
        pytest.param(
            {"body": None, "kind": "manual"}, 422, "invalid_request", "body", id="body-null"
        ),
        pytest.param(
            {"body": ["hi"], "kind": "manual"}, 422, "invalid_request", "body", id="body-list"
        ),
        pytest.param(
            {"body": "hi", "kind": "manual", "org_id": 1},
            422,
            "invalid_request",
            "org_id",
            id="unknown-field",
        ),
        pytest.param(
            {"body": "a" * (MAX_LINT_CHARS + 1), "kind": "manual"},
            422,
            "invalid_request",
            "body",
            id="over-lint-cap",
        ),
        pytest.param("hi", 422, "invalid_request", None, id="not-an-object"),
        pytest.param([], 422, "invalid_request", None, id="a-list"),
    ],
)
def test_bad_input_is_a_4xx_in_the_error_shape(
    make_org: Any, payload: Any, status: int, code: str, field: str | None
) -> None:
    r = make_org().post("/lint", payload)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert field in {p["field"] for p in error["fields"]}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        pytest.param(b'{"body": "hi",', "application/json", 400, "malformed_json", id="bad-json"),
        pytest.param(
            b'{"body": "\\ud83d", "kind": "manual"}',
            "application/json",
            422,
            "invalid_text",
            id="lone-surrogate",
        ),
        pytest.param(
            b"body=hi&kind=manual",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
            id="form",
        ),
        pytest.param(
            json.dumps({"body": "a" * MAX_BODY_BYTES, "kind": "manual"}).encode(),
            "application/json",
            413,
            "payload_too_large",
            id="over-request-cap",
        ),
    ],
)
def test_unreadable_bodies_are_a_4xx_in_the_error_shape(
    make_org: Any, content: bytes, content_type: str, status: int, code: str
) -> None:
    org = make_org()
    headers = {**org.headers, "Content-Type": content_type}
    r = org.client.post("/api/v1/lint", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
