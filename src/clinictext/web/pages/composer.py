"""The composer on the patient page: the channel, the text box and Send, and why not.

When the can-text checklist fails for the chosen channel, the text box and Send are
disabled and every failing check is listed with what to do, in the checklist's order (the
first help article, as a screen). While staff type, a small endpoint counts the parts and
the encoding and runs the deliverability lint. A refusal keeps what was typed.

The composer refreshes itself on ``sse:conversation`` with what is typed and the chosen
channel included, and carries a key of its can-text state: a refresh that would change
nothing answers 204, so a delivery report arriving mid-sentence does not disturb typing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.domain.checklist import Channel
from clinictext.domain.content import MAX_BODY_CHARS
from clinictext.domain.links import LinkPolicy
from clinictext.domain.lint import lint
from clinictext.services import conversation_view, orgs, patients, sending
from clinictext.services.clock import utcnow
from clinictext.services.errors import CannotText, ServiceError
from clinictext.store.models import Patient
from clinictext.web.access import Staff
from clinictext.web.forms import refusal
from clinictext.web.pages.patient import PatientId, live, render

router = APIRouter(include_in_schema=False)

# What each check of the checklist is about, as a heading staff read.
CHECK_TITLES = {
    "sms_enabled": "Texting for the clinic",
    "sender_number": "Number to text from",
    "phone": "Patient's wireless phone",
    "consent": "Consent",
    "lead_stage": "Lead stage",
    "spend_limit": "Monthly spend limit",
}
CHANNEL_WORDS = {Channel.LEAD: "Lead", Channel.CLINIC: "Clinic"}
SEVERITY_WORDS = {"block": "Will not send", "warning": "Warning", "info": "Note"}
SEVERITY_TONES = {"block": "tone-bad", "warning": "tone-wait", "info": "tone-info"}
# A body longer than this is not linted (as POST /lint): it is only said to be too long.
MAX_TYPED = 10 * MAX_BODY_CHARS


def _channel(session: Session, org_id: int, patient_id: int, raw: str | None) -> Channel:
    try:
        return Channel(raw or "")
    except ValueError:
        return conversation_view.default_channel(session, org_id, patient_id)


def _character(char: str) -> dict[str, str]:
    """A character as staff can see it, with its name (invisible ones by code point)."""
    name = unicodedata.name(char, "").lower() or f"character U+{ord(char):04X}"
    visible = char.isprintable() and not char.isspace()
    return {"glyph": char if visible else f"U+{ord(char):04X}", "name": name}


def lint_context(session: Session, org_id: int, body: str) -> dict[str, Any]:
    """The parts, the encoding, the characters that force UCS-2 and the lint findings."""
    if len(body) > MAX_TYPED:
        return {"report": None, "too_long": len(body), "limit": MAX_BODY_CHARS}
    if not body.strip():
        return {"report": None}
    org = orgs.get_org(session, org_id)
    report = lint(body, "manual", LinkPolicy(org.url_policy or LinkPolicy.WARN), org.name)
    return {
        "report": report,
        "characters": [_character(c) for c in report.ucs2_characters],
        "severity_words": SEVERITY_WORDS,
        "severity_tones": SEVERITY_TONES,
    }


def composer_html(
    session: Session,
    org_id: int,
    patient: Patient,
    channel: Channel,
    *,
    body: str = "",
    error: str | None = None,
    notice: str | None = None,
    focus: bool = False,
) -> Markup:
    """The composer for ``channel``, with ``body`` in the text box."""
    state = conversation_view.composer_state(session, org_id, patient.id, channel, utcnow())
    return render(
        "_composer.html",
        {
            "patient": patient,
            "state": state,
            "channel": channel.value,
            "channel_word": CHANNEL_WORDS[channel],
            "check_titles": CHECK_TITLES,
            "body": body,
            "error": error,
            "notice": notice,
            "focus": focus,
            **lint_context(session, org_id, body if state.ok else ""),
        },
    )


@contextmanager
def reading(request: Request) -> Iterator[Session]:
    """A read-only transaction for a POST that only reads.

    The composer posts what is typed (a message body belongs in no URL, and so in no access
    log) but changes nothing; on SQLite a writing transaction would take the write lock.
    """
    with request.app.state.read_session_factory() as session, session.begin():
        yield session


@router.post("/patients/{patient_id}/composer", response_model=None)
def composer(
    request: Request,
    user: Staff,
    patient_id: PatientId,
    channel: Annotated[str, Form(max_length=10)] = "",
    body: Annotated[str, Form()] = "",
    seen: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The composer for a channel, keeping the typed text; 204 if ``seen`` is still current."""
    with reading(request) as session:
        patient = patients.get_patient(session, user.org_id, patient_id)
        chosen = _channel(session, user.org_id, patient.id, channel)
        if seen:
            state = conversation_view.composer_state(
                session, user.org_id, patient.id, chosen, utcnow()
            )
            if state.key == seen:
                return Response(status_code=204)
        return HTMLResponse(composer_html(session, user.org_id, patient, chosen, body=body))


@router.post("/patients/{patient_id}/composer/check", response_class=HTMLResponse)
def check(
    request: Request,
    user: Staff,
    patient_id: PatientId,
    body: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """What the text being typed costs and what in it carriers may filter."""
    with reading(request) as session:
        patients.get_patient(session, user.org_id, patient_id)
        context = lint_context(session, user.org_id, body)
        return HTMLResponse(render("_composer_lint.html", context))


@router.post("/patients/{patient_id}/messages", response_class=HTMLResponse)
def send(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    body: Annotated[str, Form()] = "",
    channel: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse:
    """Send a staff text through the send path; a refusal is shown with the text kept."""
    patient = patients.get_patient(session, user.org_id, patient_id)
    chosen = _channel(session, user.org_id, patient.id, channel)
    try:
        sending.send(session, user.org_id, patient.id, chosen, body, actor=user.actor)
    except ServiceError as err:
        refused = refusal(session, err, "body")
        if isinstance(err, CannotText):
            message = (
                f"Not sent: this patient cannot be texted on the {CHANNEL_WORDS[chosen]} "
                "channel. What stands in the way, and what to do, is listed above."
            )
        else:
            message = "Not sent: " + next(iter(refused.errors.values()))
        patient = patients.get_patient(session, user.org_id, patient_id)
        shown = composer_html(session, user.org_id, patient, chosen, body=body, error=message)
        return HTMLResponse(shown, status_code=refused.status)
    tz = orgs.get_org(session, user.org_id).timezone
    shown = composer_html(
        session,
        user.org_id,
        patient,
        chosen,
        notice="Sent: it shows as Pending in the conversation until the carrier confirms delivery.",
        focus=True,
    )
    shown += live(session, user.org_id, patient, "conversation", tz=tz, oob=True)
    return HTMLResponse(shown, status_code=200)
