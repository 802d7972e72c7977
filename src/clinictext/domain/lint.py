"""The deliverability lint (SPEC §5): what in a text will cost more or get it filtered. Pure.

``lint(body, kind, link_policy, org_name)`` reads a text before it is sent (a staff text, an
automated template, a campaign) and returns a ``LintReport``: its encoding and segments, as
``domain.segments`` counts them, and a list of findings, each with a code, a severity, a
sentence the front desk understands and what to do about it. The API (``POST /lint``) and the
staff composer both call it, so a finding reads the same wherever it is shown.

Severities: ``block`` means the text will not be sent as it is (an empty or over-long body,
or a link under the ``block`` policy); ``warning`` means carriers may filter it or it costs
noticeably more; ``info`` is worth knowing and needs no change.

Links: the organization's link policy (``domain.links``) governs texts staff type, and the
send path applies it to manual texts only. Automated and campaign texts come from templates
an admin sets up once, and the one link clinictext writes itself, ``[ConfirmURL]``, is a
field, not an address. So in those kinds a typed link is ``info`` (it will be sent; carriers
may still filter it) and the lint never reports a block that sending would not enforce; a
public shortener stays a warning in every kind, since carriers distrust it whoever wrote it.

The wording checks are kept narrow on purpose: a lint that flags "urgent care" or "cash or
card" teaches staff to ignore it. Spam wording is limited to phrases carriers' filters are
known to look for (prizes, "act now", "$$$"...), and ALL-CAPS to several shouted words, not
one acronym or the keywords STOP and HELP.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from clinictext.domain.checklist import SendKind
from clinictext.domain.content import BodyRefused, check_body
from clinictext.domain.keywords import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, prepare
from clinictext.domain.links import LinkFinding, LinkPolicy, link_finding
from clinictext.domain.segments import GSM7, UCS2, SegmentInfo, count_segments, gsm7_rewrite


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    BLOCK = "block"


_RANK = {Severity.BLOCK: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    """One thing the lint found: the shape of a ``POST /lint`` finding."""

    code: str
    severity: Severity
    message: str
    suggestion: str
    matches: tuple[str, ...] = ()  # the parts of the text it is about: links, characters, words


@dataclass(frozen=True)
class LintReport:
    """What the lint says about one body; ``findings`` are ordered block, warning, info."""

    encoding: str  # segments.GSM7 or segments.UCS2
    segments: int
    characters: int
    per_segment: int  # characters a part holds for this text (160/153 or 70/67)
    findings: tuple[Finding, ...]
    ucs2_characters: tuple[str, ...]  # the characters that forced UCS-2, first-seen order
    gsm7_rewrite: str | None  # the body in GSM-7, when UCS-2 and a rewrite exists
    gsm7_rewrite_segments: int | None

    @property
    def blocked(self) -> bool:
        return any(f.severity is Severity.BLOCK for f in self.findings)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)


def lint(
    body: str, kind: SendKind | str, link_policy: LinkPolicy | str, org_name: str
) -> LintReport:
    """Every finding about ``body`` sent as ``kind`` by the organization named ``org_name``.

    Never raises for any string ``body``; ``kind`` and ``link_policy`` must be valid values.
    A template is counted as written (its ``[fields]`` included), not as it will be filled in.
    """
    kind = SendKind(kind)
    policy = LinkPolicy(link_policy)
    info = count_segments(body)
    rewrite = gsm7_rewrite(body) if info.encoding == UCS2 else None
    findings = [
        *_cannot_send(body),
        *_encoding(body, info, rewrite),
        *_length(info),
        *_links(body, kind, policy),
        *_confirm_url(body),
        *_all_caps(body),
        *_spam_words(body),
    ]
    if kind is SendKind.CAMPAIGN:
        findings += [*_missing_org_name(body, org_name), *_missing_opt_out(body)]
    findings.sort(key=lambda f: _RANK[f.severity])  # stable: check order within a severity
    return LintReport(
        encoding=info.encoding,
        segments=info.segments,
        characters=info.characters,
        per_segment=info.per_segment,
        findings=tuple(findings),
        ucs2_characters=info.non_gsm_characters,
        gsm7_rewrite=rewrite,
        gsm7_rewrite_segments=None if rewrite is None else count_segments(rewrite).segments,
    )


# --- what sending refuses -----------------------------------------------------------------


def _cannot_send(body: str) -> list[Finding]:
    try:
        check_body(body)
    except BodyRefused as refused:
        # The sending rules' own sentence, so the lint and a refused send say the same thing.
        return [
            Finding(
                "cannot_send",
                Severity.BLOCK,
                str(refused),
                "Change the text as described; it cannot be sent as it is.",
            )
        ]
    return []


# --- encoding and segments ----------------------------------------------------------------

# Names for characters people paste without seeing them, or cannot tell from the plain ones.
_CHAR_NAMES = {
    "\u2018": "curly quote",
    "\u2019": "curly apostrophe",
    "\u201c": "curly quote",
    "\u201d": "curly quote",
    "\u2013": "dash",
    "\u2014": "long dash",
    "\u2026": "three dots as one character",
    "\u2022": "bullet",
    "\u00a0": "non-breaking space",
    "\u202f": "narrow non-breaking space",
    "\u200b": "invisible space",
    "\u2060": "invisible word joiner",
    "\ufeff": "invisible character",
    "\t": "tab",
}
_MAX_NAMED = 6


def _is_visible(char: str) -> bool:
    return char.isprintable() and not char.isspace() and unicodedata.category(char)[0] != "M"


def _show(char: str) -> str:
    """A character as a person can recognize it in a sentence."""
    name = _CHAR_NAMES.get(char)
    if name is not None:
        return f"{char} ({name})" if _is_visible(char) else name
    if _is_visible(char):
        return char
    # Invisible or combining: its Unicode name is the only way to point at it.
    name = unicodedata.name(char, "").lower()
    return name or f"U+{ord(char):04X}"


def _show_all(chars: tuple[str, ...] | list[str]) -> str:
    shown = [_show(c) for c in chars[:_MAX_NAMED]]
    more = len(chars) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _replacement(char: str) -> str:
    """How the GSM-7 rewrite replaces ``char``, in words."""
    plain = gsm7_rewrite(char) or ""
    if not plain:
        return f"remove {_show(char)}"
    if not plain.strip():
        return f"{_show(char)} → " + ("a space" if plain == " " else f"{len(plain)} spaces")
    return f"{_show(char)} → {plain}"


def _parts(count: int) -> str:
    return f"{count} part" if count == 1 else f"{count} parts"


def _is_letter(char: str) -> bool:
    # Letters, digits and accents of another alphabet carry meaning; emoji and symbols do not.
    category = unicodedata.category(char)
    return category[0] in "LN" or (category[0] == "M" and not "\ufe00" <= char <= "\ufe0f")


def _encoding(body: str, info: SegmentInfo, rewrite: str | None) -> list[Finding]:
    if info.encoding != UCS2:
        return []
    chars = info.non_gsm_characters
    message = (
        f"This text has characters outside the standard texting alphabet ({_show_all(chars)}), "
        "so the whole text is sent as Unicode: each part holds 70 characters instead of 160."
    )
    if rewrite is not None:
        plain_parts = count_segments(rewrite).segments
        swaps = [_replacement(c) for c in chars]
        suggestion = (
            f"Use the version with standard characters ({'; '.join(swaps[:_MAX_NAMED])}"
            f"{' …' if len(swaps) > _MAX_NAMED else ''}): it is sent in "
            f"{_parts(plain_parts)}."
        )
        return [_encoding_finding(message, suggestion, info.segments, plain_parts, chars)]
    stuck = [c for c in chars if gsm7_rewrite(c) is None]
    letters = [c for c in stuck if _is_letter(c)]
    symbols = [c for c in stuck if not _is_letter(c)]
    if letters:
        suggestion = (
            f"Keep {_show_all(letters)} if the text needs them (for example in Spanish): it is "
            "sent correctly, each part just holds fewer characters."
        )
        if symbols:
            suggestion += f" Emoji and symbols such as {_show_all(symbols)} only add length."
        return [Finding("ucs2_characters", Severity.INFO, message, suggestion, chars)]
    # Only emoji or symbols stand in the way: without them the text has a GSM-7 form.
    without = gsm7_rewrite("".join(c for c in body if c not in symbols))
    plain_parts = count_segments(without).segments if without is not None else info.segments
    suggestion = (
        f"Remove {_show_all(symbols)} (emoji and symbols have no standard-text form) to send "
        f"it as standard text, in {_parts(plain_parts)}."
    )
    return [_encoding_finding(message, suggestion, info.segments, plain_parts, chars)]


def _encoding_finding(
    message: str, suggestion: str, parts: int, plain_parts: int, chars: tuple[str, ...]
) -> Finding:
    # Unicode alone costs nothing; it is worth a warning when it adds parts, i.e. money.
    if plain_parts < parts:
        message += f" It takes {_parts(parts)} instead of {plain_parts}."
        return Finding("ucs2_characters", Severity.WARNING, message, suggestion, chars)
    return Finding("ucs2_characters", Severity.INFO, message, suggestion, chars)


# From this many parts a text is a warning: each part is billed, and carriers grow wary of
# texts that arrive as a pile of parts.
LONG_WARNING_SEGMENTS = 4


def _length(info: SegmentInfo) -> list[Finding]:
    if info.segments < 2:
        return []
    severity = Severity.WARNING if info.segments >= LONG_WARNING_SEGMENTS else Severity.INFO
    limit = (
        "160 characters or fewer"
        if info.encoding == GSM7
        else "70 characters or fewer (160 with standard characters only)"
    )
    return [
        Finding(
            "long_message",
            severity,
            f"This text is sent in {_parts(info.segments)}: the patient sees one text, but "
            f"each part is billed as a text, so it costs {info.segments} times as much.",
            f"Shorten it to {limit} to send it as one part.",
        )
    ]


# --- links ----------------------------------------------------------------------------------


def _from_links(found: LinkFinding, severity: Severity, note: str = "") -> Finding:
    return Finding(found.code, severity, found.message + note, found.suggestion, tuple(found.links))


def _links(body: str, kind: SendKind, policy: LinkPolicy) -> list[Finding]:
    if kind is SendKind.MANUAL:
        found = link_finding(body, policy)
        return [] if found is None else [_from_links(found, Severity(found.severity))]
    # Not a staff text: the policy does not apply (see the module docstring).
    found = link_finding(body, LinkPolicy.WARN)
    if found is None:
        return []
    severity = Severity.WARNING if found.code == "link_shortener" else Severity.INFO
    note = (
        " Your organization's link policy covers texts staff type, not automated or campaign "
        "texts, so it will be sent."
    )
    return [_from_links(found, severity, note)]


_CONFIRM_URL = re.compile(r"\[\s*confirm\s*url\s*\]", re.IGNORECASE)


def _confirm_url(body: str) -> list[Finding]:
    if not _CONFIRM_URL.search(body):
        return []
    return [
        Finding(
            "confirm_url",
            Severity.WARNING,
            "[ConfirmURL] puts a link in the text, and carriers often filter texts with links "
            "as spam, so some patients never get the confirmation.",
            "Use [ConfirmCode] instead: the patient confirms by replying with a short code, "
            "and no link is needed.",
            ("[ConfirmURL]",),
        )
    ]


# --- wording --------------------------------------------------------------------------------

_FIELD = re.compile(r"\[[A-Za-z]+\]")
_WORD = re.compile(r"[^\W\d_]+")
# Capitals that are not shouting: the carrier keywords a text tells patients to send, and
# acronyms of four letters or more that clinics write (shorter words never count).
_CAPS_ALLOWED = frozenset(
    {*OPT_OUT_WORDS, *OPT_IN_WORDS, *HELP_WORDS}
    | {"ASAP", "COVID", "HIPAA", "ADHD", "COPD", "CPAP", "DEXA", "NOTE", "RSVP"}
)
_SHOUT_MIN_LETTERS = 4
_SHOUT_MIN_WORDS = 2
# A text mostly in capitals shouts even in short words ("PLS CALL US ON MON").
_CAPS_SHARE = 0.7
_CAPS_SHARE_MIN_LETTERS = 20


def _all_caps(body: str) -> list[Finding]:
    words = [w for w in _WORD.findall(_FIELD.sub(" ", body)) if w not in _CAPS_ALLOWED]
    shouted = [w for w in words if len(w) >= _SHOUT_MIN_LETTERS and w.isupper()]
    letters = sum(len(w) for w in words)
    upper = sum(len(w) for w in words if w.isupper())
    mostly_caps = letters >= _CAPS_SHARE_MIN_LETTERS and upper >= _CAPS_SHARE * letters
    if len(shouted) < _SHOUT_MIN_WORDS and not mostly_caps:
        return []
    matches = tuple(dict.fromkeys(shouted or [w for w in words if w.isupper()]))
    return [
        Finding(
            "all_caps",
            Severity.WARNING,
            f"This text has words in capital letters ({', '.join(matches[:_MAX_NAMED])}). "
            "Capitals read as shouting, and carriers' spam filters look for them.",
            "Write it in normal sentence case; if a word needs attention, put it first instead.",
            matches,
        )
    ]


# Phrases carriers' filters flag as spam. "free" is handled apart: clinics write "feel free"
# and "pain free" far more often than spammers' "FREE".
_SPAM_PHRASES = re.compile(
    r"(?<![\w-])(?:"
    r"(?:earn|win|get|instant|fast) cash|cash[- ]?(?:prizes?|bonus(?:es)?|rewards?|back)"
    r"|you(?:'ve| have)? won|winners?|win|prizes?"
    r"|act now|buy now|order now|limited[- ]time(?: offer)?|click here"
    r"|you(?:'ve| have) been (?:selected|chosen)|claim (?:your|it|now)"
    r"|gift ?cards?|giveaways?|sweepstakes|lottery|jackpot|risk[- ]free|100% guaranteed"
    r")(?![\w-])"
    r"|\${2,}",
    re.IGNORECASE,
)
_FREE = re.compile(r"(?<![\w-])free(?![\w-])", re.IGNORECASE)
_WORD_BEFORE = re.compile(r"(\w+)\s+$")
# "X free" meaning "without X", and "feel free": ordinary clinic wording.
_FREE_AFTER = frozenset(
    {"feel", "pain", "symptom", "symptoms", "smoke", "scent", "fragrance", "latex", "gluten"}
    | {"sugar", "toll", "cavity", "cancer", "drug", "alcohol", "nut", "caffeine", "tobacco"}
)


def _spam_words(body: str) -> list[Finding]:
    text = prepare(body)  # fullwidth letters and curly apostrophes, as filters see them
    found = [(m.start(), m.group(0)) for m in _SPAM_PHRASES.finditer(text)]
    for match in _FREE.finditer(text):
        before = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start())
        if before is None or before.group(1).casefold() not in _FREE_AFTER:
            found.append((match.start(), match.group(0)))
    if not found:
        return []
    first: dict[str, str] = {}  # one entry per word, whatever its case, in the text's order
    for _, word in sorted(found):
        first.setdefault(word.casefold(), word)
    matches = tuple(first.values())
    quoted = ", ".join(f'"{w}"' for w in matches[:_MAX_NAMED])
    return [
        Finding(
            "spam_words",
            Severity.WARNING,
            f"Words such as {quoted} are typical of spam, and carriers' filters may block "
            "texts that use them.",
            "Say it plainly: what the patient gets and when (for example 'at no charge' "
            "instead of 'free'), without prizes, deadlines or dollar signs.",
            matches,
        )
    ]


# --- campaigns --------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(prepare(text).casefold().split())


def names_org(body: str, org_name: str) -> bool:
    """True when ``body`` says who it is from: the organization's name or [OfficeName].

    Also used to add the name to a campaign text that lacks it, so the two never disagree.
    """
    name = _plain(org_name)
    # [OfficeName] is filled in with the clinic's name; with no name there is nothing to find.
    return not name or name in _plain(body) or "[officename]" in body.casefold()


def _missing_org_name(body: str, org_name: str) -> list[Finding]:
    if names_org(body, org_name):
        return []
    return [
        Finding(
            "missing_org_name",
            Severity.WARNING,
            f"This campaign text does not say it is from {org_name.strip()}. Patients ignore or "
            "report texts from senders they do not recognize, and carriers expect the sender's "
            "name in marketing texts.",
            f"Start the text with your name, for example '{org_name.strip()}: …'.",
        )
    ]


_STOP_WORDS = "|".join(w.replace("-", "[- ]?") for w in OPT_OUT_WORDS) + "|opt[- ]?out"
_OPT_OUT_LINE = re.compile(
    rf"\b(?:reply|text|txt|send|respond|responda|responde|env[ií]a|escriba)\s+(?:with\s+)?"
    rf"[\"']?(?:{_STOP_WORDS})\b"
    rf"|\b(?:{_STOP_WORDS})[\"']?\s+(?:to|para)\s+"
    r"(?:opt[- ]?out|unsubscribe|stop|end|cancel|quit|cancelar|dejar)",
    re.IGNORECASE,
)


def has_opt_out_line(body: str) -> bool:
    """True when ``body`` tells patients how to stop the texts ("Reply STOP to opt out")."""
    return _OPT_OUT_LINE.search(prepare(body)) is not None


def _missing_opt_out(body: str) -> list[Finding]:
    if has_opt_out_line(body):
        return []
    return [
        Finding(
            "missing_opt_out",
            Severity.WARNING,
            "This campaign text does not tell patients how to stop these texts. Carriers "
            "require an opt-out line in marketing texts and filter those without one.",
            "End it with 'Reply STOP to opt out.'",
        )
    ]
