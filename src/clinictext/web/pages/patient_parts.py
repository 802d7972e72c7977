"""The patient page's parts: the words they use, how each is rendered, and the element that
refreshes it.

The page (``patient``) and the side panel's actions (``patient_panel``) both draw with these.
A part refreshes itself when the conversation's topic changes (``sse:conversation``); it
carries a fingerprint of what it shows (``seen``), so a refresh that would show the same thing
answers 204 and nothing on the page moves, closes or loses focus. A side-panel section is a
part and its form: the form sits outside the part, so a refresh never touches what staff are
typing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Path
from markupsafe import Markup
from sqlalchemy.orm import Session

from clinictext.api.schemas import MAX_ID
from clinictext.domain.consent import ConsentState
from clinictext.domain.leads import LeadStage, describe, is_active
from clinictext.domain.phones import display
from clinictext.services import consent, conversation_view, leads, orgs
from clinictext.services.clock import utcnow
from clinictext.store.models import Patient
from clinictext.web.render import ENV

PatientId = Annotated[int, Path(ge=1, le=MAX_ID)]

STAGES = (
    ("open", "Open"),
    ("in_progress", "In progress"),
    ("closed_won", "Closed won"),
    ("closed_lost", "Closed lost"),
)
STAGE_WORDS = dict(STAGES)
LEVELS = (
    ("informational", "Care texts (informational)"),
    ("marketing", "Care and marketing texts"),
)
LEVEL_WORDS = dict(LEVELS)
# The opt-in sources staff may record; "keyword" is the patient's own START.
OPT_IN_SOURCES = (
    ("web_form", "Web form"),
    ("paper_form", "Paper form"),
    ("verbal", "Verbally (in person or by phone)"),
    ("import", "Imported from another system"),
    ("api", "Another program (API)"),
)
SOURCE_WORDS = {
    **dict(OPT_IN_SOURCES),
    "keyword": "the patient's own text (keyword)",
    "staff": "staff",
    "campaign": "a campaign unsubscribe",
    "carrier": "the carrier (the patient blocked texts)",
    "free_text": "a reply asking to stop (confirmed by staff)",
}
CONSENT_WORDS = {
    ConsentState.OPTED_IN.value: "Opted in",
    ConsentState.OPTED_OUT.value: "Opted out",
    ConsentState.NONE.value: "No consent recorded",
}
CONSENT_TONES = {
    ConsentState.OPTED_IN.value: "tone-ok",
    ConsentState.OPTED_OUT.value: "tone-bad",
    ConsentState.NONE.value: "tone-muted",
}
STATUS_WORDS = {
    "scheduled": "Scheduled",
    "queued": "Queued",
    "sending": "Handed to the provider",
    "sent": "Sent (carrier accepted)",
    "delivered": "Delivered",
    "undelivered": "Undelivered",
    "failed": "Failed",
    "canceled": "Canceled",
    "received": "Received",
}
PHONE_WORDS = {
    "valid": "Valid",
    "landline": "Landline: cannot receive texts",
    "invalid": "Invalid number",
    "missing": "No phone on file",
}
# How many texts and commlogs a part shows at first; "Show more" adds as many again.
SHOWN = {"conversation": 100, "commlogs": 20}
SHOWN_MAX = 5000

WORDS: dict[str, Any] = {
    "stages": STAGES,
    "stage_words": STAGE_WORDS,
    "levels": LEVELS,
    "level_words": LEVEL_WORDS,
    "opt_in_sources": OPT_IN_SOURCES,
    "source_words": SOURCE_WORDS,
    "consent_words": CONSENT_WORDS,
    "consent_tones": CONSENT_TONES,
    "status_words": STATUS_WORDS,
    "phone_words": PHONE_WORDS,
    "display_phone": lambda e164: display(e164) if e164 else "",
    "describe_stage": lambda stage, sub: describe(LeadStage(stage), sub) if stage else "not a lead",
}


def render(template: str, context: dict[str, Any]) -> Markup:
    """A template rendered to safe HTML (autoescaped), to place inside another."""
    return Markup(ENV.get_template(template).render({**WORDS, **context}))


def full_name(patient: Patient) -> str:
    return f"{patient.first_name} {patient.last_name}".strip()


# --- the live parts -------------------------------------------------------------------------


def org_timezone(session: Session, org_id: int) -> str:
    return orgs.get_org(session, org_id).timezone


def _header(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    lead = leads.get_lead(session, org_id, patient.id)
    return {
        "lead": lead,
        "lead_active": bool(lead and is_active(LeadStage(lead.stage))),
        "consent": consent.current(session, org_id, patient.phone),
    }


def _review(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    return {"flagged_text": conversation_view.flagged_text(session, org_id, patient.id)}


def _conversation(
    session: Session, org_id: int, patient: Patient, show: int | None = None, **_: Any
) -> dict[str, Any]:
    show = show or SHOWN["conversation"]
    talk = conversation_view.conversation(session, org_id, patient.id, utcnow(), limit=show)
    return {"conversation": talk, "show": show, "more": min(talk.earlier, SHOWN["conversation"])}


def _details(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    return {}


def _consent(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    view = consent.view(session, org_id, patient.id)
    names = conversation_view.actor_names(session, org_id, (r.recorded_by for r in view.history))
    return {"consent": view.consent, "history": list(reversed(view.history)), "names": names}


def _lead(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    view = leads.view(session, org_id, patient.id)
    names = conversation_view.actor_names(session, org_id, (h.actor for h in view.history))
    return {"lead": view.lead, "history": list(reversed(view.history)), "names": names}


def _commlogs(
    session: Session, org_id: int, patient: Patient, show: int | None = None, **_: Any
) -> dict[str, Any]:
    show = show or SHOWN["commlogs"]
    rows, total = conversation_view.commlog_list(session, org_id, patient.id, limit=show)
    more = min(total - len(rows), SHOWN["commlogs"])
    return {"commlogs": rows, "commlog_total": total, "show": show, "more": more}


PARTS: dict[str, Callable[..., dict[str, Any]]] = {
    "header": _header,
    "review": _review,
    "conversation": _conversation,
    "details": _details,
    "consent": _consent,
    "lead": _lead,
    "commlogs": _commlogs,
}
# The classes of the element a part replaces (``patient-<part>`` is its id).
PART_CLASSES = {"header": "patient-header", "conversation": "conversation"}


def fingerprint(inner: str) -> str:
    return hashlib.sha256(inner.encode()).hexdigest()[:16]


def part_html(
    session: Session, org_id: int, patient: Patient, part: str, tz: str, **extra: Any
) -> Markup:
    """What a part shows, rendered (``extra``: ``error``, ``show``)."""
    context = PARTS[part](session, org_id, patient, **extra)
    return render(
        f"_patient_{part}_view.html" if part != "conversation" else "_conversation.html",
        {"patient": patient, "tz": tz, **extra, **context},
    )


def wrap_part(patient: Patient, part: str, inner: Markup, show: int | None, oob: bool) -> Markup:
    query: dict[str, Any] = {"show": show} if show and part in SHOWN else {}
    query["seen"] = fingerprint(inner)
    return render(
        "_patient_live.html",
        {
            "live_id": f"patient-{part}",
            "live_class": PART_CLASSES.get(part, ""),
            # A text's diagnosis also depends on the connector (down since...).
            "live_trigger": "sse:conversation, sse:connector"
            if part == "conversation"
            else "sse:conversation",
            "live_url": f"/patients/{patient.id}/live/{part}?{urlencode(query)}",
            "inner": inner,
            "oob": oob,
        },
    )


def live(
    session: Session,
    org_id: int,
    patient: Patient,
    part: str,
    *,
    tz: str | None = None,
    oob: bool = False,
    error: str | None = None,
    show: int | None = None,
) -> Markup:
    """One part of the page, wrapped in the element that refreshes it on ``sse:conversation``."""
    tz = tz or org_timezone(session, org_id)
    inner = part_html(session, org_id, patient, part, tz, error=error, show=show)
    return wrap_part(patient, part, inner, show, oob)


# --- the side panel's sections ------------------------------------------------------------


def section(
    session: Session,
    org_id: int,
    patient: Patient,
    name: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    failed_form: str | None = None,
    notice: str | None = None,
    tz: str | None = None,
) -> Markup:
    """A side-panel section: its live view and its form (with what was typed, on a refusal)."""
    tz = tz or org_timezone(session, org_id)
    lead = leads.get_lead(session, org_id, patient.id) if name == "lead" else None
    return render(
        f"_patient_{name}.html",
        {
            "patient_lead_stage": lead.stage if lead else None,
            "patient": patient,
            "tz": tz,
            "view": live(session, org_id, patient, name, tz=tz),
            "values": values or {},
            "errors": errors or {},
            "failed_form": failed_form,
            "notice": notice,
        },
    )
