"""What the simulated network does with a text, given the recipient's persona.

A persona is attached to a destination number with ``POST /_control/numbers/{e164}``; numbers
without one behave as ``ok``. The outcome is fixed when the message is accepted.
"""

from __future__ import annotations

import re

PERSONAS = ("ok", "landline", "unreachable", "unknown", "spam_filter", "carrier_opt_out")
DEFAULT_PERSONA = "ok"

# Carrier error codes (https://www.twilio.com/docs/api/errors) used by the personas.
UNREACHABLE = 30003
UNKNOWN_HANDSET = 30005
LANDLINE = 30006
FILTERED = 30007

ERROR_MESSAGES = {
    UNREACHABLE: "Unreachable destination handset",
    UNKNOWN_HANDSET: "Unknown destination handset",
    LANDLINE: "Landline or unreachable carrier",
    FILTERED: "Message filtered",
}

_FIXED_OUTCOMES: dict[str, tuple[str, int | None]] = {
    "ok": ("delivered", None),
    "landline": ("undelivered", LANDLINE),
    "unreachable": ("undelivered", UNREACHABLE),
    "unknown": ("undelivered", UNKNOWN_HANDSET),
}

SHORTENERS = ("bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly")

# Top-level domains that make a bare ``name.tld`` look like a link even without a path.
_COMMON_TLDS = (
    "com|org|net|edu|gov|mil|info|biz|io|co|us|ca|uk|me|ly|gl|gd|app|dev|health|care|clinic"
    "|site|online|link|xyz|ai|tv|to|cc|ws|eu|de|fr|au|in"
)
_SHORTENER_RE = "|".join(re.escape(s) for s in SHORTENERS)
_LINK = re.compile(
    r"https?://"  # an explicit scheme
    r"|(?<![\w@.-])www\."  # www.anything
    rf"|(?<![\w@.-])(?:{_SHORTENER_RE})(?![\w-])"  # a public shortener
    r"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}/"  # bare domain with a path
    rf"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_COMMON_TLDS})(?![\w.-]*\w)",
    re.IGNORECASE,
)


def has_link(body: str) -> bool:
    """True if the body contains something a carrier's spam filter would treat as a link."""
    return _LINK.search(body) is not None


def delivery_outcome(persona: str, body: str) -> tuple[str, int | None]:
    """The final status and error code of a text sent to a number with this persona."""
    if persona == "spam_filter":
        return ("undelivered", FILTERED) if has_link(body) else ("delivered", None)
    return _FIXED_OUTCOMES.get(persona, ("delivered", None))
