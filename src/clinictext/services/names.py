"""The name staff give a template, a rule or a campaign: one set of rules for all three."""

from __future__ import annotations

import re

from clinictext.services.errors import Invalid

# Every name column is String(200).
MAX_NAME = 200
# Half of an emoji (a command line's undecodable bytes) or a NUL: no database stores them.
_BROKEN = re.compile("[\ud800-\udfff\x00]")


def check_name(name: str, *, what: str, example: str, code: str) -> str:
    """``name`` without surrounding spaces, or ``Invalid`` (field ``name``) saying what to
    change: empty, longer than ``MAX_NAME``, or with a broken character."""
    name = name.strip()
    if not name:
        raise Invalid(
            f"A {what} needs a name staff recognize, e.g. '{example}'.", code=code, field="name"
        )
    if len(name) > MAX_NAME:
        raise Invalid(
            f"The name is {len(name)} characters: shorten it to {MAX_NAME} or fewer.",
            code=code,
            field="name",
        )
    if _BROKEN.search(name):
        raise Invalid(
            "The name contains a broken character (a NUL or half of an emoji); retype it.",
            code=code,
            field="name",
        )
    return name
