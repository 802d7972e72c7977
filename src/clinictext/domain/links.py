"""Links in a text a person typed, and the organization's link policy (SPEC §5). Pure.

Carriers often filter texts with links, public shorteners most of all, as spam. An
organization chooses what happens to a staff text with a link: ``warn`` (it goes out, with
a finding) or ``block`` (it is refused). Links clinictext writes itself (keyword and
auto-replies, the confirmation URL of a template) are not subject to the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class LinkPolicy(StrEnum):
    WARN = "warn"
    BLOCK = "block"


# Top-level domains a bare "clinic.com/book" may end in. A scheme (http://) or "www." makes
# anything a link; without them only these count, so "Dr.Lee" or "3.5mg" never do. Domains
# that are also short words (.to .be .at .me .us .in .de .es) are left out: texts often lack
# the space after a full stop ("tomorrow.To reschedule", "Gracias.De nada").
_TLDS = (
    "com|org|net|edu|gov|ca|uk|io|co|ly|info|biz|app|link|site|online|page|xyz|gl|cc|ws"
    "|health|care|clinic|dental|dentist|doctor|hospital|mx|au"
)
_URL = re.compile(
    r"(?<![@\w.-])"  # not inside an e-mail address or a longer word
    r"(?:"
    r"(?:https?|ftp)://[^\s<>\"']+"  # anything with a scheme
    r"|www\.[^\s<>\"']+"  # www.anything
    rf"|(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})(?![\w-])(?:[/?#][^\s<>\"']*)?"
    r")",
    re.IGNORECASE,
)
# Public shorteners carriers distrust most (a shared domain hides where the link goes).
SHORTENERS = frozenset(
    {
        "bit.ly",
        "tinyurl.com",
        "goo.gl",
        "t.co",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "rebrand.ly",
        "cutt.ly",
        "shorturl.at",
        "rb.gy",
        "tiny.cc",
        "t.ly",
    }
)
_TRAILING = ".,;:!?)]}'\""


def find_links(body: str) -> list[str]:
    """The links in ``body``, in order, without trailing punctuation."""
    found = []
    for match in _URL.finditer(body):
        link = match.group(0).rstrip(_TRAILING)
        if link:
            found.append(link)
    return found


def _host(link: str) -> str:
    rest = link.split("://", 1)[-1]
    host = re.split(r"[/?#:]", rest, maxsplit=1)[0].lower()
    return host.removeprefix("www.")


def is_shortener(link: str) -> bool:
    return _host(link) in SHORTENERS


@dataclass(frozen=True)
class LinkFinding:
    """A lint finding about links (the shape of POST /lint findings, plus the links)."""

    code: str  # "link" or "link_shortener"
    severity: str  # "warning" or "block"
    message: str
    suggestion: str
    links: list[str]


def link_finding(body: str, policy: LinkPolicy | str) -> LinkFinding | None:
    """What the link policy says about a staff text; None when it has no link."""
    links = find_links(body)
    if not links:
        return None
    policy = LinkPolicy(policy)
    shortened = [link for link in links if is_shortener(link)]
    code = "link_shortener" if shortened else "link"
    quoted = ", ".join(links[:3]) + (" …" if len(links) > 3 else "")
    why = (
        "a public link shortener, which carriers filter as spam"
        if shortened
        else "a link; carriers often filter texts with links as spam"
    )
    if policy is LinkPolicy.BLOCK:
        return LinkFinding(
            code,
            "block",
            f"This text contains {why} ({quoted}), and your organization blocks links in "
            "staff texts. Nothing was sent.",
            "Remove the link and send again (for example, ask the patient to call or to "
            "reply), or ask an admin to set the link policy to 'warn'.",
            links,
        )
    return LinkFinding(
        code,
        "warning",
        f"This text contains {why} ({quoted}).",
        "Send it without the link if you can"
        + ("; if not, use the full address rather than a shortener." if shortened else "."),
        links,
    )
