"""Organization settings refused by the service name the field they are about, change
nothing, and reach API clients with the same code and sentence as before plus that field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services import orgs
from clinictext.services.errors import Invalid
from clinictext.store.db import transaction
from clinictext.store.models import Organization
from tests.conftest import Org

COLUMNS = Organization.__table__.columns

# (changes, the field named, the code)
REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"timezone": "Mars/Base"}, "timezone", "invalid_timezone"),
    ({"timezone": "   "}, "timezone", "invalid_timezone"),
    ({"timezone": "America/New_York\x00"}, "timezone", "invalid_text"),
    ({"clinic_phone": "12"}, "clinic_phone", "invalid_phone"),
    ({"clinic_phone": "(415) 555-0100\x00"}, "clinic_phone", "invalid_text"),
    ({"send_window": {"start": "8am", "end": "21:00"}}, "send_window.start", "invalid_time"),
    ({"send_window": {"start": "08:00", "end": "24:00"}}, "send_window.end", "invalid_time"),
    ({"send_window": {"start": "21:00", "end": "08:00"}}, "send_window.end", "invalid_send_window"),
    ({"send_window": {"start": "09:00", "end": "09:00"}}, "send_window.end", "invalid_send_window"),
    ({"replies": {"opt_out": "{org}: bye"}}, "replies.opt_out", "invalid_reply"),
    ({"replies": {"help": "{org} {website}"}}, "replies.help", "invalid_reply"),
    ({"replies": {"opt_in": "{org} STOP" + "x" * 320}}, "replies.opt_in", "invalid_reply"),
    ({"replies": {"lead_closed": "{phone}\ud83d"}}, "replies.lead_closed", "invalid_text"),
    ({"replies": {"goodbye": "Bye"}}, "replies.goodbye", "invalid_reply"),
    ({"messaging_registration": "maybe"}, "messaging_registration", "invalid_registration"),
    ({"url_policy": "allow"}, "url_policy", "invalid_url_policy"),
]


@pytest.mark.parametrize(("changes", "field", "code"), REFUSED)
def test_a_refused_setting_names_its_field_and_changes_nothing(
    factory: sessionmaker[Session], changes: dict[str, Any], field: str, code: str
) -> None:
    with transaction(factory) as session:
        org_id = orgs.create_org(session, "Clinic", actor="test").id
    with factory() as session:
        before = {c.name: getattr(orgs.get_org(session, org_id), c.key) for c in COLUMNS}
        with pytest.raises(Invalid) as refused:
            orgs.update_org(session, org_id, {"sms_enabled": True, **changes}, "test")
        assert refused.value.extra == {"field": field}
        assert refused.value.code == code
        assert refused.value.message.endswith(".")
        after = {c.name: getattr(orgs.get_org(session, org_id), c.key) for c in COLUMNS}
    assert after == before


def test_the_send_window_sentences_say_what_to_type(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        org_id = orgs.create_org(session, "Clinic", actor="test").id
        with pytest.raises(Invalid) as bad_start:
            orgs.update_org(session, org_id, {"send_window": {"start": "8", "end": "x"}}, "t")
        assert bad_start.value.message == (
            "The send window's start must be a 24-hour time as HH:MM, e.g. 08:00."
        )
        with pytest.raises(Invalid) as backwards:
            orgs.update_org(
                session, org_id, {"send_window": {"start": "21:00", "end": "08:00"}}, "t"
            )
        assert backwards.value.message == (
            "The window must end after it starts, on the same day: 21:00 to 08:00 does not. "
            "For example 08:00 to 21:00."
        )


def test_a_valid_change_is_saved_as_typed(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        org_id = orgs.create_org(session, "Clinic", actor="test").id
        orgs.update_org(
            session,
            org_id,
            {
                "clinic_phone": "(415) 555-0100",
                "timezone": "America/Chicago",
                "send_window": {"start": "09:00", "end": "18:30"},
                "messaging_registration": "approved",
                "url_policy": "block",
                "replies": {"opt_out": "{org}: no more texts. Reply START to resubscribe."},
            },
            "test",
        )
    with factory() as session:
        org = orgs.get_org(session, org_id)
        assert org.clinic_phone == "+14155550100"
        assert org.timezone == "America/Chicago"
        assert (org.send_window_start, org.send_window_end) == ("09:00", "18:30")
        assert (org.messaging_registration, org.url_policy) == ("approved", "block")
        assert org.reply_opt_out == "{org}: no more texts. Reply START to resubscribe."


def test_a_new_organization_refuses_a_blank_name_or_an_unknown_time_zone(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as session:
        with pytest.raises(Invalid) as blank:
            orgs.create_org(session, "   ", actor="test")
        assert (blank.value.code, blank.value.extra) == ("invalid_name", {"field": "name"})
        with pytest.raises(Invalid) as zone:
            orgs.create_org(session, "Clinic", timezone="Mars/Base", actor="test")
        assert zone.value.extra == {"field": "timezone"}


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("", "Name the key after what uses it"),
        ("   ", "Name the key after what uses it"),
        ("x" * 101, r"100 characters or fewer \(now 101\)"),
        ("Sync\x00", "broken character"),
    ],
)
def test_an_api_key_needs_a_name_that_fits(
    factory: sessionmaker[Session], name: str, said: str
) -> None:
    with transaction(factory) as session:
        org_id = orgs.create_org(session, "Clinic", actor="test").id
        with pytest.raises(Invalid, match=said) as refused:
            orgs.create_api_key(session, org_id, name=name, actor="test")
        assert refused.value.extra == {"field": "name"}


def test_an_api_key_name_is_saved_without_surrounding_spaces(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as session:
        org_id = orgs.create_org(session, "Clinic", actor="test").id
        new = orgs.create_api_key(session, org_id, name="  Scheduler  ", actor="test")
    with factory() as session:
        key = orgs.authenticate(session, new.key)
        assert key is not None and key.name == "Scheduler"


# --- the API's answers: the same code and sentence, and the field ---------------------------

API_ANSWERS: list[tuple[dict[str, Any], dict[str, str]]] = [
    (
        {"timezone": "Mars/Base"},
        {
            "code": "invalid_timezone",
            "message": "'Mars/Base' is not a time zone. Use an IANA name such as America/New_York.",
            "field": "timezone",
        },
    ),
    (
        {"clinic_phone": "call me"},
        {
            "code": "invalid_phone",
            "message": "Clinic phone: 'call me' is not a phone number. Enter a number such as "
            "(415) 555-0123 or +14155550123.",
            "field": "clinic_phone",
        },
    ),
    (
        {"replies": {"opt_out": "{org}: bye"}},
        {
            "code": "invalid_reply",
            "message": "The opt-out reply must contain START.",
            "field": "replies.opt_out",
        },
    ),
    (
        {"replies": {"help": "Call us", "lead_closed": "Closed"}},
        {
            "code": "invalid_reply",
            "message": "The help reply must contain {org}, {phone}, Msg & data rates may "
            "apply, Reply STOP to opt out.",
            "field": "replies.help",
        },
    ),
]


@pytest.mark.parametrize(("body", "error"), API_ANSWERS)
def test_patch_org_answers_with_the_code_the_sentence_and_the_field(
    make_org: Any, body: dict[str, Any], error: dict[str, str]
) -> None:
    org: Org = make_org()
    before = org.get("/org").json()
    answer = org.patch("/org", body)
    assert answer.status_code == 422
    assert answer.json() == {"error": error}
    assert org.get("/org").json() == before


def test_patch_org_still_checks_the_send_window_before_the_service(make_org: Any) -> None:
    org: Org = make_org()
    answer = org.patch("/org", {"send_window": {"start": "21:00", "end": "08:00"}})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_send_window"
    assert error["fields"][0]["field"] == "send_window"
    assert "field" not in error
