"""A campaign to 100,000 patients: how long the preview, the start, a pause, a resume and a
cancel take, on SQLite and on PostgreSQL, and where the time goes.

The database is seeded in bulk (not timed): one organization set up to text from a lead
number, ``--patients`` patients with phones spread over a dozen area codes and their
exchanges (as a clinic's patients are: a few thousand distinct number prefixes, some in
states with stricter calling hours), a quarter of them leads, some in Spanish; consent
ledgers where most opted in to marketing, some to care texts only, some never, some opted
in and then out (STOP); a few landlines and patients without a phone. Then, each timed:

* ``preview``: ``services.campaigns.create`` (the checklist for every patient, bulk loaded);
* ``start``: ``services.campaigns.start`` (the checklist again, then every text, its first
  status event, its commlog and every recipient row written in one transaction);
* ``pause``, ``resume``, ``cancel``: the same services on the started campaign;
* ``counts``: ``services.campaigns.described`` (the progress counts).

Each is its own transaction, committed inside the measurement. The goal: preview and start
each within 5 s on this 2-core machine. With ``--profile``, each step also runs under
cProfile and its top entries (own time) are printed: where the time goes.

Run: ``python -m bench.campaigns [--patients 100000] [--backends sqlite postgresql]
[--profile]``; the table is printed and the JSON written to ``bench/results/campaigns.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session, sessionmaker
from tests.pg import migrated_postgres

from bench.http_clients import machine_info
from clinictext.domain.checklist import Channel
from clinictext.services import campaigns, numbers, orgs, templates
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import ConsentEventRow, Lead, Patient

console = Console(width=150)
GOAL_SECONDS = 5.0
# Area codes of a clinic group's region; 305 and 407 are Florida (texts until 20:00 only).
AREA_CODES = (415, 510, 650, 408, 925, 707, 212, 718, 305, 407, 312, 214)
# 19:30 in New York: inside the window on the West Coast, past it in Florida.
NOW = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/campaigns.db"
            upgrade(url)
            yield url
        return
    with migrated_postgres("campaigns") as url:
        yield url


def _phones(count: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    exchanges = [(a, rng.randint(201, 989)) for a in AREA_CODES for _ in range(300)]
    while len(seen) < count:
        area, exchange = rng.choice(exchanges)
        seen.add(f"+1{area}{exchange}{rng.randint(0, 9999):04d}")
    phones = sorted(seen)
    rng.shuffle(phones)
    return phones


def seed(factory: sessionmaker[Session], count: int, seed_value: int = 7) -> dict[str, int]:
    """The organization, its lead number, a campaign template and ``count`` patients."""
    rng = random.Random(seed_value)
    now = NOW - timedelta(days=30)
    with transaction(factory) as s:
        org = orgs.create_org(s, "Bench Dental", actor="bench", timezone="America/New_York")
        orgs.update_org(
            s,
            org.id,
            {
                "sms_enabled": True,
                "messaging_registration": "approved",
                "clinic_phone": "+14155550100",
            },
            "bench",
        )
        numbers.add_number(s, org.id, "+15005550006", Channel.LEAD, "long_code", 10, "bench")
        template = templates.create(
            s,
            org.id,
            name="Whitening offer",
            purpose="campaign",
            body="Hi [FName], whitening is 20% off until Dec 15. Call [OfficePhone] to book.",
            variants={
                "es": "Hola [FName], blanqueamiento 20% menos hasta el 15 dic. "
                "Llame al [OfficePhone]."
            },
            actor="bench",
        )
        org_id, template_id = org.id, template.id
    phones = _phones(count, rng)
    firsts = ["Alice", "Ben", "Carla", "Dan", "Erin", "Gina", "Luis", "Maya", "Nora", "Sam"]
    patients: list[dict[str, Any]] = []
    for n, phone in enumerate(phones):
        roll = rng.random()
        status = "valid" if roll > 0.02 else "landline"
        patients.append(
            {
                "organization_id": org_id,
                "first_name": firsts[n % len(firsts)],
                "last_name": f"Patient{n}",
                "phone": None if roll > 0.99 else phone,
                "phone_status": "missing" if roll > 0.99 else status,
                "phone_reason": "" if status == "valid" else "This number is a landline.",
                "language": "es" if n % 7 == 0 else "en",
                "unknown_sender": False,
                "unread_count": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    with transaction(factory) as s:
        s.execute(insert(Patient), patients)
        rows = s.execute(
            select(Patient.id, Patient.phone)
            .where(Patient.organization_id == org_id)
            .order_by(Patient.id)
        ).all()
        consents: list[dict[str, Any]] = []
        leads: list[dict[str, Any]] = []
        for pid, phone in rows:
            roll = rng.random()
            base = {
                "organization_id": org_id,
                "patient_id": pid,
                "phone": phone,
                "evidence": "",
                "recorded_by": "bench",
                "at": now,
            }
            if phone is not None and roll < 0.85:
                level = "marketing" if roll < 0.75 else "informational"
                consents.append({**base, "action": "opt_in", "level": level, "source": "import"})
                if roll < 0.05:  # opted in, then replied STOP
                    consents.append(
                        {
                            **base,
                            "action": "opt_out",
                            "level": None,
                            "source": "keyword",
                            "at": now + timedelta(days=1),
                        }
                    )
            if pid % 4 == 0:
                stage = ("open", "in_progress", "closed_won", "closed_lost")[pid % 3]
                leads.append(
                    {
                        "organization_id": org_id,
                        "patient_id": pid,
                        "stage": stage,
                        "reason": "Chose another clinic" if stage == "closed_lost" else None,
                        "updated_at": now,
                    }
                )
        s.execute(insert(ConsentEventRow), consents)
        s.execute(insert(Lead), leads)
    return {"org_id": org_id, "template_id": template_id}


def _analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def timed(
    name: str, fn: Callable[[], Any], profile: bool, profiles: dict[str, str], cpu: dict[str, float]
) -> tuple[float, Any]:
    profiler = cProfile.Profile() if profile else None
    started, used = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = fn()
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    cpu[name] = time.process_time() - used
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        profiles[name] = out.getvalue()
    return elapsed, result


def run(backend: str, count: int, profile: bool) -> dict[str, Any]:
    with database(backend) as url:
        engine = make_engine(url)
        factory = session_factory(engine)
        started = time.perf_counter()
        ids = seed(factory, count)
        _analyze(engine)
        seeded = time.perf_counter() - started
        org_id = ids["org_id"]
        profiles: dict[str, str] = {}
        times: dict[str, float] = {}
        cpu: dict[str, float] = {}

        def preview() -> dict[str, Any]:
            with transaction(factory) as s:
                c = campaigns.create(
                    s,
                    org_id,
                    name="Whitening",
                    template_id=ids["template_id"],
                    audience={"all": True},
                    actor="bench",
                    now=NOW,
                )
                return {"id": c.id, **(c.preview or {})}

        def step(action: Callable[..., Any], campaign_id: int, at: datetime) -> Callable[[], Any]:
            def go() -> Any:
                with transaction(factory) as s:
                    action(s, org_id, campaign_id, actor="bench", now=at)

            return go

        times["preview"], result = timed("preview", preview, profile, profiles, cpu)
        cid = result["id"]
        times["start"], _ = timed("start", step(campaigns.start, cid, NOW), profile, profiles, cpu)
        _analyze(engine)

        def counts() -> dict[str, Any]:
            with transaction(factory) as s:
                return campaigns.described(s, campaigns.get(s, org_id, cid), NOW)["counts"]

        times["counts"], progress = timed("counts", counts, profile, profiles, cpu)
        later = NOW + timedelta(minutes=10)
        times["pause"], _ = timed(
            "pause", step(campaigns.pause, cid, later), profile, profiles, cpu
        )
        times["resume"], _ = timed(
            "resume", step(campaigns.resume, cid, later), profile, profiles, cpu
        )
        times["cancel"], _ = timed(
            "cancel", step(campaigns.cancel, cid, later), profile, profiles, cpu
        )
        engine.dispose()
    return {
        "backend": backend,
        "patients": count,
        "seed_seconds": round(seeded, 1),
        "preview": {k: v for k, v in result.items() if k != "id"},
        "progress": progress,
        "seconds": {k: round(v, 2) for k, v in times.items()},
        # This process's CPU time: the Python side (PostgreSQL's own work is elsewhere).
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "load_average": os.getloadavg(),
        "profiles": profiles,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--profile", action="store_true", help="print cProfile's top entries")
    parser.add_argument("--json", type=Path, default=Path("bench/results/campaigns.json"))
    args = parser.parse_args(argv)

    results = [run(backend, args.patients, args.profile) for backend in args.backends]
    steps = ("preview", "start", "counts", "pause", "resume", "cancel")
    table = Table(
        title=f"A campaign to {args.patients:,} patients (goal: preview and start "
        f"within {GOAL_SECONDS:.0f} s)"
    )
    for column in ("backend", "recipients", "skipped", *(f"{s} s" for s in steps)):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for r in results:
        table.add_row(
            r["backend"],
            f"{r['preview']['recipients']:,}",
            f"{r['preview']['skipped']:,}",
            *(f"{r['seconds'][s]:.2f}" for s in steps),
        )
    console.print(table)
    for r in results:
        console.print(
            f"{r['backend']}: skip reasons {r['preview']['skip_reasons']}; this process's CPU "
            f"seconds {r['cpu_seconds']}; load average {r['load_average']}"
        )
        for name, text_out in r["profiles"].items():
            console.print(f"--- {r['backend']} {name}: top entries by own time ---")
            console.print(text_out, markup=False, highlight=False)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": machine_info(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": results,
            },
            indent=2,
            default=str,
        )
    )
    console.print(f"written to {args.json}")
    slow = [r for r in results for s in ("preview", "start") if r["seconds"][s] > GOAL_SECONDS]
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
