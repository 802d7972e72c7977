"""`/api/v1/campaigns` on both databases: the contract's shapes, refusals that name their
field or reason and write nothing, the report and its CSV, and another organization's 404."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.api.helpers import add_patient, opt_in
from tests.conftest import Org


@pytest.fixture
def org(ready_org: Org) -> Org:
    """Six patients: three can get a campaign, three cannot (each for its own reason)."""
    ready_org.ids = {}  # type: ignore[attr-defined]
    for name, phone, level in [
        ("ana", "(415) 555-0201", "marketing"),
        ("bo", "(415) 555-0202", "marketing"),
        ("cy", "(415) 555-0203", "marketing"),
        ("di", "(415) 555-0204", "informational"),
        ("ed", "(415) 555-0205", None),
        ("fi", None, None),
    ]:
        pid = add_patient(ready_org, phone, first_name=name.capitalize())
        if level:
            opt_in(ready_org, pid, level)
        ready_org.ids[name] = pid  # type: ignore[attr-defined]
    r = ready_org.post(
        "/templates",
        {"name": "Offer", "purpose": "campaign", "body": "Hi [FName], cleanings are 10% off."},
    )
    assert r.status_code == 201, r.text
    ready_org.template_id = r.json()["id"]  # type: ignore[attr-defined]
    return ready_org


def campaign(org: Org, **changes: Any) -> Any:
    body = {"name": "Spring", "template_id": org.template_id, "audience": {"all": True}}  # type: ignore[attr-defined]
    body.update(changes)
    return org.post("/campaigns", body)


def test_create_answers_the_draft_with_its_preview(org: Org) -> None:
    r = campaign(org)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["status"] == "draft"
    assert data["preview"] == {
        "recipients": 3,
        "skipped": 3,
        "skip_reasons": {"phone": 1, "consent": 3},
    }
    assert data["channel"] == "lead"
    assert data["audience"] == {"all": True}
    assert set(data["counts"]) >= {
        "recipients",
        "skipped",
        "queued",
        "scheduled",
        "sent",
        "delivered",
        "failed",
        "canceled",
    }
    assert org.get(f"/campaigns/{data['id']}").json() == data
    listed = org.get("/campaigns").json()
    assert [c["id"] for c in listed] == [data["id"]]


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        (
            {"audience": {"all": True, "everyone": True}},
            422,
            "invalid_request",
            "audience.everyone",
        ),
        ({"audience": {"all": False}}, 422, "invalid_request", "audience.all"),
        ({"audience": {"lead_stages": ["won"]}}, 422, "invalid_request", "audience.lead_stages.0"),
        ({"audience": {"patient_ids": [0]}}, 422, "invalid_request", "audience.patient_ids.0"),
        ({"audience": {}}, 422, "invalid_audience", "audience"),
        ({"audience": {"patient_ids": [987654]}}, 422, "no_recipients", "audience"),
        ({"audience": {"lead_stages": ["open"]}}, 422, "no_recipients", "audience"),
        ({"send_at": "2026-12-01T09:00:00"}, 422, "invalid_time", "send_at"),
        ({"send_at": "2020-01-01T09:00:00Z"}, 422, "invalid_campaign", "send_at"),
        ({"send_at": "tomorrow"}, 422, "invalid_time", "send_at"),
        ({"template_id": 987654}, 404, "template_not_found", None),
        ({"channel": "sms"}, 422, "invalid_request", "channel"),
        ({"name": ""}, 422, "invalid_request", "name"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    org: Org, rows: Any, change: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    before = rows()
    r = campaign(org, **change)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        fields = [f["field"] for f in error.get("fields", [])] or [error.get("field")]
        assert field in fields, error
    assert rows() == before


def test_a_reminder_template_is_refused_for_a_campaign(org: Org) -> None:
    r = org.post(
        "/templates",
        {"name": "Rem", "purpose": "reminder", "body": "See you [ApptDate] at [ApptTime]."},
    )
    refused = campaign(org, template_id=r.json()["id"])
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_template"
    assert refused.json()["error"]["field"] == "template_id"


def test_start_pause_resume_cancel_and_the_refusals_between(org: Org) -> None:
    cid = campaign(org).json()["id"]
    started = org.post(f"/campaigns/{cid}/start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "running"
    counts = started.json()["counts"]
    assert counts["queued"] + counts["scheduled"] == 3  # scheduled outside the send window
    again = org.post(f"/campaigns/{cid}/start")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "campaign_started"
    resumed = org.post(f"/campaigns/{cid}/resume")
    assert resumed.status_code == 409 and resumed.json()["error"]["code"] == "not_paused"
    assert org.post(f"/campaigns/{cid}/pause").json()["status"] == "paused"
    assert org.post(f"/campaigns/{cid}/resume").json()["status"] == "running"
    canceled = org.post(f"/campaigns/{cid}/cancel").json()
    assert canceled["status"] == "canceled"
    assert canceled["counts"]["canceled"] == 3
    for action in ("start", "pause", "resume", "cancel"):
        r = org.post(f"/campaigns/{cid}/{action}")
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "campaign_canceled"
        assert r.json()["error"]["message"].endswith(".")
    audit = org.get("/audit", params={"entity": "campaign", "entity_id": cid}).json()
    assert [e["action"] for e in reversed(audit)] == [
        "campaign.created",
        "campaign.started",
        "campaign.paused",
        "campaign.resumed",
        "campaign.canceled",
    ]


def test_the_report_pages_filters_and_downloads(org: Org) -> None:
    cid = campaign(org).json()["id"]
    org.post(f"/campaigns/{cid}/start")
    first = org.get(f"/campaigns/{cid}/recipients", params={"limit": 4})
    assert first.status_code == 200
    rest = org.get(
        f"/campaigns/{cid}/recipients", params={"cursor": first.headers["x-next-cursor"]}
    )
    rows = first.json() + rest.json()
    assert "x-next-cursor" not in rest.headers
    assert [r["patient_id"] for r in rows] == sorted(org.ids.values())  # type: ignore[attr-defined]
    by_id = {r["patient_id"]: r for r in rows}
    ana = by_id[org.ids["ana"]]  # type: ignore[attr-defined]
    assert ana["status"] in ("queued", "scheduled")
    assert ana["message_id"] and ana["skip_reason"] is None
    fi = by_id[org.ids["fi"]]  # type: ignore[attr-defined]
    assert (fi["status"], fi["skip_reason"], fi["skip_checks"]) == (
        "skipped",
        "phone",
        ["phone", "consent"],
    )
    assert fi["message_id"] is None and fi["detail"]
    skipped = org.get(f"/campaigns/{cid}/recipients", params={"status": "skipped"}).json()
    assert len(skipped) == 3
    bad = org.get(f"/campaigns/{cid}/recipients", params={"status": "lost"})
    assert bad.status_code == 422
    download = org.get(f"/campaigns/{cid}/recipients.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(download.text)))
    assert [int(r["patient_id"]) for r in table] == sorted(org.ids.values())  # type: ignore[attr-defined]
    assert {r["status"] for r in table} - {"queued", "scheduled"} == {"skipped"}
    message = org.get(f"/messages/{ana['message_id']}").json()
    assert message["kind"] == "campaign" and message["channel"] == "lead"


def test_the_preview_lists_skipped_patients_with_every_failing_check(org: Org) -> None:
    cid = campaign(org).json()["id"]
    page = org.get(f"/campaigns/{cid}/preview", params={"limit": 2})
    assert page.status_code == 200
    data = page.json()
    assert (data["recipients"], data["skipped"]) == (3, 3)
    more = org.get(
        f"/campaigns/{cid}/preview", params={"cursor": page.headers["x-next-cursor"]}
    ).json()
    shown = {p["patient_id"]: p for p in data["patients"] + more["patients"]}
    assert sorted(shown) == sorted(org.ids[n] for n in ("di", "ed", "fi"))  # type: ignore[attr-defined]
    di = shown[org.ids["di"]]  # type: ignore[attr-defined]
    assert di["checks"] == [
        {
            "id": "consent",
            "ok": False,
            "detail": "The patient opted in to care texts only; campaigns need marketing consent.",
            "fix": "Ask the patient to opt in to marketing texts before including them in "
            "campaigns.",
        }
    ]
    assert [c["id"] for c in shown[org.ids["fi"]]["checks"]] == ["phone", "consent"]  # type: ignore[attr-defined]
    opt_in(org, org.ids["di"], "marketing")  # type: ignore[attr-defined]
    refreshed = org.post(f"/campaigns/{cid}/preview").json()
    assert refreshed["preview"]["recipients"] == 4


def test_a_csv_file_resolves_to_patient_ids_for_an_audience(org: Org) -> None:
    text = "phone\n(415) 555-0201\n(415) 555-0299\n"
    r = org.post("/campaigns/audience-csv", {"csv": text})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["patient_ids"] == [org.ids["ana"]]  # type: ignore[attr-defined]
    assert data["unmatched"][0]["line"] == 3
    made = campaign(org, audience={"patient_ids": data["patient_ids"]}).json()
    assert made["preview"]["recipients"] == 1
    bad = org.post("/campaigns/audience-csv", {"csv": "name\nAna\n"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "audience_csv"


def test_a_campaign_can_go_out_on_the_clinic_number(org: Org) -> None:
    made = campaign(org, channel="clinic").json()
    assert made["channel"] == "clinic"
    org.post(f"/campaigns/{made['id']}/start")
    rows = org.get(f"/campaigns/{made['id']}/recipients").json()
    sent = next(r for r in rows if r["message_id"])
    message = org.get(f"/messages/{sent['message_id']}").json()
    assert message["channel"] == "clinic"


def test_another_organizations_campaign_is_404(org: Org, make_org: Any) -> None:
    cid = campaign(org).json()["id"]
    other = make_org("Other")
    for path in ("", "/recipients", "/recipients.csv", "/preview"):
        r = other.get(f"/campaigns/{cid}{path}")
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "campaign_not_found"
    for action in ("start", "pause", "resume", "cancel", "preview"):
        assert other.post(f"/campaigns/{cid}/{action}").status_code == 404
    assert other.get("/campaigns").json() == []
    refused = other.post(
        "/campaigns",
        {"name": "x", "template_id": org.template_id, "audience": {"all": True}},  # type: ignore[attr-defined]
    )
    assert refused.status_code == 404
