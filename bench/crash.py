"""Crashes, restarts and lost callbacks: no text is lost or sent twice.

The crash test at full strength. Three kinds of process share one database, as in a
production install: a standalone carrier simulator (``clinictext simulator``, so its
record of what it accepted survives every restart of clinictext), ``clinictext serve
--no-dispatch`` (API and webhooks, with the Twilio provider pointed at the simulator) and
one ``clinictext worker``. The texts are queued in bulk, and each patient gets the same
few bodies over and over: after a crash the worker must tell apart copies of one body by
asking the carrier, the hardest case for reconciliation.

While the worker sends, it is killed with SIGKILL ``--kills`` times at spread-out points
of progress and restarted at once; ``serve`` (the webhook receiver) is killed for
stretches of ``--outage-seconds``, so status callbacks cannot land and are lost; half of
the worker kills fall inside such a stretch, so the texts they interrupt have no provider
id at all. The lease is 4 s, so reconciliation runs within seconds of each kill.
``--chaos`` also makes the carrier post every callback twice, out of order and up to
1.5 s late; ``--unreachable N`` makes N patients' phones answer 30003 (a transient error:
the text is sent again) until ``--unreachable-until`` of the texts are handed over.

At the end: every text leaves ``queued``/``sending``; a connector refresh fetches the
status of texts whose callbacks were lost (repeated while it sets texts moving again);
then the carrier's record (``GET /_control/messages``) is compared with the database,
per (recipient, body), counting the carrier's copies that were not undelivered (a copy
that was, was rightly sent again):

* duplicates: copies beyond the number of texts queued for that pair;
* lost: texts queued for that pair that have no copy;
* provider-id collisions (two texts naming one carrier message), texts naming a carrier
  message that does not exist or has another recipient or body, copies no text names,
  texts stuck in ``queued``/``sending``/``sent``, status histories that went backwards,
  and texts still ``sent`` although serve answered 2xx to their ``delivered`` callback.

Run: ``python -m bench.crash [--texts 1500] [--kills 6] [--db sqlite|postgresql]``.
Exit status 1 if any text was duplicated or lost, 2 if the run could not finish, 3 if
another promise broke (a stuck text, a shared provider id, a history that went back).
Process logs are kept in a directory under the JSON file's (``bench/results/``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select
from tests.pg import free_port, migrated_postgres
from tests.support import queue_texts, seed_clinic

from bench.http_clients import machine_info
from clinictext.providers.factory import SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN
from clinictext.services import orgs
from clinictext.store.db import make_engine, read_only, session_factory, transaction, upgrade
from clinictext.store.models import Message, MessageEvent

BIN = Path(sys.executable).with_name("clinictext")
SENDER = "+15005550006"
FIRST_PHONE = 14155553000
HANDED = ("sent", "delivered", "undelivered", "failed")
UNSETTLED = ("scheduled", "queued", "sending")
STUCK = ("scheduled", "queued", "sending", "sent")
FINAL = ("delivered", "undelivered", "failed", "canceled")
CARRIER_FAILED = ("undelivered", "failed")
# Broken promises short of a duplicate or a loss (exit status 3).
OTHER_BREAKS = (
    "stuck",
    "provider_id_collisions",
    "provider_id_not_at_carrier",
    "provider_id_other_text",
    "histories_backwards",
    "callbacks_acknowledged_then_overwritten",
)
# --chaos: every status callback twice, out of order, up to 1.5 s late.
CALLBACK_CHAOS = {"duplicate_callbacks": 1, "reorder": True, "callback_delay_ms": [20, 1500]}
console = Console()


class RunFailed(RuntimeError):
    """The run could not finish (a deadline passed, a process would not start)."""


# --- processes --------------------------------------------------------------------------------


@dataclass
class Service:
    """One clinictext process, started and killed by the run; its output appends to a log."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.starts += 1
        self._log.write(f"\n=== start {self.starts} at {time.time():.3f} ===\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine loses power."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


def _answers(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except (OSError, urllib.error.URLError):
        return False


def _wait_answer(url: str, service: Service, deadline: float) -> None:
    while not _answers(url):
        if not service.alive():
            raise RunFailed(f"{service.name} exited while starting; see {service.log_path}")
        if time.monotonic() > deadline:
            raise RunFailed(f"{service.name} did not answer {url} in time; see {service.log_path}")
        time.sleep(0.1)


def _post_json(url: str, payload: dict[str, Any], timeout: float = 30) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


def _get_json(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


# --- database ---------------------------------------------------------------------------------


@contextmanager
def database(kind: str, url: str | None, workdir: Path) -> Iterator[str]:
    """A migrated database: a SQLite file, the given URL, or a throwaway PostgreSQL."""
    if url:
        upgrade(url)
        yield url
        return
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'crash.db'}"
        upgrade(url)
        yield url
        return
    with migrated_postgres("crash") as url:
        yield url


def bodies_for(args: argparse.Namespace, rng: random.Random) -> list[tuple[int, str]]:
    """(patient index, body) for every text, in the order they are queued."""
    plan = []
    for n in range(args.texts):
        patient = n % args.patients
        if args.mixed_bodies and n % 2:
            body = f"Note {n}: please call us back about your visit."
        else:
            body = f"Reminder {rng.randrange(args.bodies)}: your visit is soon. Reply C to confirm."
        plan.append((patient, body))
    rng.shuffle(plan)
    return plan


@dataclass
class Seeded:
    org_id: int
    api_key: str
    message_ids: list[int]


def seed(url: str, args: argparse.Namespace, rng: random.Random) -> Seeded:
    engine = make_engine(url)
    factory = session_factory(engine)
    try:
        clinic = seed_clinic(
            factory,
            senders=(SENDER,),
            mps=args.mps,
            patient_count=args.patients,
            first_phone=FIRST_PHONE,
            name="Crash Bench Clinic",
        )
        with transaction(factory) as s:
            key = orgs.create_api_key(s, clinic.org_id, actor="bench").key
        plan = bodies_for(args, rng)
        ids = queue_texts(
            factory,
            clinic.org_id,
            [(clinic.patient_ids[p], body) for p, body in plan],
            actor="bench",
        )
    finally:
        engine.dispose()
    return Seeded(clinic.org_id, key, ids)


def sent_texts(reader: Engine, org_id: int) -> dict[int, str]:
    """Texts in ``sent``: their provider ids."""
    with reader.connect() as conn:
        rows = conn.execute(
            select(Message.id, Message.provider_id).where(
                Message.organization_id == org_id, Message.status == "sent"
            )
        ).all()
    return {mid: pid for mid, pid in rows if pid}


def statuses(reader: Engine, org_id: int) -> dict[str, int]:
    with reader.connect() as conn:
        rows = conn.execute(
            select(Message.status, func.count())
            .where(Message.organization_id == org_id, Message.direction == "outbound")
            .group_by(Message.status)
        ).all()
    return {status: count for status, count in rows}


def handed(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in HANDED)


# --- the chaos --------------------------------------------------------------------------------


@dataclass
class Event:
    at: int  # texts handed to the carrier before it happens
    kind: str  # "worker": kill the worker; "serve+worker": kill serve, then the worker


def plan_events(texts: int, kills: int, serve_kills: int, rng: random.Random) -> list[Event]:
    """Worker kills spread over 5-90 % of the texts; serve outages on every other one."""
    events = []
    spacing = 0.85 / max(kills, 1)
    for i in range(kills):
        fraction = 0.05 + spacing * (i + 0.5) + rng.uniform(-spacing / 4, spacing / 4)
        events.append(Event(int(texts * fraction), "worker"))
    with_outage = [i for i in range(kills) if i % 2 == 1][:serve_kills]
    with_outage += [i for i in range(kills) if i % 2 == 0][: serve_kills - len(with_outage)]
    for i in with_outage:
        events[i].kind = "serve+worker"
    extra = serve_kills - len(with_outage)
    for j in range(extra):  # more outages than kills: alone, in between
        events.append(Event(int(texts * (0.1 + 0.8 * (j + 0.5) / extra)), "serve"))
    return sorted(events, key=lambda e: e.at)


@dataclass
class Chaos:
    worker_kills: int = 0
    serve_kills: int = 0
    worker_died_by_itself: int = 0
    serve_died_by_itself: int = 0
    serve_down_seconds: float = 0.0
    left_sending_by_kills: list[int] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


def run_chaos(
    args: argparse.Namespace,
    rng: random.Random,
    reader: Engine,
    org_id: int,
    worker: Service,
    serve: Service,
    serve_url: str,
    deadline: float,
    restore: tuple[int, Callable[[], None]] | None = None,
) -> Chaos:
    """Kill and restart as planned; ``restore`` is (texts handed, what to do then)."""
    chaos = Chaos()
    events = plan_events(args.texts, args.kills, args.serve_kills, rng)
    started = time.monotonic()
    serve_state = "up"
    serve_down_at = serve_back_at = 0.0
    kill_worker_at: float | None = None

    def note(what: str, counts: dict[str, int]) -> None:
        chaos.timeline.append(
            {"t": round(time.monotonic() - started, 2), "event": what, "statuses": counts}
        )

    def kill_worker() -> None:
        worker.kill()
        counts = statuses(reader, org_id)
        chaos.worker_kills += 1
        chaos.left_sending_by_kills.append(counts.get("sending", 0))
        note("worker killed", counts)
        worker.start()

    while events or kill_worker_at is not None or serve_state != "up" or restore:
        now = time.monotonic()
        if now > deadline:
            raise RunFailed(f"the chaos phase passed its deadline with {len(events)} events left")
        counts = statuses(reader, org_id)
        if restore and handed(counts) >= restore[0]:
            restore[1]()
            restore = None
            note("unreachable numbers reachable again", counts)
        if not worker.alive():
            chaos.worker_died_by_itself += 1
            note("worker exited by itself; restarted", counts)
            worker.start()
        if serve_state == "down" and now >= serve_back_at:
            serve.start()
            serve_state = "starting"
        elif serve_state == "starting":
            if not serve.alive():
                raise RunFailed(f"serve exited while starting; see {serve.log_path}")
            if _answers(f"{serve_url}/healthz", timeout=0.3):
                serve_state = "up"
                chaos.serve_down_seconds += time.monotonic() - serve_down_at
                note("serve back", counts)
        elif serve_state == "up" and not serve.alive():
            chaos.serve_died_by_itself += 1
            note("serve exited by itself; restarted", counts)
            serve.start()
            serve_state, serve_down_at = "starting", now
        if kill_worker_at is not None and now >= kill_worker_at:
            kill_worker_at = None
            kill_worker()
        elif events and handed(counts) >= events[0].at and kill_worker_at is None:
            if events[0].kind == "worker":
                events.pop(0)
                time.sleep(rng.uniform(0, 0.3))  # land anywhere in the batch
                kill_worker()
            elif serve_state == "up":  # an outage starts only once serve is back
                event = events.pop(0)
                serve.kill()
                chaos.serve_kills += 1
                serve_state, serve_down_at = "down", time.monotonic()
                serve_back_at = serve_down_at + args.outage_seconds * rng.uniform(0.75, 1.25)
                note("serve killed", counts)
                if event.kind == "serve+worker":
                    kill_worker_at = time.monotonic() + rng.uniform(0.2, 1.0)
        time.sleep(0.02)
    return chaos


def wait_settled(
    reader: Engine, org_id: int, worker: Service, deadline: float, stall: float
) -> bool:
    """Until no text is queued or sending, then until the statuses stop changing for 3 s.

    False at the deadline, or when texts stay unsettled and no status changes for
    ``stall`` seconds. A worker that exits by itself is restarted.
    """
    last, changed_at = None, time.monotonic()
    while True:
        counts = statuses(reader, org_id)
        if not any(counts.get(s, 0) for s in UNSETTLED):
            break
        if counts != last:
            last, changed_at = counts, time.monotonic()
        if not worker.alive():
            worker.start()
        if time.monotonic() > deadline or time.monotonic() - changed_at > stall:
            return False
        time.sleep(0.25)
    quiet_since, last = time.monotonic(), counts
    while time.monotonic() - quiet_since < 3 and time.monotonic() < deadline:
        time.sleep(0.25)
        counts = statuses(reader, org_id)
        if counts != last:
            quiet_since, last = time.monotonic(), counts
    return True


def refresh(env: dict[str, str], org_id: int, deadline: float) -> dict[str, Any]:
    """``clinictext connector refresh``: the status of texts whose callbacks were lost."""
    timeout = max(5.0, deadline - time.monotonic())
    try:
        done = subprocess.run(
            [str(BIN), "connector", "refresh", "--org", str(org_id), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise RunFailed(f"connector refresh did not finish in {timeout:.0f} s") from err
    if done.returncode != 0:
        raise RunFailed(f"connector refresh failed: {done.stdout}{done.stderr}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


# --- the verdict ------------------------------------------------------------------------------


RANK = {"scheduled": 0, "queued": 1, "sending": 2, "sent": 3, **{s: 4 for s in FINAL}}


def went_backwards(history: list[str]) -> bool:
    """Whether a status history steps back or repeats, other than a retry (``queued``)
    before the text's final status."""
    for before, after in pairwise(history):
        if before in FINAL:
            return True
        if after != "queued" and RANK[after] <= RANK[before]:
            return True
    return False


def compare(
    reader: Engine, org_id: int, carrier: list[dict[str, Any]]
) -> tuple[dict[str, int], dict[str, Any]]:
    """Counts of every way the promise can break, and the evidence for each."""
    with reader.connect() as conn:
        texts = conn.execute(
            select(
                Message.id,
                Message.to_phone,
                Message.body,
                Message.status,
                Message.provider_id,
                Message.attempts,
            ).where(Message.organization_id == org_id, Message.direction == "outbound")
        ).all()
        events = conn.execute(
            select(MessageEvent.message_id, MessageEvent.status)
            .where(MessageEvent.organization_id == org_id)
            .order_by(MessageEvent.message_id, MessageEvent.id)
        ).all()
        details = conn.execute(
            select(MessageEvent.detail, func.count())
            .where(MessageEvent.organization_id == org_id, MessageEvent.detail.is_not(None))
            .group_by(MessageEvent.detail)
        ).all()
    queued: Counter[tuple[str, str]] = Counter((t.to_phone, t.body) for t in texts)
    # A copy the carrier could not deliver (30003...) was rightly sent again: not a duplicate.
    good = [m for m in carrier if m["status"] not in CARRIER_FAILED]
    carried: Counter[tuple[str, str]] = Counter((m["to"], m["body"]) for m in good)
    by_sid = {m["sid"]: m for m in carrier}
    owners: dict[str, list[int]] = defaultdict(list)
    for t in texts:
        if t.provider_id:
            owners[t.provider_id].append(t.id)
    over = {k: carried[k] - queued[k] for k in carried if carried[k] > queued[k]}
    under = {k: queued[k] - carried[k] for k in queued if queued[k] > carried[k]}
    shared = {pid: ids for pid, ids in owners.items() if len(ids) > 1}
    phantom = [t.id for t in texts if t.provider_id and t.provider_id not in by_sid]
    wrong = [
        t.id
        for t in texts
        if t.provider_id in by_sid
        and (by_sid[t.provider_id]["to"], by_sid[t.provider_id]["body"]) != (t.to_phone, t.body)
    ]
    unowned = [m["sid"] for m in good if m["sid"] not in owners]
    histories: dict[int, list[str]] = defaultdict(list)
    for message_id, status in events:
        histories[message_id].append(status)
    backwards = {mid: seen for mid, seen in histories.items() if went_backwards(seen)}
    # Texts whose final status was overwritten first: the worst case, shown as evidence.
    backwards = dict(
        sorted(backwards.items(), key=lambda kv: not any(s in FINAL for s in kv[1][:-1]))
    )
    stuck = [t.id for t in texts if t.status in STUCK]
    counts = {
        "texts": len(texts),
        "carrier_messages": len(carrier),
        "carrier_copies_undelivered": len(carrier) - len(good),
        "duplicates": sum(over.values()),
        "lost": sum(under.values()),
        "provider_id_collisions": sum(len(ids) for ids in shared.values()),
        "provider_id_not_at_carrier": len(phantom),
        "provider_id_other_text": len(wrong),
        "carrier_messages_no_text_names": len(unowned),
        "stuck": len(stuck),
        "histories_backwards": len(backwards),
        "delivered": sum(1 for t in texts if t.status == "delivered"),
        "claimed_more_than_once": sum(1 for t in texts if t.attempts > 1),
    }
    reconciled: Counter[str] = Counter()
    for detail, n in details:
        if "reconciled" in detail:
            reconciled["adopted" + (" (ambiguous)" if "earliest of" in detail else "")] += n
        elif detail.startswith("sending again") or "never received it" in detail:
            reconciled["requeued: not at the carrier"] += n
        elif "stopped before sending" in detail:
            reconciled["requeued: never handed"] += n
    evidence = {
        "over": [{"to": k[0], "body": k[1], "extra": n} for k, n in sorted(over.items())],
        "under": [{"to": k[0], "body": k[1], "missing": n} for k, n in sorted(under.items())],
        "shared_provider_ids": shared,
        "provider_id_not_at_carrier": phantom,
        "provider_id_other_text": wrong,
        "carrier_messages_no_text_names": unowned,
        "stuck": {str(t.id): t.status for t in texts if t.status in STUCK},
        "histories_backwards": {str(k): v for k, v in list(backwards.items())[:50]},
        "histories_backwards_patterns": dict(
            Counter(" > ".join(v) for v in backwards.values()).most_common()
        ),
        "statuses": dict(Counter(t.status for t in texts)),
        "reconciliation": dict(reconciled),
    }
    return counts, evidence


def _text_detail(serve_url: str, headers: dict[str, str], message_id: int) -> dict[str, Any]:
    m = _get_json(f"{serve_url}/api/v1/messages/{message_id}", headers)
    return {k: m[k] for k in ("id", "status", "provider_id", "history")}


def _carrier_copy(sim_url: str, copy: dict[str, Any]) -> dict[str, Any]:
    """A carrier message with every attempt to deliver its callbacks (the URL names the text)."""
    calls = _get_json(
        f"{sim_url}/_control/callbacks?" + urllib.parse.urlencode({"sid": copy["sid"]})
    )
    keep = ("url", "status", "http_status", "error", "at")
    return {**copy, "callbacks": [{k: c[k] for k in keep} for c in calls]}


def diagnose(
    evidence: dict[str, Any],
    reader: Engine,
    org_id: int,
    serve_url: str,
    sim_url: str,
    api_key: str,
    limit: int = 20,
) -> dict[str, list[dict[str, Any]]]:
    """The evidence behind each failure: the texts' histories (``GET /api/v1/messages/{id}``)
    and the carrier's copies with their callbacks, for each unbalanced (recipient, body) or
    one with a stuck text, and for a few texts whose history went backwards."""
    keys = [(e["to"], e["body"]) for e in evidence["over"] + evidence["under"]]
    if evidence["stuck"]:  # a stuck text's group: what the carrier has of that body
        with reader.connect() as conn:
            keys += conn.execute(
                select(Message.to_phone, Message.body)
                .where(Message.id.in_([int(i) for i in list(evidence["stuck"])[:limit]]))
                .distinct()
            ).all()
    keys = list(dict.fromkeys((str(to), str(body)) for to, body in keys))[:limit]
    headers = {"Authorization": f"Bearer {api_key}"}
    groups = []
    for to, body in keys:
        with reader.connect() as conn:
            ids = list(
                conn.scalars(
                    select(Message.id)
                    .where(
                        Message.organization_id == org_id,
                        Message.to_phone == to,
                        Message.body == body,
                    )
                    .order_by(Message.id)
                )
            )
        copies = [
            _carrier_copy(sim_url, m)
            for m in _get_json(
                f"{sim_url}/_control/messages?"
                + urllib.parse.urlencode({"direction": "outbound-api", "to": to})
            )
            if m["body"] == body
        ]
        texts = [_text_detail(serve_url, headers, mid) for mid in ids]
        groups.append({"to": to, "body": body, "texts": texts, "carrier": copies})
    backwards = []
    carrier = {m["sid"]: m for m in evidence.get("carrier", [])}
    for mid in list(evidence["histories_backwards"])[:5]:
        text_ = _text_detail(serve_url, headers, int(mid))
        copy = carrier.get(text_["provider_id"] or "")
        backwards.append({"text": text_, "carrier": _carrier_copy(sim_url, copy) if copy else None})
    return {"groups": groups, "backwards": backwards}


def overwritten_callbacks(
    sent_before_refresh: dict[int, str], callbacks: list[dict[str, Any]]
) -> list[int]:
    """Texts still ``sent`` although the webhook answered 2xx to their ``delivered`` callback:
    the callback's change was acknowledged, then overwritten."""
    acknowledged = {
        c["sid"]
        for c in callbacks
        if c["status"] == "delivered" and c["http_status"] and 200 <= c["http_status"] < 300
    }
    return sorted(mid for mid, sid in sent_before_refresh.items() if sid in acknowledged)


# --- the run ----------------------------------------------------------------------------------


def environment(
    db_url: str, serve_port: int, sim_port: int, args: argparse.Namespace
) -> dict[str, str]:
    sim = f"http://127.0.0.1:{sim_port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CLINICTEXT_") or k == "CLINICTEXT_SIMULATOR_CONTROL_FROM"
    }
    env.update(
        {
            "CLINICTEXT_DATABASE_URL": db_url,
            "CLINICTEXT_PUBLIC_URL": f"http://127.0.0.1:{serve_port}",
            "CLINICTEXT_PROVIDER": "twilio",
            "CLINICTEXT_TWILIO_ACCOUNT_SID": SIMULATOR_ACCOUNT_SID,
            "CLINICTEXT_TWILIO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
            "CLINICTEXT_TWILIO_API_BASE_URL": sim,
            "CLINICTEXT_TWILIO_MESSAGING_BASE_URL": sim,
            "CLINICTEXT_TWILIO_NUMBERS_BASE_URL": sim,
            "CLINICTEXT_DISPATCH_LEASE_SECONDS": str(args.lease),
            "CLINICTEXT_SIMULATOR_SEED": str(args.seed),
            "CLINICTEXT_LOG_LEVEL": "INFO",
        }
    )
    return env


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    deadline = t0 + args.max_seconds
    # The comparison needs the simulator and serve alive: keep time for it at the end.
    settle_deadline = deadline - min(120.0, args.max_seconds / 4)
    with database(args.db, args.db_url, workdir) as db_url:
        seeded = seed(db_url, args, rng)
        seeded_s = time.monotonic() - t0
        serve_port, sim_port = free_port(), free_port()
        serve_url, sim_url = f"http://127.0.0.1:{serve_port}", f"http://127.0.0.1:{sim_port}"
        env = environment(db_url, serve_port, sim_port, args)
        quiet = {**env, "CLINICTEXT_LOG_LEVEL": "WARNING"}  # no access log per callback
        sim = Service(
            "simulator",
            [str(BIN), "simulator", "--host", "127.0.0.1", "--port", str(sim_port)],
            quiet,
            workdir / "simulator.log",
        )
        serve = Service(
            "serve",
            [str(BIN), "serve", "--no-dispatch", "--host", "127.0.0.1", "--port", str(serve_port)],
            quiet,
            workdir / "serve.log",
        )
        worker = Service("worker", [str(BIN), "worker"], env, workdir / "worker.log")
        engine = make_engine(db_url)
        reader = read_only(engine)
        result: dict[str, Any] = {"org_id": seeded.org_id, "workdir": str(workdir)}
        try:
            sim.start()
            serve.start()
            _wait_answer(f"{sim_url}/_control/chaos", sim, min(deadline, time.monotonic() + 60))
            _wait_answer(f"{serve_url}/healthz", serve, min(deadline, time.monotonic() + 60))
            if args.chaos:
                _post_json(f"{sim_url}/_control/chaos", CALLBACK_CHAOS)
            phones = [f"+{FIRST_PHONE + i}" for i in range(args.unreachable)]
            for phone in phones:
                _post_json(f"{sim_url}/_control/numbers/{phone}", {"persona": "unreachable"})

            def reachable_again() -> None:
                for phone in phones:
                    _post_json(f"{sim_url}/_control/numbers/{phone}", {"persona": "ok"})

            restore = (
                (int(args.texts * args.unreachable_until), reachable_again) if phones else None
            )
            sending_started = time.monotonic()
            worker.start()
            chaos = run_chaos(
                args, rng, reader, seeded.org_id, worker, serve, serve_url, settle_deadline, restore
            )
            result["chaos"] = {
                "worker_kills": chaos.worker_kills,
                "serve_kills": chaos.serve_kills,
                "serve_down_s": round(chaos.serve_down_seconds, 1),
                "worker_died_by_itself": chaos.worker_died_by_itself,
                "serve_died_by_itself": chaos.serve_died_by_itself,
                "left_sending_by_kills": chaos.left_sending_by_kills,
            }
            result["timeline"] = chaos.timeline
            # Settle, refresh (callbacks were lost; retries wait), again until nothing moves.
            rounds: list[dict[str, Any]] = []
            sent_before: dict[int, str] | None = None
            for _ in range(3):
                settled = wait_settled(
                    reader, seeded.org_id, worker, settle_deadline, args.stall_seconds
                )
                before = statuses(reader, seeded.org_id)
                if sent_before is None:
                    sent_before = sent_texts(reader, seeded.org_id)
                    result["settled_s"] = round(time.monotonic() - sending_started, 1)
                refreshed = refresh(env, seeded.org_id, deadline)
                after = statuses(reader, seeded.org_id)
                rounds.append({"settled": settled, "before": before, **refreshed, "after": after})
                if not any(after.get(s, 0) for s in STUCK) or after == before:
                    break
            result["refresh_rounds"] = rounds
            result["settled"] = all(r["settled"] for r in rounds)
            finish(result, reader, seeded, serve_url, sim_url, sent_before or {})
            result["completed"] = True
        except RunFailed as err:
            result.update({"completed": False, "error": str(err)})
            try:
                result["statuses"] = statuses(reader, seeded.org_id)
                if sim.alive() and "counts" not in result:
                    finish(result, reader, seeded, serve_url, sim_url, {})
            except Exception as exc:  # the report matters more than these figures
                result["statuses"] = f"unavailable: {exc}"
        finally:
            for service in (worker, serve, sim):
                service.stop()
            engine.dispose()
    result["seconds"] = {
        "seed": round(seeded_s, 1),
        "send_and_settle": result.get("settled_s"),
        "total": round(time.monotonic() - t0, 1),
    }
    return result


def finish(
    result: dict[str, Any],
    reader: Engine,
    seeded: Seeded,
    serve_url: str,
    sim_url: str,
    sent_before: dict[int, str],
) -> None:
    """Compare the carrier with the database, and gather the evidence of each failure."""
    carrier = _get_json(f"{sim_url}/_control/messages?direction=outbound-api")
    counts, evidence = compare(reader, seeded.org_id, carrier)
    callbacks = _get_json(f"{sim_url}/_control/callbacks")
    overwritten = overwritten_callbacks(sent_before, callbacks)
    counts["callbacks_acknowledged_then_overwritten"] = len(overwritten)
    evidence["callbacks_acknowledged_then_overwritten"] = overwritten[:50]
    counts["callback_posts_failed"] = sum(
        1 for c in callbacks if not c["http_status"] or c["http_status"] >= 500
    )
    result["counts"], result["evidence"] = counts, evidence
    if _answers(f"{serve_url}/healthz", timeout=2):
        result["cases"] = diagnose(
            {**evidence, "carrier": carrier},
            reader,
            seeded.org_id,
            serve_url,
            sim_url,
            seeded.api_key,
        )


def print_report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if not result.get("completed"):
        console.print(f"[red]The run did not finish:[/red] {result.get('error')}")
        console.print(f"Statuses: {result.get('statuses')}; logs in {result['workdir']}")
    if "counts" not in result:
        return
    counts, secs = result["counts"], result["seconds"]
    chaos = result.get("chaos") or dict.fromkeys(
        ("worker_kills", "serve_kills", "serve_down_s"), "-"
    ) | {"left_sending_by_kills": []}
    rounds = result.get("refresh_rounds", [])
    table = Table(title=f"Crash recovery ({args.db}, seed {args.seed})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("texts queued", counts["texts"]),
        ("bodies per patient", "mixed" if args.mixed_bodies else args.bodies),
        ("patients", args.patients),
        ("callback chaos (twice, reordered, late)", "on" if args.chaos else "off"),
        ("patients unreachable (30003) for a while", args.unreachable),
        ("worker SIGKILLs", chaos["worker_kills"]),
        ("serve SIGKILLs (callbacks lost)", chaos["serve_kills"]),
        ("serve down, s", chaos["serve_down_s"]),
        ("left sending by each kill", ", ".join(map(str, chaos["left_sending_by_kills"]))),
        (
            "reconciliation",
            ", ".join(f"{k} {v}" for k, v in result["evidence"]["reconciliation"].items()) or "-",
        ),
        ("every text settled (none stalled)", "yes" if result.get("settled") else "NO"),
        ("refresh rounds: statuses fetched", ", ".join(str(r.get("checked")) for r in rounds)),
        ("carrier copies undelivered (retried)", counts["carrier_copies_undelivered"]),
        ("carrier messages", counts["carrier_messages"]),
        ("delivered", counts["delivered"]),
        ("duplicates", counts["duplicates"]),
        ("lost", counts["lost"]),
        ("provider-id collisions", counts["provider_id_collisions"]),
        ("provider id not at carrier", counts["provider_id_not_at_carrier"]),
        ("provider id of another text", counts["provider_id_other_text"]),
        ("carrier messages no text names", counts["carrier_messages_no_text_names"]),
        ("stuck (queued/sending/sent)", counts["stuck"]),
        ("status went backwards (history)", counts["histories_backwards"]),
        (
            "delivered callbacks 2xx, then overwritten",
            counts["callbacks_acknowledged_then_overwritten"],
        ),
        ("callback posts failed (serve down)", counts["callback_posts_failed"]),
        ("seeding, s", secs["seed"]),
        ("sending until settled or stalled, s", secs["send_and_settle"]),
        ("wall time, s", secs["total"]),
    ]
    bad = {
        "duplicates",
        "lost",
        "provider-id collisions",
        "provider id not at carrier",
        "provider id of another text",
        "stuck (queued/sending/sent)",
        "status went backwards (history)",
        "delivered callbacks 2xx, then overwritten",
    }
    for name, value in rows:
        style = "red" if name in bad and value else None
        table.add_row(name, str(value), style=style)
    console.print(table)
    cases = result.get("cases") or {"groups": [], "backwards": []}
    for case in cases["groups"][:5]:
        console.print(f"[yellow]{case['to']} {case['body']!r}[/yellow]")
        for t in case["texts"]:
            _print_text(t)
        for c in case["carrier"]:
            _print_copy(c)
    for case in cases["backwards"][:3]:
        console.print("[yellow]A history that went backwards:[/yellow]")
        _print_text(case["text"])
        if case["carrier"]:
            _print_copy(case["carrier"])


def _print_text(t: dict[str, Any]) -> None:
    console.print(f"  text {t['id']}: {t['status']}, provider id {t['provider_id']}")
    for h in t["history"]:
        console.print(f"    {h['at']} {h['status']:<10} {h.get('detail') or ''}")


def _print_copy(c: dict[str, Any]) -> None:
    console.print(f"  carrier {c['sid']} {c['status']}")
    for cb in c["callbacks"]:
        mid = cb["url"].rsplit("mid=", 1)[-1]
        answer = cb["http_status"] or cb["error"]
        console.print(f"    {cb['at']} callback {cb['status']:<10} for text {mid}: {answer}")


def source() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "modified": git("status", "--porcelain", "src")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1500)
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--bodies", type=int, default=5, help="distinct bodies per patient")
    parser.add_argument(
        "--mixed-bodies", action="store_true", help="every other text has a body of its own"
    )
    parser.add_argument("--kills", type=int, default=6, help="worker SIGKILLs")
    parser.add_argument("--serve-kills", type=int, default=3, help="serve outages")
    parser.add_argument("--outage-seconds", type=float, default=3.0)
    parser.add_argument("--mps", type=int, default=100, help="the sender's segments per second")
    parser.add_argument("--lease", type=float, default=4.0, help="dispatch lease, seconds")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", help="use this database instead of a throwaway one")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--chaos",
        action="store_true",
        help="status callbacks twice, out of order, up to 1.5 s late",
    )
    parser.add_argument(
        "--unreachable",
        type=int,
        default=0,
        help="patients whose phone answers 30003 (retried) until --unreachable-until",
    )
    parser.add_argument(
        "--unreachable-until", type=float, default=0.4, help="fraction of texts handed by then"
    )
    parser.add_argument("--max-seconds", type=float, default=600, help="the whole run's bound")
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=60,
        help="texts unsettled and no status change this long: stop waiting, refresh, report",
    )
    parser.add_argument("--json", default="bench/results/crash.json")
    args = parser.parse_args(argv)
    if args.patients < 1 or args.texts < 1 or args.bodies < 1:
        parser.error("--texts, --patients and --bodies must be positive")
    if not 0 <= args.unreachable < args.patients:
        parser.error("--unreachable must be at least 0 and fewer than --patients")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"crash-{args.db}-", dir=out.parent))
    measured = source()  # before the run: others may commit meanwhile
    result = run(args, workdir)
    print_report(args, result)
    out.write_text(
        json.dumps(
            {"machine": machine_info(), "source": measured, "parameters": vars(args), **result},
            indent=2,
            default=str,
        )
    )
    console.print(f"Wrote {out}; process logs in {workdir}")
    counts = result.get("counts", {})
    if counts.get("duplicates") or counts.get("lost"):
        return 1
    if not result.get("completed"):
        return 2
    return 3 if any(counts.get(k) for k in OTHER_BREAKS) else 0


if __name__ == "__main__":
    sys.exit(main())
