"""The texts clinictext answers with by itself: keyword confirmations, HELP, lead auto-reply.

Carrier rules (CTIA) fix what they must say: an opt-out confirmation names the sender,
says no more messages will be sent and how to resubscribe; HELP gives the sender's name,
a way to reach them, "Msg & data rates may apply" and "Reply STOP to opt out".
Organizations may reword them; a reworded text must still carry its required parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from clinictext.domain.consent import ConsentState
from clinictext.domain.phones import display

DEFAULT_OPT_OUT = (
    "{org}: You have been unsubscribed and will receive no more messages. "
    "Reply START to resubscribe."
)
DEFAULT_OPT_IN = (
    "{org}: You are subscribed to text messages again. Msg & data rates may apply. "
    "Reply STOP to opt out, HELP for help."
)
# The first opt-in of a number that never opted in or out (START/UNSTOP/YES out of the
# blue): a welcome, not "again". CTIA: program name, frequency, rates, HELP and STOP.
DEFAULT_OPT_IN_FIRST = (
    "You are subscribed to text messages from {org}. Msg frequency varies. "
    "Msg & data rates may apply. Reply HELP for help, STOP to opt out."
)
DEFAULT_HELP = "{org}: for help call {phone}. Msg & data rates may apply. Reply STOP to opt out."
DEFAULT_LEAD_CLOSED = (
    "{org}: this number is no longer monitored for your requests. Please contact the clinic "
    "directly at {phone}."
)
# A patient whose lead is closed gets the lead auto-reply at most this often.
LEAD_AUTO_REPLY_EVERY = timedelta(hours=24)
# How long after a patient's own text staff may answer in that conversation without a
# recorded opt-in (conversational consent: the patient asked, the clinic replies).
CONVERSATION_WINDOW = timedelta(hours=24)

# Each reply kind and the words it must keep when an organization rewords it.
REQUIRED = {
    "opt_out": ("{org}", "START"),
    "opt_in": ("{org}", "STOP"),
    "help": ("{org}", "{phone}", "Msg & data rates may apply", "Reply STOP to opt out"),
    "lead_closed": ("{phone}",),
}
DEFAULTS = {
    "opt_out": DEFAULT_OPT_OUT,
    "opt_in": DEFAULT_OPT_IN,
    "help": DEFAULT_HELP,
    "lead_closed": DEFAULT_LEAD_CLOSED,
}


class ReplyRefused(ValueError):
    """A reworded reply lacks a part carriers require; ``str(err)`` names it."""


def check_template(kind: str, text: str) -> str:
    missing = [part for part in REQUIRED[kind] if part not in text]
    if missing:
        raise ReplyRefused(
            f"The {kind.replace('_', '-')} reply must contain " + ", ".join(missing) + "."
        )
    unknown = {"{org}", "{phone}"}
    stripped = text
    for token in unknown:
        stripped = stripped.replace(token, "")
    if "{" in stripped or "}" in stripped:
        raise ReplyRefused("Replies may only use the fields {org} and {phone}.")
    return text


@dataclass(frozen=True)
class ReplyContext:
    org_name: str
    clinic_phone: str | None


def render(kind: str, template: str | None, ctx: ReplyContext) -> str:
    """The reply text for ``kind``, from the organization's wording or the default."""
    phone = display(ctx.clinic_phone) if ctx.clinic_phone else "the clinic"
    return (template or DEFAULTS[kind]).replace("{org}", ctx.org_name).replace("{phone}", phone)


class OptInReply(StrEnum):
    FIRST = "opt_in_first"  # the number never opted in or out: a welcome
    AGAIN = "opt_in"  # the number had opted out: subscribed again


def opt_in_reply(before: ConsentState) -> OptInReply | None:
    """Which confirmation answers START/UNSTOP/YES, from the number's consent before it.

    None when it was already opted in: a repeat changes nothing and is not answered.
    """
    if before is ConsentState.OPTED_IN:
        return None
    return OptInReply.AGAIN if before is ConsentState.OPTED_OUT else OptInReply.FIRST


def opt_in_template(reply: OptInReply, reworded: str | None) -> str:
    """The wording of an opt-in confirmation.

    An organization rewords the "subscribed again" text (``reply_opt_in``); the welcome
    for a first opt-in keeps the default wording, which never says "again".
    """
    if reply is OptInReply.AGAIN:
        return reworded or DEFAULT_OPT_IN
    return DEFAULT_OPT_IN_FIRST


def lead_reply_due(last_auto_reply_at: datetime | None, now: datetime) -> bool:
    """Whether a patient whose lead is closed gets the auto-reply now (once per 24 h)."""
    return last_auto_reply_at is None or now - last_auto_reply_at >= LEAD_AUTO_REPLY_EVERY


def in_conversation(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether staff may still answer the patient's own text without a recorded opt-in."""
    return last_inbound_at is not None and now - last_inbound_at <= CONVERSATION_WINDOW
