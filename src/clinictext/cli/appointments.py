"""``clinictext appointments list``: a day's appointments, as the office reads its schedule.

Appointments are booked through the API or imported with ``clinictext import`` (a CSV
whose header has ``starts_at``); this command shows what is there, with each one's status,
confirm code and planned texts, so an IT person can check an import without the web app.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from clinictext.cli import JsonOpt, OrgOpt, console, emit, fail, session_maker
from clinictext.domain.appointments import day_bounds, when_words
from clinictext.services import appointments, orgs
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid, ServiceError
from clinictext.store.db import transaction

appointments_app = typer.Typer(help="Appointments.", no_args_is_help=True)

# One screenful of a busy day; more than this is what the API's pages are for.
MAX_SHOWN = 200


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.add_typer(appointments_app, name="appointments")


def _day(text: str | None, zone: ZoneInfo) -> date:
    if text is None:
        return utcnow().astimezone(zone).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"'{text[:40]}' is not a day: write it as YYYY-MM-DD, e.g. 2026-12-01.",
            code="invalid_day",
            field="day",
        ) from None


@appointments_app.command("list")
def appointments_list(
    org: OrgOpt,
    day: Annotated[
        str | None,
        typer.Option(help="The day, YYYY-MM-DD, in the organization's time zone (default today)."),
    ] = None,
    patient: Annotated[int | None, typer.Option(help="Only this patient's.", min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """A day's appointments by start time, with status, confirm code and planned texts."""
    try:
        with transaction(session_maker()) as session:
            organization = orgs.get_org(session, org)
            zone = ZoneInfo(organization.timezone)
            chosen = _day(day, zone)
            start, end = day_bounds(chosen, zone)
            rows = appointments.list_appointments(
                session, org, patient_id=patient, start=start, end=end, limit=MAX_SHOWN
            )
            shown = appointments.described_many(session, rows)
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit({"day": chosen.isoformat(), "appointments": [_plain(a) for a in shown]})
        return
    table = Table(title=f"Appointments on {chosen:%A, %B} {chosen.day}, {chosen.year}")
    for column in ("id", "time", "patient", "provider", "status", "code", "texts"):
        table.add_column(column)
    for a in shown:
        texts = "; ".join(
            f"{t['rule_name']}: {t['state']}" + (f" ({t['reason']})" if t["reason"] else "")
            for t in a["texts"]
        )
        table.add_row(
            str(a["id"]),
            when_words(a["starts_at"], ZoneInfo(a["timezone"])).split(" at ")[1],
            a["patient_name"],
            a["provider"] or "",
            a["status"],
            a["confirm_code"],
            texts,
        )
    console.print(table)
    console.print(f"{len(shown)} appointment(s).")


def _plain(described: dict[str, Any]) -> dict[str, Any]:
    """The appointment in the API's shape (times as ISO text)."""
    from clinictext.api.v1.appointments import AppointmentOut

    out: dict[str, Any] = AppointmentOut.model_validate(described).model_dump(mode="json")
    return out
