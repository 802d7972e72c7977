"""Rendering pages: one Jinja2 environment (autoescaping on), the filters the templates
share, and the page and fragment responses.

Jinja2 (not a component framework) because the pages are server-rendered HTML with htmx
swapping fragments in: the same template renders a whole page or one of its parts.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from clinictext import __version__
from clinictext.services.clock import utcnow

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# A label's colour class; the word itself is always shown too.
LABEL_TONE = {
    "Pending": "tone-wait",
    "Delivered": "tone-ok",
    "Failed": "tone-bad",
    "Received": "tone-info",
    "Canceled": "tone-muted",
}


def ago(at: datetime | None, now: datetime | None = None) -> str:
    """Time since ``at`` in a few words: "just now", "5 min", "3 h", "2 d"."""
    if at is None:
        return "never"
    seconds = int(((now or utcnow()) - at).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def local_time(at: datetime | None, tz: str = "UTC", fmt: str = "%b %-d, %-I:%M %p") -> str:
    """``at`` in the clinic's time zone, as a person reads it."""
    if at is None:
        return ""
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime(fmt)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = ago
    env.filters["local_time"] = local_time
    env.globals["label_tone"] = lambda label: LABEL_TONE.get(label, "tone-muted")
    env.globals["version"] = __version__
    env.globals["active"] = ""  # the nav entry of the page, when it has one
    return env


ENV = _environment()


def html(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with ``context`` plus the request and who is signed in."""
    values: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "signed_in", None),
        "chrome": getattr(request.state, "chrome", None),
        "now": utcnow(),
    }
    values.update(context or {})
    body = ENV.get_template(template).render(values)
    return HTMLResponse(body, status_code=status, headers=headers)
