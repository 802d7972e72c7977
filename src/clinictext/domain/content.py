"""Rules a message body must meet before it can be queued at all."""

from __future__ import annotations

# Twilio refuses bodies over 1,600 characters; longer texts also arrive as a pile of
# segments that carriers treat as spam.
MAX_BODY_CHARS = 1600


class BodyRefused(ValueError):
    """The body cannot be sent as it is; ``str(err)`` says why and what to do."""


def check_body(body: str) -> str:
    """The body to send (unchanged), or ``BodyRefused``."""
    if not body.strip():
        raise BodyRefused("The message is empty. Type the text to send.")
    if "\x00" in body:
        raise BodyRefused("The message contains a NUL character; remove it and try again.")
    if len(body) > MAX_BODY_CHARS:
        raise BodyRefused(
            f"The message is {len(body):,} characters; the limit is {MAX_BODY_CHARS:,}. "
            "Shorten it or split it into two texts."
        )
    return body
