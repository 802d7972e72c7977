"""Appointment automation: planning reminders for 20,000 appointments, and the rounds that
send them.

On SQLite and on PostgreSQL, in a fresh database: one clinic, ``--appointments`` patients
(opted in, each with one appointment over a 20-hour day) inserted in bulk, then

* ``plan``: two rules (a reminder a day before and a confirmation two days before) are
  created through ``services.rules.create``, each planning every upcoming appointment;
* ``rounds``: the automation round (``services.automation_round.run_round``, batches of
  ``--batch``) is run at a moment when every text is due and outside its margin, until no
  text is left; each round writes its texts through the normal send path (checklist, send
  window, frequency cap) and commits. Time per round, and texts written per second;
* ``idle``: a round with nothing due, the price every worker pays every few seconds.

Run: ``python -m bench.automation [--appointments 20000] [--backends sqlite postgresql]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select
from tests.pg import migrated_postgres
from tests.support import seed_clinic

from bench.http_clients import machine_info
from clinictext.services import rules, templates
from clinictext.services.automation_round import run_round
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import (
    Appointment,
    AppointmentText,
    ConsentEventRow,
    Message,
    Organization,
    Patient,
)

console = Console()
LA = ZoneInfo("America/Los_Angeles")
# The appointments start from 14:00 on 16 June in Los Angeles, where the patients' numbers
# are, one every few seconds for 20 hours. The round runs at 12:00 that day: both texts of
# every appointment (a day and two days before) are due, and none is inside its margin.
FIRST_START = datetime(2027, 6, 16, 14, 0, tzinfo=LA).astimezone(UTC)
ROUND_AT = datetime(2027, 6, 16, 12, 0, tzinfo=LA).astimezone(UTC)
BOOKED_AT = ROUND_AT - timedelta(days=20)
SPREAD = timedelta(hours=20)


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            upgrade(url)
            yield url
        return
    with migrated_postgres("bench_automation") as url:
        yield url


def _seed(url: str, count: int) -> int:
    """A clinic and ``count`` opted-in patients with one appointment each; the org id."""
    factory = session_factory(make_engine(url))
    org_id = seed_clinic(factory, patient_count=0, mps=1000, name="Bench Clinic").org_id
    engine = factory.kw["bind"]
    with transaction(factory) as s:
        org = s.get(Organization, org_id)
        assert org is not None
        org.clinic_phone = "+14155550100"
        org.automated_daily_cap = 2  # a reminder and a confirmation due the same day
    phones = [f"+1415{200 + n // 10000:03d}{n % 10000:04d}" for n in range(count)]
    with engine.begin() as conn:
        ids = list(
            conn.scalars(
                insert(Patient).returning(Patient.id, sort_by_parameter_order=True),
                [
                    {
                        "organization_id": org_id,
                        "first_name": f"P{n}",
                        "last_name": "Bench",
                        "phone": phone,
                        "phone_status": "valid",
                        "phone_reason": "",
                        "language": "en",
                        "unknown_sender": False,
                        "unread_count": 0,
                        "created_at": BOOKED_AT,
                        "updated_at": BOOKED_AT,
                    }
                    for n, phone in enumerate(phones)
                ],
            )
        )
        conn.execute(
            insert(ConsentEventRow),
            [
                {
                    "organization_id": org_id,
                    "patient_id": pid,
                    "phone": phone,
                    "action": "opt_in",
                    "level": "informational",
                    "source": "verbal",
                    "evidence": "",
                    "recorded_by": "bench",
                    "at": BOOKED_AT,
                }
                for pid, phone in zip(ids, phones, strict=True)
            ],
        )
        step = SPREAD / count
        conn.execute(
            insert(Appointment),
            [
                {
                    "organization_id": org_id,
                    "patient_id": pid,
                    "starts_at": FIRST_START + step * n,
                    "status": "scheduled",
                    "confirm_code": f"B{n:06d}",
                    "created_by": "bench",
                    "created_at": BOOKED_AT,
                    "updated_at": BOOKED_AT,
                }
                for n, pid in enumerate(ids)
            ],
        )
    engine.dispose()
    return org_id


def _plan(factory: Any, org_id: int) -> tuple[float, int]:
    """Create the two rules (each plans every appointment); seconds and texts planned."""
    started = time.perf_counter()
    for purpose, minutes, body in (
        ("reminder", 1440, "Hi [FName], see you [ApptDate] at [ApptTime] at [OfficeName]."),
        ("confirmation", 2880, "Hi [FName], reply [ConfirmCode] to confirm [ApptDate]."),
    ):
        with transaction(factory) as s:
            template = templates.create(
                s, org_id, name=purpose, purpose=purpose, body=body, actor="bench", now=BOOKED_AT
            )
            rules.create(
                s,
                org_id,
                name=purpose,
                purpose=purpose,
                minutes_before=minutes,
                do_not_send_within_minutes=60,
                template_id=template.id,
                actor="bench",
                now=BOOKED_AT,
            )
    seconds = time.perf_counter() - started
    with factory() as s:
        planned = s.scalar(select(func.count()).select_from(AppointmentText)) or 0
    return seconds, planned


def bench(backend: str, appointments: int, batch: int) -> dict[str, Any]:
    with database(backend) as url:
        org_id = _seed(url, appointments)
        engine = make_engine(url)
        factory = session_factory(engine)
        plan_s, planned = _plan(factory, org_id)
        console.print(f"{backend}: planned {planned:,} texts in {plan_s:.1f} s")
        durations: list[float] = []
        written = skipped = other = 0
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            with transaction(factory) as s:
                report = run_round(s, ROUND_AT, limit=batch)
            if report.seen == 0:
                break
            durations.append(time.perf_counter() - t0)
            written += report.sent
            skipped += report.skipped + report.canceled
            other += report.waiting + report.taken
        total = time.perf_counter() - started
        idle = []
        for _ in range(20):
            t0 = time.perf_counter()
            with transaction(factory) as s:
                run_round(s, ROUND_AT, limit=batch)
            idle.append(time.perf_counter() - t0)
        with factory() as s:
            messages = s.scalar(select(func.count()).select_from(Message)) or 0
        engine.dispose()
    durations.sort()
    return {
        "backend": backend,
        "appointments": appointments,
        "rules": 2,
        "planned": planned,
        "plan_s": round(plan_s, 2),
        "planned_per_s": round(planned / plan_s),
        "batch": batch,
        "rounds": len(durations),
        "round_ms_median": round(statistics.median(durations) * 1000),
        "round_ms_p95": round(durations[int(0.95 * (len(durations) - 1))] * 1000),
        "round_ms_max": round(durations[-1] * 1000),
        "written": written,
        "skipped": skipped,
        "waiting_or_taken": other,
        "messages": messages,
        "rounds_s": round(total, 2),
        "written_per_s": round(written / total),
        "idle_round_ms_median": round(statistics.median(idle) * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appointments", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="rows a round (the default's)")
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--json", default="bench/results/automation.json")
    args = parser.parse_args(argv)
    runs = [bench(b, args.appointments, args.batch) for b in args.backends]
    table = Table(
        title=f"Automation: {args.appointments:,} appointments, 2 rules, rounds of {args.batch}"
    )
    for col in (
        "backend",
        "plan s",
        "planned/s",
        "rounds",
        "round ms p50",
        "round ms p95",
        "texts written",
        "written/s",
        "idle round ms",
    ):
        table.add_column(col, justify="right")
    for r in runs:
        table.add_row(
            r["backend"],
            f"{r['plan_s']:.2f}",
            f"{r['planned_per_s']:,}",
            str(r["rounds"]),
            str(r["round_ms_median"]),
            str(r["round_ms_p95"]),
            f"{r['written']:,}",
            f"{r['written_per_s']:,}",
            str(r["idle_round_ms_median"]),
        )
    console.print(table)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), "runs": runs}, indent=2))
    console.print(f"Wrote {out}")
    failed = [r["backend"] for r in runs if r["written"] != r["planned"]]
    if failed:
        console.print(f"[red]Some texts were not written on {', '.join(failed)}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
