"""The words and shapes the campaigns pages show: a status as a word, a skip reason in the
clinic's words, the progress bar's parts, a recipient's row.

Only presentation lives here: what a campaign's status is, who is skipped and why, and the
counts all come from ``services.campaigns``; this module turns them into what a person
reads, the same way on the list, the wizard and a campaign's page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clinictext.domain.campaigns import skip_label
from clinictext.web.render import local_time

STATUS_WORDS = {
    "draft": "Draft",
    "scheduled": "Scheduled",
    "running": "Running",
    "paused": "Paused",
    "canceled": "Canceled",
    "done": "Done",
}
STATUS_TONES = {
    "draft": "tone-muted",
    "scheduled": "tone-info",
    "running": "tone-wait",
    "paused": "tone-wait",
    "canceled": "tone-muted",
    "done": "tone-ok",
}
STATUS_MEANINGS = {
    "draft": "Saved, not started: nothing is sent until it is started.",
    "scheduled": "Started; its texts wait for the send time.",
    "running": "Its texts are going out, each within the patient's send window.",
    "paused": "Held: no more texts go out until it is resumed.",
    "canceled": "Canceled: texts not yet handed to the provider were canceled.",
    "done": "Every text has been handed to the provider or has ended.",
}


# A recipient's status: the message's status, or "skipped" when no text was written.
RECIPIENT_WORDS = {
    "skipped": "Skipped",
    "scheduled": "Scheduled",
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "undelivered": "Undelivered",
    "failed": "Failed",
    "canceled": "Canceled",
}
RECIPIENT_TONES = {
    "skipped": "tone-muted",
    "scheduled": "tone-wait",
    "queued": "tone-wait",
    "sending": "tone-wait",
    "sent": "tone-wait",
    "delivered": "tone-ok",
    "undelivered": "tone-bad",
    "failed": "tone-bad",
    "canceled": "tone-muted",
}
# The report's filter: every status a recipient can have, in the order a campaign moves.
REPORT_FILTERS: tuple[tuple[str, str], ...] = (
    ("", "Everyone"),
    ("skipped", "Skipped"),
    ("scheduled", "Scheduled"),
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("undelivered", "Undelivered"),
    ("failed", "Failed"),
    ("canceled", "Canceled"),
)

# The progress counts, in the order of the bar: where each text is now.
PROGRESS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("delivered", "Delivered", ("delivered",)),
    ("sent", "Sent", ("sent", "sending")),
    ("queued", "Queued", ("queued",)),
    ("scheduled", "Scheduled", ("scheduled",)),
    ("failed", "Failed", ("failed", "undelivered")),
    ("canceled", "Canceled", ("canceled",)),
    ("skipped", "Skipped", ()),
)
# Statuses a text can still leave on its own (the page keeps polling while any is left).
MOVING = ("scheduled", "queued", "sending")
ACTIVE = ("scheduled", "running", "paused")
BAR_UNITS = 1000

STAGE_CHOICES = (
    ("open", "Open"),
    ("in_progress", "In progress"),
    ("closed_won", "Closed won"),
    ("closed_lost", "Closed lost"),
)
STAGE_WORDS = dict(STAGE_CHOICES)
LANGUAGES = (
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("pt", "Portuguese"),
    ("zh", "Chinese"),
    ("vi", "Vietnamese"),
    ("ko", "Korean"),
    ("tl", "Tagalog"),
    ("ru", "Russian"),
    ("ar", "Arabic"),
    ("ht", "Haitian Creole"),
)
LANGUAGE_WORDS = dict(LANGUAGES)


def number(n: int) -> str:
    """A count as people write it: 1,204."""
    return f"{n:,}"


def patients(n: int) -> str:
    return f"{number(n)} patient" + ("" if n == 1 else "s")


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def recipient_word(status: str) -> str:
    return RECIPIENT_WORDS.get(status, status.replace("_", " ").capitalize())


def audience_words(audience: Mapping[str, Any], csv_name: str = "") -> str:
    """The audience in a sentence: "Patients whose lead is Open or In progress, in Spanish"."""
    parts: list[str] = []
    ids = audience.get("patient_ids") or []
    if ids:
        source = f" from {csv_name}" if csv_name else ""
        parts.append(f"{patients(len(ids))} listed{source}")
    stages = audience.get("lead_stages") or []
    if stages:
        names = [STAGE_WORDS.get(s, s) for s in stages]
        joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        parts.append(f"patients whose lead is {joined}")
    if not parts:
        parts.append("all patients")
    language = audience.get("language")
    said = "; ".join(parts)
    if language:
        said += f", whose language is {LANGUAGE_WORDS.get(language, language)}"
    return said[0].upper() + said[1:]


def send_time(
    send_at: datetime | None, tz: str, started_at: datetime | None = None, *, short: bool = False
) -> str:
    """When a campaign goes: its send time in the clinic's zone, or when it is started."""
    if send_at is not None:
        return local_time(send_at, tz, "%b %-d, %Y, %-I:%M %p")
    if short:
        return "When started"
    if started_at is not None:
        return "As soon as it was started, within each patient's send window"
    return "As soon as it is started, within each patient's send window"


def progress_line(counts: Mapping[str, int]) -> str:
    """A started campaign's texts in one line: "120 texts: 40 delivered, 79 waiting, 1 failed"."""
    texts = int(counts.get("recipients", 0))
    parts = [
        (int(counts.get("delivered", 0)), "delivered"),
        (sum(int(counts.get(s, 0)) for s in ("sent", "sending")), "sent"),
        (sum(int(counts.get(s, 0)) for s in ("scheduled", "queued")), "waiting"),
        (int(counts.get("failed", 0)), "failed"),
        (int(counts.get("canceled", 0)), "canceled"),
    ]
    said = ", ".join(f"{number(n)} {word}" for n, word in parts if n)
    line = f"{number(texts)} text{'' if texts == 1 else 's'}" + (f": {said}" if said else "")
    skipped = int(counts.get("skipped", 0))
    return line + (f"; {number(skipped)} skipped" if skipped else "")


@dataclass(frozen=True)
class Reason:
    key: str
    word: str
    count: int


def reasons(skip_reasons: Mapping[str, int]) -> list[Reason]:
    """The counts by reason in words, most common first."""
    rows = [Reason(k, skip_label(k), int(n)) for k, n in skip_reasons.items() if n]
    return sorted(rows, key=lambda r: (-r.count, r.word))


@dataclass(frozen=True)
class Segment:
    key: str
    x: int
    width: int


@dataclass(frozen=True)
class CountItem:
    key: str
    word: str
    count: int


@dataclass(frozen=True)
class Progress:
    """The live part of a campaign's page."""

    items: list[CountItem]
    segments: list[Segment]
    total: int
    summary: str
    live: bool
    seen: str


def progress(status: str, counts: Mapping[str, int]) -> Progress:
    """The counts as numbers and a bar; ``live`` while anything can still change by itself."""
    items = [
        CountItem(key, word, int(counts.get("skipped", 0)) if key == "skipped" else 0)
        if not statuses
        else CountItem(key, word, sum(int(counts.get(s, 0)) for s in statuses))
        for key, word, statuses in PROGRESS
    ]
    total = sum(i.count for i in items)
    segments: list[Segment] = []
    x = 0
    for item in items:
        if not item.count or not total:
            continue
        width = round(item.count * BAR_UNITS / total)
        segments.append(Segment(item.key, x, max(1, min(width, BAR_UNITS - x))))
        x += width
    if segments:  # rounding never leaves a gap at the end of the bar
        last = segments[-1]
        segments[-1] = Segment(last.key, last.x, max(1, BAR_UNITS - last.x))
    texts = int(counts.get("recipients", total - int(counts.get("skipped", 0))))
    by_key = {i.key: i.count for i in items}
    ended = by_key["delivered"] + by_key["failed"] + by_key["canceled"]
    waiting = sum(int(counts.get(s, 0)) for s in MOVING)
    if status == "draft":
        summary = "Not started: nothing has been sent."
    elif texts == 0:
        summary = "No texts: every patient of the audience was skipped."
    else:
        summary = (
            f"{number(ended)} of {number(texts)} text{'' if texts == 1 else 's'} "
            f"finished (delivered, failed or canceled); {number(by_key['sent'])} sent and "
            f"waiting for the carrier's delivery report; {number(waiting)} not yet sent."
        )
    live = status in ACTIVE or waiting > 0
    seen = "-".join(str(i.count) for i in items) + f"-{status}"
    return Progress(items, segments, total, summary, live, seen)


def detail_lines(checks: Iterable[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    """Each failing check of a skipped patient: its reason in words and its detail."""
    return [
        {"word": skip_label(str(c.get("id", ""))), "detail": str(c.get("detail") or "")}
        for c in checks or ()
    ]


def patient_name(first: str | None, last: str | None, fallback: str) -> str:
    name = f"{first or ''} {last or ''}".strip()
    return name or fallback


def joined(words: Sequence[str]) -> str:
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]
