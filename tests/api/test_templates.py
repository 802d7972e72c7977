"""/api/v1/templates on both databases: the contract's shapes, refusals that write nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from clinictext.api.v1.templates import MAX_TEMPLATE_CHARS
from clinictext.store.db import transaction
from clinictext.store.models import Campaign, Rule
from tests.conftest import Org

REMINDER = {
    "name": "Day before",
    "purpose": "reminder",
    "body": "Hi [FName], see you [ApptDate] at [ApptTime] at [OfficeName].",
}


def create(org: Org, **changes: Any) -> dict[str, Any]:
    r = org.post("/templates", {**REMINDER, **changes})
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_create_answers_the_contract_shape(make_org: Any) -> None:
    org = make_org()
    answer = create(org, variants={"es": "Hola [FName], le esperamos el [ApptDate]."})
    assert answer["name"] == "Day before"
    assert answer["purpose"] == "reminder"
    assert answer["body"] == REMINDER["body"]
    assert answer["language"] == "en"
    assert answer["variants"] == {"es": "Hola [FName], le esperamos el [ApptDate]."}
    assert answer["fields"] == ["FName", "ApptDate", "ApptTime", "OfficeName"]
    assert answer["encoding"] == "GSM-7"
    assert answer["segments_max"] == 1
    assert answer["variants_info"]["es"]["fields"] == ["FName", "ApptDate"]
    assert answer["lint"] == []
    assert answer["example"] == "Hi Maria, see you Tuesday, December 1 at 3:30 PM at Clinic."
    assert isinstance(answer["id"], int)
    assert org.get(f"/templates/{answer['id']}").json() == answer


def test_misspelled_field_is_422_with_position_and_suggestion(make_org: Any, rows: Any) -> None:
    org = make_org()
    before = rows()
    r = org.post("/templates", {**REMINDER, "body": "Hi [Fname], see you soon."})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_template"
    assert (error["field"], error["position"], error["suggestion"]) == ("body", 3, "[FName]")
    assert "[Fname]" in error["message"] and "[FName]" in error["message"]
    assert rows() == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"body": "Hi [FName"}, "body"),
        ({"body": "   "}, "body"),
        ({"purpose": "confirmation"}, "body"),
        ({"purpose": "campaign"}, "body"),
        ({"variants": {"es": "Hola [Nombre]"}}, "variants.es"),
        ({"variants": {"en": "Hi [FName]"}}, "variants.en"),
        ({"language": "english!"}, "language"),
        ({"name": "  "}, "name"),
        ({"body": "x" * 1601}, "body"),
    ],
)
def test_bad_template_is_refused_and_nothing_written(
    make_org: Any, rows: Any, changes: dict[str, Any], field: str
) -> None:
    org = make_org()
    before = rows()
    r = org.post("/templates", {**REMINDER, **changes})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_template"
    assert r.json()["error"]["field"] == field
    assert rows() == before


@pytest.mark.parametrize(
    "payload",
    [
        {**REMINDER, "name": "n" * 201},
        {**REMINDER, "body": "x" * (MAX_TEMPLATE_CHARS + 1)},
        {**REMINDER, "purpose": "marketing"},
        {**REMINDER, "body": 12},
        {**REMINDER, "colour": "blue"},
        {**REMINDER, "variants": {f"l{i:02d}": "x" for i in range(21)}},
        {"name": "No body", "purpose": "reminder"},
    ],
)
def test_malformed_request_is_422_not_500(make_org: Any, rows: Any, payload: Any) -> None:
    org = make_org()
    before = rows()
    r = org.post("/templates", payload)
    assert r.status_code == 422, r.text
    assert rows() == before


def test_confirmation_needs_confirm_code(make_org: Any) -> None:
    org = make_org()
    r = org.post("/templates", {**REMINDER, "purpose": "confirmation"})
    assert r.status_code == 422
    assert r.json()["error"]["suggestion"] == "[ConfirmCode]"
    answer = create(org, purpose="confirmation", body="Reply [ConfirmCode] to confirm [ApptDate].")
    assert answer["fields"] == ["ConfirmCode", "ApptDate"]


def test_duplicate_name_is_409(make_org: Any) -> None:
    org = make_org()
    create(org)
    r = org.post("/templates", REMINDER)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "template_name_taken"


def test_worst_case_shows_a_field_pushing_into_three_segments(make_org: Any) -> None:
    org = make_org()
    body = "Hi [FName] [LName], " + "a" * 270 + " [ApptDate]"
    answer = create(org, body=body)
    assert len(body) < 306  # as written, it fits in two parts
    assert answer["segments_max"] == 3
    assert answer["characters_max"] > 306


def test_campaign_template_counts_the_footer_it_will_get(make_org: Any) -> None:
    org = make_org("Smile Dental")
    answer = create(org, name="Flu", purpose="campaign", body="Flu shots are in, [FName]!")
    assert {f["code"] for f in answer["lint"]} == {"missing_org_name", "missing_opt_out"}
    assert answer["example"] == "Smile Dental: Flu shots are in, Maria!\nReply STOP to opt out."
    assert answer["characters_max"] == len(
        "Smile Dental: Flu shots are in, Alexandria-Josephine!\nReply STOP to opt out."
    )


def test_list_filters_by_purpose_and_hides_other_organizations(make_org: Any) -> None:
    org, other = make_org(), make_org("Other")
    create(org)
    create(org, name="Confirm", purpose="confirmation", body="Reply [ConfirmCode].")
    create(other, name="Theirs")
    assert [t["name"] for t in org.get("/templates").json()] == ["Confirm", "Day before"]
    confirmations = org.get("/templates", params={"purpose": "confirmation"}).json()
    assert [t["name"] for t in confirmations] == ["Confirm"]
    assert org.get("/templates", params={"purpose": "nope"}).status_code == 422


def test_another_organizations_template_is_404(make_org: Any, rows: Any) -> None:
    org, other = make_org(), make_org("Other")
    tid = create(org)["id"]
    before = rows()
    assert other.get(f"/templates/{tid}").status_code == 404
    assert other.patch(f"/templates/{tid}", {"name": "Mine"}).status_code == 404
    assert other.delete(f"/templates/{tid}").status_code == 404
    assert rows() == before
    assert org.get("/templates/999999").status_code == 404


def test_patch_rechecks_and_a_refused_patch_changes_nothing(make_org: Any) -> None:
    org = make_org()
    tid = create(org)["id"]
    r = org.patch(f"/templates/{tid}", {"body": "Hi [FNmae]"})
    assert r.status_code == 422
    assert r.json()["error"]["suggestion"] == "[FName]"
    r = org.patch(f"/templates/{tid}", {"purpose": "confirmation"})
    assert r.status_code == 422
    assert org.get(f"/templates/{tid}").json()["body"] == REMINDER["body"]
    r = org.patch(f"/templates/{tid}", {"body": "See you [ApptDate], [FName]."})
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == ["ApptDate", "FName"]
    r = org.patch(f"/templates/{tid}", {"variants": {"es": "Hola [FName]"}})
    assert r.json()["variants"] == {"es": "Hola [FName]"}
    r = org.patch(f"/templates/{tid}", {"variants": None})
    assert r.json()["variants"] == {}
    assert org.patch(f"/templates/{tid}", {"name": None}).status_code == 422


def _rule_using(factory: sessionmaker[Session], org_id: int, template_id: int) -> None:
    now = datetime.now(UTC)
    with transaction(factory) as s:
        s.add(
            Rule(
                organization_id=org_id,
                name="Day before",
                purpose="reminder",
                minutes_before=1440,
                do_not_send_within_minutes=60,
                template_id=template_id,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )


def test_delete_is_409_while_in_use_then_204(make_org: Any, factory: sessionmaker[Session]) -> None:
    org = make_org()
    tid = create(org)["id"]
    _rule_using(factory, org.id, tid)
    r = org.delete(f"/templates/{tid}")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "template_in_use"
    assert r.json()["error"]["used_by"] == ["rule 'Day before'"]
    unused = create(org, name="Unused")["id"]
    r = org.delete(f"/templates/{unused}")
    assert r.status_code == 204 and r.content == b""
    assert org.get(f"/templates/{unused}").status_code == 404
    assert [t["id"] for t in org.get("/templates").json()] == [tid]


def test_campaign_keeps_its_template(make_org: Any, factory: sessionmaker[Session]) -> None:
    org = make_org()
    tid = create(
        org, name="Flu", purpose="campaign", body="Clinic: flu shots. Reply STOP to opt out."
    )["id"]
    now = datetime.now(UTC)
    with transaction(factory) as s:
        s.add(
            Campaign(
                organization_id=org.id,
                name="Flu shots",
                template_id=tid,
                audience={"all": True},
                status="draft",
                created_by="t",
                created_at=now,
                updated_at=now,
            )
        )
    assert org.delete(f"/templates/{tid}").status_code == 409
    assert org.patch(f"/templates/{tid}", {"purpose": "general"}).status_code == 409


def test_preview_reports_without_saving(make_org: Any, rows: Any) -> None:
    org = make_org()
    before = rows()
    r = org.post("/templates/preview", {"body": "Hi [Fname]", "purpose": "reminder"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["error"]["position"] == 3
    assert answer["error"]["suggestion"] == "[FName]"
    assert answer["example"] is None
    r = org.post(
        "/templates/preview", {"body": "Use [ConfirmURL], [FName]", "purpose": "confirmation"}
    )
    answer = r.json()
    assert answer["error"]["suggestion"] == "[ConfirmCode]"
    r = org.post("/templates/preview", {"body": "Hi [FName] 😀", "purpose": "general"})
    answer = r.json()
    assert answer["error"] is None
    assert (answer["encoding"], answer["example"]) == ("UCS-2", "Hi Maria 😀")
    assert answer["fields"] == ["FName"]
    assert rows() == before
