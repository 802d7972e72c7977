"""The patient page's Appointments section: the patient's upcoming appointments with their
status, confirm code and each text's state, and links to their days and to book another.

The patient page loads it once shown (``hx-trigger="load"``) and again when the
conversation changes (a patient's "C" confirms an appointment) or every half minute (a
reminder sent or skipped), answering 204 when nothing it shows changed. Without JavaScript
its link opens the same list as a page of its own. Included by ``appointments``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from clinictext.api.deps import SessionDep
from clinictext.services import patients
from clinictext.services.clock import utcnow
from clinictext.web.access import Staff, page_chrome
from clinictext.web.pages import appointments_forms as forms
from clinictext.web.pages import appointments_view as view
from clinictext.web.pages.patient_parts import PatientId, fingerprint, org_timezone, render
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)


@router.get("/patients/{patient_id}/appointments", response_model=None)
def patient_appointments(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    seen: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The patient's upcoming appointments: the patient page's section (htmx, 204 when
    unchanged), or a page of its own without JavaScript."""
    patient = patients.get_patient(session, user.org_id, patient_id)
    timezone = org_timezone(session, user.org_id)
    rows = view.upcoming(session, user.org_id, patient.id, timezone, utcnow())
    context = {"patient": patient, "rows": rows, "timezone": timezone}
    inner = render("_appointments_patient.html", context)
    if not request.headers.get("hx-request"):
        page_chrome(request, user)
        name = forms.patient_name(patient)
        values = {**context, "active": "appointments", "inner": inner, "name": name}
        return html(request, "appointments_patient.html", values)
    shown = fingerprint(inner)
    if seen and seen == shown:
        return Response(status_code=204)
    values = {**context, "inner": inner, "seen": shown}
    return HTMLResponse(render("_appointments_patient_live.html", values))
