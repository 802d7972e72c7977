"""Rules a message body must meet before it can be queued at all."""

from __future__ import annotations

import re

# Twilio refuses bodies over 1,600 characters; longer texts also arrive as a pile of
# segments that carriers treat as spam.
MAX_BODY_CHARS = 1600
# Half of a UTF-16 surrogate pair: Python strings can hold one (from JSON "\ud83d", or a
# command line's undecodable bytes), but no database or carrier can store or send it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyRefused(ValueError):
    """The body cannot be sent as it is; ``str(err)`` says why and what to do."""


def check_body(body: str) -> str:
    """The body to send (unchanged), or ``BodyRefused``."""
    if not body.strip():
        raise BodyRefused("The message is empty. Type the text to send.")
    if "\x00" in body:
        raise BodyRefused("The message contains a NUL character; remove it and try again.")
    if not body.isascii() and _LONE_SURROGATE.search(body):
        raise BodyRefused(
            "The message contains a broken character (half of an emoji or another symbol, "
            "often left by copying and pasting); retype that part of the text."
        )
    if len(body) > MAX_BODY_CHARS:
        raise BodyRefused(
            f"The message is {len(body):,} characters; the limit is {MAX_BODY_CHARS:,}. "
            "Shorten it or split it into two texts."
        )
    return body
