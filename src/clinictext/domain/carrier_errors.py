"""The catalogue of provider error codes: what each means to staff, and what follows.

Codes are Twilio's (the reference provider); an adapter for another provider maps its own
codes onto these. ``transient`` errors are retried with backoff; the others fail at once.
``effect`` names the side effect a code has on clinictext's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Effect(StrEnum):
    OPT_OUT = "opt_out"  # the patient blocked the clinic at the carrier (STOP)
    PHONE_INVALID = "phone_invalid"
    PHONE_LANDLINE = "phone_landline"
    SPAM = "spam"
    SENDER = "sender"  # the sender number cannot send (unverified, unregistered, not owned)
    ACCOUNT = "account"  # credentials or account: the connector is at fault, not the text


@dataclass(frozen=True)
class CarrierError:
    code: str
    meaning: str
    fix: str
    transient: bool = False
    effect: Effect | None = None


_EDIT_PHONE = "Edit the patient's wireless phone and retry."
_CATALOGUE = [
    CarrierError(
        "21211",
        "the patient's wireless phone is not a valid number",
        _EDIT_PHONE,
        effect=Effect.PHONE_INVALID,
    ),
    CarrierError(
        "21614",
        "the patient's phone is a landline or cannot receive texts",
        _EDIT_PHONE,
        effect=Effect.PHONE_LANDLINE,
    ),
    CarrierError(
        "30005",
        "the patient's number is unknown to the carrier or no longer exists",
        _EDIT_PHONE,
        effect=Effect.PHONE_INVALID,
    ),
    CarrierError(
        "30006",
        "the patient's number is a landline or its carrier cannot receive texts",
        _EDIT_PHONE,
        effect=Effect.PHONE_LANDLINE,
    ),
    CarrierError(
        "21610",
        "the recipient opted out at the carrier (they replied STOP to this number)",
        "Nothing to send: consent has been updated to opted out; only the patient can "
        "opt back in by texting START.",
        effect=Effect.OPT_OUT,
    ),
    CarrierError(
        "30007",
        "the carrier filtered it as spam",
        "Remove links, rephrase the text, and see the lint findings; for confirmations use "
        "[ConfirmCode] instead of [ConfirmURL].",
        effect=Effect.SPAM,
    ),
    CarrierError(
        "30003",
        "the patient's phone was unreachable (off, or out of coverage)",
        "Nothing to do: it is retried; if it keeps failing, call the patient.",
        transient=True,
    ),
    CarrierError(
        "30008",
        "the carrier reported an unknown error",
        "Nothing to do: it is retried.",
        transient=True,
    ),
    CarrierError(
        "30001",
        "the provider's queue was full",
        "Nothing to do: it is retried.",
        transient=True,
    ),
    CarrierError(
        "30022",
        "the sender number sent faster than the carrier allows",
        "Nothing to do: it is retried; lower the number's messages-per-second setting.",
        transient=True,
    ),
    CarrierError(
        "20429",
        "the provider asked clinictext to slow down",
        "Nothing to do: it is retried.",
        transient=True,
    ),
    CarrierError(
        "30004",
        "the patient's carrier blocked the message",
        "Ask the patient to check that they do not block texts from the clinic.",
    ),
    CarrierError(
        "21612",
        "the carrier cannot route texts from this number to the patient",
        "Check the patient's number; contact support if it is correct.",
    ),
    CarrierError(
        "21408",
        "texting to the patient's country is not enabled",
        "Enable that country in the provider account or contact support.",
    ),
    CarrierError(
        "21617",
        "the text is longer than the provider accepts",
        "Shorten the text.",
    ),
    CarrierError(
        "30032",
        "the sender number has not been verified by the provider yet",
        "Wait for the toll-free or landline verification to complete, then refresh.",
        effect=Effect.SENDER,
    ),
    CarrierError(
        "30034",
        "the sender number is not registered for business texting (A2P 10DLC)",
        "Finish the carrier registration; contact support.",
        effect=Effect.SENDER,
    ),
    CarrierError(
        "21606",
        "the sender number does not belong to the provider account",
        "Check the organization's numbers against the provider account.",
        effect=Effect.SENDER,
    ),
    CarrierError(
        "21212",
        "the sender number is not a valid number",
        "Check the organization's numbers.",
        effect=Effect.SENDER,
    ),
    CarrierError(
        "20003",
        "the provider rejected clinictext's credentials",
        "Check the provider credentials (account SID and auth token), then refresh the connector.",
        transient=True,
        effect=Effect.ACCOUNT,
    ),
    CarrierError(
        "30002",
        "the provider account is suspended",
        "Contact the provider or support.",
        transient=True,
        effect=Effect.ACCOUNT,
    ),
]
CATALOGUE: dict[str, CarrierError] = {e.code: e for e in _CATALOGUE}


def lookup(code: str | None) -> CarrierError | None:
    """The catalogue entry for ``code``, or None for an unknown or missing code."""
    if code is None:
        return None
    return CATALOGUE.get(str(code))


def is_transient(code: str | None) -> bool:
    entry = lookup(code)
    return entry is not None and entry.transient
