"""What still stands between an organization and texting its patients. Pure.

The settings page opens with this list, so an office manager setting up clinictext sees
every missing piece and its fix at once, instead of meeting them one by one as refused
texts. Where a piece is also a check of the can-text checklist (texting enabled, carrier
registration, a verified sender number, the spend limit), the item says it in the
checklist's own words, so the settings page and the composer never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from clinictext.domain.checklist import (
    Channel,
    Check,
    Registration,
    SenderFact,
    SendKind,
    TextingFacts,
    Verification,
    evaluate,
)
from clinictext.domain.consent import NO_CONSENT
from clinictext.domain.phones import PhoneStatus

# The settings section that fixes each item (its anchor on the settings page).
TEXTING = "texting"
NUMBERS = "numbers"
SPEND = "spend-limit"
CLINIC = "clinic"
USERS = "users"

_REGISTRATION_STATE = {
    Registration.NONE: "has not been started",
    Registration.PENDING: "is still waiting for carrier approval",
    Registration.REJECTED: "was rejected by the carriers",
}


@dataclass(frozen=True)
class NumberFact:
    number: str
    purpose: Channel
    kind: str
    verification: Verification


@dataclass(frozen=True)
class SetupFacts:
    """The organization as the setup checklist sees it, loaded by the caller."""

    sms_enabled: bool
    registration: Registration
    numbers: Sequence[NumberFact]
    clinic_phone: str | None
    spend_limit_cents: int | None  # None: no monthly limit on manual texts
    month_spend_micros: int  # what manual texts cost this month
    active_staff: int  # signed-in accounts with the staff role that are not disabled


@dataclass(frozen=True)
class SetupItem:
    id: str
    blocks: bool  # True: texting (or part of it) cannot happen until it is fixed
    detail: str
    fix: str
    section: str


def evaluate_setup(facts: SetupFacts) -> list[SetupItem]:
    """The open items, blocking ones first, each with its fix; empty when all is set up."""
    items = [
        _sms_enabled(facts),
        _registration(facts),
        _number(facts, Channel.CLINIC),
        _number(facts, Channel.LEAD),
        _spend_limit(facts),
        _clinic_phone(facts),
        _staff(facts),
    ]
    found = [item for item in items if item is not None]
    return [i for i in found if i.blocks] + [i for i in found if not i.blocks]


def ready(items: Sequence[SetupItem]) -> bool:
    """Whether nothing left open stops the organization from texting."""
    return not any(item.blocks for item in items)


def _checks(facts: SetupFacts, channel: Channel, *, sms_enabled: bool) -> dict[str, Check]:
    """The organization-wide checks of the can-text checklist for ``channel``."""
    limit = facts.spend_limit_cents
    texting = TextingFacts(
        sms_enabled=sms_enabled,
        registration=facts.registration,
        channel=channel,
        kind=SendKind.MANUAL,
        senders=[
            SenderFact(n.number, n.kind, n.verification)
            for n in facts.numbers
            if n.purpose is channel
        ],
        # No patient here: only the organization's checks below are read.
        phone=None,
        phone_status=PhoneStatus.MISSING,
        phone_reason="",
        consent=NO_CONSENT,
        lead_stage=None,
        lead_substatus=None,
        month_spend_usd=Decimal(facts.month_spend_micros) / 1_000_000,
        spend_limit_usd=None if limit is None else Decimal(limit) / 100,
    )
    return {check.id: check for check in evaluate(texting)}


def _sms_enabled(facts: SetupFacts) -> SetupItem | None:
    if facts.sms_enabled:
        return None
    check = _checks(facts, Channel.CLINIC, sms_enabled=False)["sms_enabled"]
    return SetupItem(
        "sms_enabled",
        True,
        check.detail,
        (check.fix or "") + " Turn on “Texting enabled” under Texting.",
        TEXTING,
    )


def _registration(facts: SetupFacts) -> SetupItem | None:
    if facts.registration is Registration.APPROVED:
        return None
    check = _checks(facts, Channel.CLINIC, sms_enabled=True)["sms_enabled"]
    state = _REGISTRATION_STATE[facts.registration]
    return SetupItem(
        "registration",
        True,
        f"The organization's carrier registration {state}: carriers block texts from "
        "unregistered senders.",
        (check.fix or "")
        + " Once the carriers approve it, set “Carrier registration” to Approved under Texting.",
        TEXTING,
    )


def _number(facts: SetupFacts, channel: Channel) -> SetupItem | None:
    check = _checks(facts, channel, sms_enabled=True)["sender_number"]
    if check.ok:
        return None
    what = (
        "Staff texts and appointment messages"
        if channel is Channel.CLINIC
        else "Lead and campaign texts"
    )
    return SetupItem(
        f"{channel.value}_number",
        True,
        f"{check.detail} {what} cannot go out.",
        check.fix or "",
        NUMBERS,
    )


def _spend_limit(facts: SetupFacts) -> SetupItem | None:
    if facts.spend_limit_cents == 0:
        return SetupItem(
            "spend_limit",
            True,
            "The monthly limit for manual texts is $0.00, so staff cannot send any text "
            "they type (automated messages are not blocked).",
            "Raise the monthly manual-text limit under Spend limit, or leave it empty for "
            "no limit.",
            SPEND,
        )
    check = _checks(facts, Channel.CLINIC, sms_enabled=True)["spend_limit"]
    if check.ok:
        return None
    return SetupItem("spend_limit", True, check.detail, check.fix or "", SPEND)


def _clinic_phone(facts: SetupFacts) -> SetupItem | None:
    if facts.clinic_phone:
        return None
    return SetupItem(
        "clinic_phone",
        False,
        "The organization has no clinic phone: the HELP reply and the closed-lead "
        "auto-reply cannot tell patients which number to call.",
        "Enter the clinic phone under Clinic.",
        CLINIC,
    )


def _staff(facts: SetupFacts) -> SetupItem | None:
    if facts.active_staff > 0:
        return None
    return SetupItem(
        "staff_users",
        False,
        "No front-desk staff can sign in: only administrators have accounts.",
        "Add the staff who text patients under Users, with the role Staff.",
        USERS,
    )
