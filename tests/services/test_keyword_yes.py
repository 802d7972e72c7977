"""START/UNSTOP/YES: a welcome for a first opt-in, "subscribed again" only after an opt-out."""

from __future__ import annotations

from itertools import count

import pytest
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel
from clinictext.domain.consent import ConsentAction, ConsentLevel, ConsentState
from clinictext.domain.replies import (
    DEFAULT_OPT_IN,
    DEFAULT_OPT_IN_FIRST,
    OptInReply,
    check_template,
    opt_in_reply,
    opt_in_template,
)
from clinictext.providers.base import InboundText
from clinictext.services import consent, numbers, orgs, patients
from clinictext.services.clock import utcnow
from clinictext.services.inbound import receive
from clinictext.store.db import transaction

CLINIC_NUMBER = "+14155550100"
PHONE = "+14155550123"
_sids = count(1)

# --- the pure decision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "reply"),
    [
        (ConsentState.NONE, OptInReply.FIRST),
        (ConsentState.OPTED_OUT, OptInReply.AGAIN),
        (ConsentState.OPTED_IN, None),
    ],
)
def test_opt_in_reply_depends_on_the_consent_before_the_keyword(
    before: ConsentState, reply: OptInReply | None
) -> None:
    assert opt_in_reply(before) is reply


def test_the_first_opt_in_welcome_never_says_again_and_meets_carrier_rules() -> None:
    assert "again" not in DEFAULT_OPT_IN_FIRST.lower()
    assert check_template("opt_in", DEFAULT_OPT_IN_FIRST) == DEFAULT_OPT_IN_FIRST
    assert "Msg & data rates may apply" in DEFAULT_OPT_IN_FIRST
    assert "HELP" in DEFAULT_OPT_IN_FIRST


def test_an_organizations_wording_is_for_subscribing_again() -> None:
    reworded = "{org}: welcome back! Reply STOP to opt out."
    assert opt_in_template(OptInReply.AGAIN, reworded) == reworded
    assert opt_in_template(OptInReply.AGAIN, None) == DEFAULT_OPT_IN
    assert opt_in_template(OptInReply.FIRST, reworded) == DEFAULT_OPT_IN_FIRST


# --- through inbound processing ------------------------------------------------------------


def clinic(factory: sessionmaker[Session], *, with_patient: bool = True) -> int:
    with transaction(factory) as s:
        org = orgs.create_org(s, "Smile Dental", actor="test")
        orgs.update_org(s, org.id, {"sms_enabled": True, "messaging_registration": "approved"}, "t")
        numbers.add_number(s, org.id, CLINIC_NUMBER, Channel.CLINIC, "long_code", 1, "t")
        if with_patient:
            patients.create_patient(
                s, org.id, first_name="Ana", last_name="Diaz", phone=PHONE, actor="t"
            )
        return org.id


def texts_in(factory: sessionmaker[Session], body: str) -> list[str]:
    """The patient texts ``body``; the bodies of the replies queued."""
    with transaction(factory) as s:
        got = receive(s, InboundText(f"SMin{next(_sids)}", PHONE, CLINIC_NUMBER, body, 1), utcnow())
        return [m.body for m in got.replies]


def state(factory: sessionmaker[Session], org_id: int) -> ConsentState:
    with factory() as s:
        return consent.current(s, org_id, PHONE).state


@pytest.mark.parametrize("keyword", ["YES", "start", "Unstop!"])
def test_a_first_opt_in_by_keyword_is_welcomed_not_subscribed_again(
    factory: sessionmaker[Session], keyword: str
) -> None:
    org_id = clinic(factory)
    [reply] = texts_in(factory, keyword)
    assert reply.startswith("You are subscribed to text messages from Smile Dental.")
    assert "again" not in reply.lower()
    assert state(factory, org_id) is ConsentState.OPTED_IN


def test_an_unknown_number_saying_yes_is_welcomed(factory: sessionmaker[Session]) -> None:
    org_id = clinic(factory, with_patient=False)
    [reply] = texts_in(factory, "YES")
    assert "again" not in reply.lower()
    assert "Smile Dental" in reply
    assert state(factory, org_id) is ConsentState.OPTED_IN


def test_start_after_stop_says_subscribed_again(factory: sessionmaker[Session]) -> None:
    clinic(factory)
    [stopped] = texts_in(factory, "STOP")
    assert "unsubscribed" in stopped
    [again] = texts_in(factory, "START")
    assert "subscribed to text messages again" in again


def test_yes_from_a_number_already_opted_in_is_not_answered(
    factory: sessionmaker[Session],
) -> None:
    org_id = clinic(factory)
    with transaction(factory) as s:
        pid = patients.list_patients(s, org_id, phone=PHONE).items[0].id
        consent.record(
            s,
            org_id,
            pid,
            action=ConsentAction.OPT_IN,
            source="web_form",
            level=ConsentLevel.INFORMATIONAL,
            actor="t",
        )
    assert texts_in(factory, "YES") == []
