"""Can this patient be texted? The one checklist shared by the API, CLI, web and send path.

``evaluate`` always returns every check, in the order of the specification, so staff see
everything that stands in the way at once rather than one problem per attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from clinictext.domain.consent import Consent, ConsentLevel, ConsentState, OptOutSource
from clinictext.domain.leads import LeadStage, describe, is_active
from clinictext.domain.phones import PhoneStatus, display


class Channel(StrEnum):
    LEAD = "lead"
    CLINIC = "clinic"


class SendKind(StrEnum):
    """What kind of text is being considered, as the checklist sees it."""

    MANUAL = "manual"  # typed by staff, on either channel
    AUTOMATED = "automated"  # reminders and confirmations
    CAMPAIGN = "campaign"


class Registration(StrEnum):
    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Verification(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


CHECK_IDS = ("sms_enabled", "sender_number", "phone", "consent", "lead_stage", "spend_limit")


@dataclass(frozen=True)
class Check:
    id: str
    ok: bool
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class SenderFact:
    number: str
    kind: str
    verification: Verification
    id: int | None = None  # the stored number's id, so the send path need not look it up


@dataclass(frozen=True)
class TextingFacts:
    """Everything the checklist needs, loaded by the caller; no I/O happens here."""

    sms_enabled: bool
    registration: Registration
    channel: Channel
    kind: SendKind
    senders: Sequence[SenderFact]  # the organization's numbers for this channel's purpose
    phone: str | None
    phone_status: PhoneStatus
    phone_reason: str
    consent: Consent
    lead_stage: LeadStage | None
    lead_substatus: str | None
    month_spend_usd: Decimal
    spend_limit_usd: Decimal | None
    message_cost_usd: Decimal = Decimal(0)
    # The patient texted the clinic recently: staff may answer in that conversation.
    in_conversation: bool = False


def required_level(kind: SendKind) -> ConsentLevel:
    """Campaigns need marketing consent; care texts need informational consent."""
    return ConsentLevel.MARKETING if kind is SendKind.CAMPAIGN else ConsentLevel.INFORMATIONAL


def evaluate(facts: TextingFacts) -> list[Check]:
    """Every check, in order; the patient can be texted when all are ``ok``."""
    return [
        _sms_enabled(facts),
        _sender_number(facts),
        _phone(facts),
        _consent(facts),
        _lead_stage(facts),
        _spend_limit(facts),
    ]


def can_text(checks: Sequence[Check]) -> bool:
    return all(c.ok for c in checks)


def _sms_enabled(f: TextingFacts) -> Check:
    if not f.sms_enabled:
        return Check(
            "sms_enabled",
            False,
            "Texting is not enabled for this organization.",
            "Enable SMS for the organization (or ask support to enable it).",
        )
    if f.registration is not Registration.APPROVED:
        state = {
            Registration.NONE: "has not been started",
            Registration.PENDING: "is still waiting for carrier approval",
            Registration.REJECTED: "was rejected by the carriers",
        }[f.registration]
        return Check(
            "sms_enabled",
            False,
            f"Texting is enabled, but the organization's carrier registration {state}.",
            "Finish the carrier (brand and campaign) registration; contact support for help.",
        )
    return Check("sms_enabled", True, "Texting is enabled and carrier registration is approved.")


def _sender_number(f: TextingFacts) -> Check:
    purpose = "lead (digital front door)" if f.channel is Channel.LEAD else "clinic"
    verified = [s for s in f.senders if s.verification is Verification.VERIFIED]
    if verified:
        return Check(
            "sender_number",
            True,
            f"Texts go out from the {purpose} number {display(verified[0].number)}.",
        )
    pending = [s for s in f.senders if s.verification is Verification.PENDING]
    if pending:
        s = pending[0]
        what = s.kind.replace("_", "-")
        return Check(
            "sender_number",
            False,
            f"The {purpose} number {display(s.number)} is a {what} number still waiting for "
            "confirmation by the provider; texts cannot go out from it yet.",
            "Wait for the provider to confirm the number (this can take a few business days).",
        )
    if f.senders:
        return Check(
            "sender_number",
            False,
            f"The provider could not verify the {purpose} number {display(f.senders[0].number)}.",
            f"Add a {purpose} number that can send texts, or contact support.",
        )
    return Check(
        "sender_number",
        False,
        f"The organization has no {purpose} number to text from.",
        f"Add a {purpose} number under Numbers.",
    )


def _phone(f: TextingFacts) -> Check:
    if f.phone is None or f.phone_status is PhoneStatus.MISSING:
        return Check(
            "phone",
            False,
            "The patient has no wireless phone on file.",
            "Edit the patient's wireless phone.",
        )
    if f.phone_status is PhoneStatus.LANDLINE:
        return Check(
            "phone",
            False,
            f"The patient's phone {display(f.phone)} is a landline. {f.phone_reason}".strip(),
            "Edit the patient's wireless phone (a mobile number that can receive texts).",
        )
    if f.phone_status is PhoneStatus.INVALID:
        return Check(
            "phone",
            False,
            f"The patient's wireless phone {display(f.phone)} is invalid. {f.phone_reason}".strip(),
            "Edit the patient's wireless phone and try again.",
        )
    return Check("phone", True, f"Wireless phone {display(f.phone)}.")


_OPT_OUT_HOW = {
    OptOutSource.KEYWORD.value: "replied STOP",
    OptOutSource.CARRIER.value: "blocked texts from the clinic at their carrier",
    OptOutSource.CAMPAIGN.value: "unsubscribed from a campaign",
    OptOutSource.STAFF.value: "asked staff to stop texting them",
    OptOutSource.FREE_TEXT.value: "asked in a text to stop receiving texts",
}


def _consent(f: TextingFacts) -> Check:
    level = required_level(f.kind)
    c = f.consent
    if c.state is ConsentState.OPTED_OUT:
        how = _OPT_OUT_HOW.get(c.patient_lock or c.source or "", "opted out")
        when = f" on {c.since:%Y-%m-%d}" if c.since else ""
        fix = (
            "Only the patient can opt back in: ask them to text START to the clinic's number."
            if c.locked_by_patient
            else "Record a new opt-in only if the patient gives consent again; "
            "otherwise the patient can text START."
        )
        return Check("consent", False, f"The patient opted out: they {how}{when}.", fix)
    if c.state is ConsentState.NONE and f.in_conversation and f.kind is SendKind.MANUAL:
        return Check(
            "consent",
            True,
            "The patient texted the clinic in the last 24 hours, so staff may answer in that "
            "conversation (no opt-in is recorded for other texts).",
        )
    if c.state is ConsentState.NONE:
        return Check(
            "consent",
            False,
            "The patient has not opted in to texts.",
            "Ask the patient to opt in (web form, paper form or verbally) and record it.",
        )
    if not c.allows(level):
        return Check(
            "consent",
            False,
            "The patient opted in to care texts only; campaigns need marketing consent.",
            "Ask the patient to opt in to marketing texts before including them in campaigns.",
        )
    return Check("consent", True, f"The patient opted in ({c.level}).")


def _lead_stage(f: TextingFacts) -> Check:
    if f.channel is not Channel.LEAD:
        return Check("lead_stage", True, "Not needed on the clinic channel.")
    # The stage guards two-way lead conversations; campaigns share the lead number
    # (SPEC §1) and go to patients whatever their lead stage, or none.
    if f.kind is SendKind.CAMPAIGN:
        return Check("lead_stage", True, "Not needed for campaign texts.")
    if f.lead_stage is None:
        return Check(
            "lead_stage",
            False,
            "The patient is not a lead, so the lead thread is not open.",
            "Text from the clinic channel instead.",
        )
    if not is_active(f.lead_stage):
        return Check(
            "lead_stage",
            False,
            f"The lead is {describe(f.lead_stage, f.lead_substatus)}: two-way lead texting "
            "closes once a lead is scheduled, won or lost.",
            "Text from the clinic channel; replies to the lead number get the clinic's "
            "auto-reply directing the patient to the clinic.",
        )
    return Check("lead_stage", True, f"The lead is {describe(f.lead_stage, f.lead_substatus)}.")


def _spend_limit(f: TextingFacts) -> Check:
    if f.kind is not SendKind.MANUAL:
        return Check("spend_limit", True, "Automated and campaign texts are not limited by spend.")
    if f.spend_limit_usd is None:
        return Check("spend_limit", True, "The organization has no monthly manual-text limit.")
    spent, limit, cost = f.month_spend_usd, f.spend_limit_usd, f.message_cost_usd
    detail = f"Manual texts this month cost ${spent:.2f} of the ${limit:.2f} limit"
    if spent >= limit or (cost > 0 and spent + cost > limit):
        more = f"; this text would add ${cost:.2f}" if cost > 0 and spent < limit else ""
        return Check(
            "spend_limit",
            False,
            detail + more + ".",
            "Raise the monthly manual-text limit, or wait for the next month "
            "(automated messages are not blocked).",
        )
    return Check("spend_limit", True, detail + ".")
