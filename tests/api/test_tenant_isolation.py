"""One organization's key can neither read nor change another organization's rows.

Every route of the API is exercised (a meta-test fails when a route is added without
being listed here): with organization B's key, organization A's rows are 404 or absent,
and A's data is byte-for-byte the same afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from clinictext.services import connector
from clinictext.store.db import transaction
from tests.api.helpers import textable_patient
from tests.conftest import Org

# An appointment start a month from now.
FUTURE = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()


def _created(a: Org, path: str, body: dict[str, Any]) -> int:
    answer = a.post(path, body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _seed_a(a: Org) -> dict[str, int]:
    pid = textable_patient(a, "(415) 555-0199")
    msg = a.post("/messages", {"patient_id": pid, "channel": "clinic", "body": "A's text"}).json()
    commlog = a.get("/commlogs", params={"patient_id": pid}).json()[0]
    number = a.get("/numbers").json()[0]
    reminder = {"name": "A's reminder", "purpose": "reminder", "body": "See you [ApptDate]."}
    tid = _created(a, "/templates", reminder)
    offer = {"name": "A's offer", "purpose": "campaign", "body": "A's news. Reply STOP to opt out."}
    campaign_template = _created(a, "/templates", offer)
    aid = _created(a, "/appointments", {"patient_id": pid, "starts_at": FUTURE})
    rule = {"name": "A's rule", "purpose": "reminder", "minutes_before": 60, "template_id": tid}
    rid = _created(a, "/rules", rule)
    campaign = {
        "name": "A's campaign",
        "template_id": campaign_template,
        "audience": {"patient_ids": [pid]},
    }
    kid = _created(a, "/campaigns", campaign)
    return {
        "pid": pid,
        "mid": msg["id"],
        "cid": commlog["id"],
        "nid": number["id"],
        "tid": tid,
        "aid": aid,
        "rid": rid,
        "kid": kid,
    }


def _snapshot(a: Org, ids: dict[str, int]) -> dict[str, Any]:
    pid = ids["pid"]
    return {
        path: a.get(path).json()
        for path in [
            "/org",
            "/numbers",
            "/patients",
            f"/patients/{pid}",
            f"/patients/{pid}/consent",
            f"/patients/{pid}/lead",
            f"/patients/{pid}/messages",
            f"/messages/{ids['mid']}",
            "/messages",
            "/commlogs",
            "/connector",
            f"/numbers/{ids['nid']}",
            "/templates",
            f"/templates/{ids['tid']}",
            "/appointments",
            f"/appointments/{ids['aid']}",
            "/rules",
            f"/rules/{ids['rid']}",
            "/campaigns",
            f"/campaigns/{ids['kid']}",
            f"/campaigns/{ids['kid']}/recipients",
        ]
    }


# (method, path template, body, expectation): "404", a status code, or what B must see.
PROBES: list[tuple[str, str, Any, str]] = [
    ("GET", "/org", None, "own_org"),
    ("PATCH", "/org", {"name": "Hijacked", "sms_enabled": False}, "own_org"),
    ("GET", "/numbers", None, "none_of_a"),
    ("GET", "/numbers/{nid}", None, "404"),
    ("POST", "/numbers", {"number": "+15005550006", "purpose": "lead"}, "409"),
    ("GET", "/patients", None, "none_of_a"),
    ("GET", "/patients?phone=(415) 555-0199", None, "none_of_a"),
    ("GET", "/patients?q=Pat", None, "none_of_a"),
    (
        "POST",
        "/patients",
        {"first_name": "B", "last_name": "Own", "phone": "(415) 555-0199"},
        "201",
    ),
    ("GET", "/patients/{pid}", None, "404"),
    ("PATCH", "/patients/{pid}", {"first_name": "Changed"}, "404"),
    ("GET", "/patients/{pid}/consent", None, "404"),
    ("POST", "/patients/{pid}/consent", {"action": "opt_out", "source": "staff"}, "404"),
    ("GET", "/patients/{pid}/lead", None, "404"),
    ("PUT", "/patients/{pid}/lead", {"stage": "closed_lost", "reason": "x"}, "404"),
    ("GET", "/patients/{pid}/can-text", None, "404"),
    ("GET", "/patients/{pid}/messages", None, "404"),
    ("POST", "/messages", {"patient_id": "{pid}", "channel": "clinic", "body": "hi"}, "404"),
    ("GET", "/messages", None, "none_of_a"),
    ("GET", "/messages?patient_id={pid}", None, "404"),
    ("GET", "/messages/{mid}", None, "404"),
    ("POST", "/messages/{mid}/cancel", None, "404"),
    ("GET", "/commlogs", None, "none_of_a"),
    ("GET", "/commlogs?patient_id={pid}", None, "404"),
    ("DELETE", "/commlogs/{cid}", None, "404"),
    ("GET", "/patients?flag=revocation_review", None, "none_of_a"),
    ("POST", "/patients/{pid}/revocation-review", {"decision": "confirm"}, "404"),
    ("POST", "/patients/{pid}/read", None, "404"),
    ("POST", "/patients/{pid}/merge", {"into": "{pid}"}, "404"),
    ("GET", "/connector", None, "own_connector"),
    ("POST", "/connector/acknowledge", None, "acknowledged_none"),
    ("POST", "/connector/refresh", None, "own_refresh"),
    ("GET", "/audit", None, "none_of_a_audit"),
    ("GET", "/audit?entity=patient&entity_id={pid}", None, "none_of_a_audit"),
    # A's name in a campaign text: B's lint must judge it by B's name, not A's.
    (
        "POST",
        "/lint",
        {"body": "Ready Clinic: hi. Reply STOP to opt out.", "kind": "campaign"},
        "own_lint",
    ),
    ("GET", "/templates", None, "none_of_a"),
    ("POST", "/templates", {"name": "B's", "purpose": "general", "body": "Hi [FName]"}, "201"),
    ("POST", "/templates/preview", {"body": "Hi [FName]", "purpose": "general"}, "200"),
    ("GET", "/templates/{tid}", None, "404"),
    ("PATCH", "/templates/{tid}", {"name": "Hijacked"}, "404"),
    ("DELETE", "/templates/{tid}", None, "404"),
    ("GET", "/appointments", None, "none_of_a"),
    ("POST", "/appointments", {"patient_id": "{pid}", "starts_at": FUTURE}, "404"),
    ("GET", "/appointments/{aid}", None, "404"),
    ("PATCH", "/appointments/{aid}", {"status": "canceled"}, "404"),
    ("GET", "/rules", None, "none_of_a"),
    (
        "POST",
        "/rules",
        {"name": "B", "purpose": "reminder", "minutes_before": 60, "template_id": "{tid}"},
        "404",
    ),
    ("GET", "/rules/{rid}", None, "404"),
    ("PATCH", "/rules/{rid}", {"enabled": False}, "404"),
    ("DELETE", "/rules/{rid}", None, "404"),
    ("GET", "/campaigns", None, "none_of_a"),
    (
        "POST",
        "/campaigns",
        {"name": "B", "template_id": "{tid}", "audience": {"all": True}},
        "404",
    ),
    ("POST", "/campaigns/audience-csv", {"csv": "patient_id\n{pid}\n"}, "no_patients"),
    ("GET", "/campaigns/{kid}", None, "404"),
    ("POST", "/campaigns/{kid}/start", None, "404"),
    ("POST", "/campaigns/{kid}/pause", None, "404"),
    ("POST", "/campaigns/{kid}/resume", None, "404"),
    ("POST", "/campaigns/{kid}/cancel", None, "404"),
    ("GET", "/campaigns/{kid}/preview", None, "404"),
    ("POST", "/campaigns/{kid}/preview", None, "404"),
    ("GET", "/campaigns/{kid}/recipients", None, "404"),
    ("GET", "/campaigns/{kid}/recipients.csv", None, "404"),
]

# Which id of A's each list would show if it leaked.
LIST_ID = {
    "/numbers": "nid",
    "/patients": "pid",
    "/messages": "mid",
    "/commlogs": "cid",
    "/templates": "tid",
    "/appointments": "aid",
    "/rules": "rid",
    "/campaigns": "kid",
}


def _filled(value: Any, ids: dict[str, int]) -> Any:
    """A probe's body value with A's ids put in: "{tid}" is A's template id, and so on."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, str) and "{pid}" in value:
        return value.replace("{pid}", str(ids["pid"]))
    return value


def _route_key(method: str, path: str) -> tuple[str, str]:
    return method, path.split("?")[0]


def test_every_api_route_is_probed(client: Any) -> None:
    probed = {
        _route_key(
            m,
            p.replace("{pid}", "{patient_id}")
            .replace("{mid}", "{message_id}")
            .replace("{cid}", "{commlog_id}")
            .replace("{nid}", "{number_id}")
            .replace("{tid}", "{template_id}")
            .replace("{aid}", "{appointment_id}")
            .replace("{rid}", "{rule_id}")
            .replace("{kid}", "{campaign_id}"),
        )
        for m, p, _, _ in PROBES
    }
    # The OpenAPI document lists every route, however the routers are nested.
    routes = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in client.app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    assert len(routes) > 20
    assert routes - probed == set()


def test_another_organizations_key_cannot_reach_its_rows(
    make_org: Any, ready_org: Org, factory: Any
) -> None:
    a = ready_org
    b: Org = make_org("Other Clinic")
    ids = _seed_a(a)
    with transaction(factory) as session:
        connector.note_error(session, a.id, "A's provider error", datetime.now(UTC))
    a_error_ids = {e["id"] for e in a.get("/connector").json()["errors"]}
    assert a_error_ids
    before = _snapshot(a, ids)
    a_entities = {
        ("patient", ids["pid"]),
        ("message", ids["mid"]),
        ("commlog", ids["cid"]),
        ("sender_number", ids["nid"]),
        ("organization", a.id),
        ("template", ids["tid"]),
        ("appointment", ids["aid"]),
        ("rule", ids["rid"]),
        ("campaign", ids["kid"]),
    }
    for method, template, body, expect in PROBES:
        path = template.format(**ids)
        if isinstance(body, dict):
            body = {k: _filled(v, ids) for k, v in body.items()}
        r = b.client.request(method, "/api/v1" + path, json=body, headers=b.headers)
        where = f"{method} {path}"
        if expect.isdigit():
            assert r.status_code == int(expect), where
            if expect == "404":
                assert r.json()["error"]["code"].endswith("not_found"), where
        elif expect == "own_org":
            assert r.status_code == 200, where
            assert r.json()["id"] == b.id, where
        elif expect == "own_connector":
            assert r.status_code == 200, where
            assert {e["id"] for e in r.json()["errors"]} & a_error_ids == set(), where
        elif expect == "own_refresh":
            assert r.status_code == 200, where
            assert r.json()["redriven"] == 0, where
        elif expect == "acknowledged_none":
            assert r.status_code == 200, where
            assert r.json() == {"acknowledged": 0}, where
        elif expect == "own_lint":
            assert r.status_code == 200, where
            assert [f["code"] for f in r.json()["findings"]] == ["missing_org_name"], where
        elif expect == "no_patients":
            assert r.status_code in (200, 422), where
            assert ids["pid"] not in r.json().get("patient_ids", []), where
        elif expect == "none_of_a":
            assert r.status_code == 200, where
            leaked_id = ids[LIST_ID[path.split("?")[0]]]
            assert all(row["id"] != leaked_id for row in r.json()), where
            assert all(row.get("patient_id") != ids["pid"] for row in r.json()), where
        else:
            assert r.status_code == 200, where
            seen = {(row["entity"], row["entity_id"]) for row in r.json()}
            assert not seen & a_entities, where
    assert _snapshot(a, ids) == before
