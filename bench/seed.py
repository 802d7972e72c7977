"""Seed a clinic group's history in bulk: 50,000 patients and 1,000,000 texts in minutes.

The scale measures need a database that looks like months of production: patients with
names and phones spread over area codes, a consent ledger, and texts spread over half a
year (mostly delivered, a few failed, inbound replies, this month's staff texts among them),
each with its status events and its commlog. Going through the API or the services would
take the better part of an hour (the checklist, an audit row and a commit per text), so the
rows are written straight into the store layer's tables: the column lists come from the
models (a column another change adds with a default gets that default), the organization,
its numbers and its API key come from the services, and the bulk rows go in with
``COPY ... FROM STDIN`` on PostgreSQL and one driver ``executemany`` per batch on SQLite,
with ids assigned here so nothing has to be read back. Seeding again adds to what is there
(``seed_messages`` on an existing organization), so one database can be measured at 100,000
and then at 1,000,000 texts.

Run: ``python -m bench.seed --database-url URL --patients 50000 --messages 1000000``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, func, select, text

from clinictext.domain.checklist import Channel
from clinictext.services import numbers, orgs
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import (
    Commlog,
    ConsentEventRow,
    Message,
    MessageEvent,
    Organization,
    Patient,
    SenderNumber,
)

API_KEY = "ct_scale-bench-key-0000000000000000000000000"
CLINIC_SENDER = "+15005550006"
LEAD_SENDER = "+14155550100"
AREA_CODES = (415, 510, 650, 408, 925, 707, 212, 718, 305, 407, 312, 214)
FIRST_NAMES = [
    "Alice",
    "Ben",
    "Carla",
    "Dan",
    "Erin",
    "Farid",
    "Gina",
    "Hugo",
    "Iris",
    "Jon",
    "Kara",
    "Luis",
    "Maya",
    "Nora",
    "Omar",
    "Paula",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
    "Aaron",
    "Bianca",
    "Chen",
    "Diego",
    "Elena",
    "Felix",
    "Grace",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Marco",
    "Nadia",
    "Oscar",
    "Priya",
    "Ravi",
    "Sofia",
    "Tomas",
    "Ursula",
    "Vera",
    "Will",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
]
OUTBOUND_BODIES = (
    "Hi {f}, this is a reminder of your appointment tomorrow at 10:30. Reply C to confirm.",
    "Hi {f}, your crown is ready. Call us to book the fitting.",
    "{f}, it has been 6 months since your last cleaning. Reply to book a visit.",
    "Hi {f}, thanks for visiting today! Let us know if anything feels off.",
    "Your x-rays are ready, {f}. We will go over them at your next visit.",
)
INBOUND_BODIES = ("C", "Thanks!", "Can we move it to Thursday?", "Yes", "On my way", "Ok")
BATCH = 20_000
CHUNK = 100_000
HISTORY_DAYS = 180


@dataclass(frozen=True)
class Seeded:
    """What the measures need to know about a seeded organization."""

    org_id: int
    api_key: str
    clinic_sender: str
    patients: int
    messages: int
    sample_patient_ids: list[int]
    busy_patient_ids: list[int]
    in_flight: list[tuple[int, str]]  # (message id, provider id) of texts awaiting delivery
    name_prefixes: list[str]
    seconds: float


def _table(model: Any) -> Table:
    return model.__table__


class BulkWriter:
    """Writes rows of one table with the fastest path each database offers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def next_id(self, table: Table) -> int:
        with self.engine.connect() as conn:
            return (
                int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
            )

    def _columns(
        self, table: Table, given: Sequence[str]
    ) -> tuple[list[str], list[Any], list[Any]]:
        """Every column: the given ones, then those whose default the model computes from
        the row (as a search key from the names), then the others with their scalar default
        (or NULL, or left to the database's own default)."""
        names, computed, fill = list(given), [], []
        for col in table.columns:
            default = col.default
            if col.name not in given and default is not None and default.is_callable:
                names.append(col.name)
                computed.append(default.arg)  # type: ignore[attr-defined]
        for col in table.columns:
            if col.name in names:
                continue
            default = col.default
            if default is not None and getattr(default, "is_scalar", False):
                names.append(col.name)
                fill.append(default.arg)  # type: ignore[attr-defined]
            elif col.server_default is None and col.nullable:
                names.append(col.name)
                fill.append(None)
        return names, computed, fill

    def write(self, table: Table, given: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
        names, computed, fill = self._columns(table, given)
        tail = tuple(fill)
        if computed:
            rows = _with_computed(rows, list(given), computed)
        count = 0
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            if self.postgres:
                # The foreign keys' checks, row by row, are most of a COPY's cost; every id
                # written here refers to a row written before it, so they are switched off
                # for this table while it is written (the table's own triggers still run).
                checks = [
                    name
                    for (name,) in cur.execute(
                        "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass "
                        "AND tgisinternal AND tgname LIKE 'RI_ConstraintTrigger_c_%%'",
                        (table.name,),
                    ).fetchall()
                ]
                for name in checks:
                    cur.execute(f'ALTER TABLE {table.name} DISABLE TRIGGER "{name}"')
                with cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row + tail)
                        count += 1
                for name in checks:
                    cur.execute(f'ALTER TABLE {table.name} ENABLE TRIGGER "{name}"')
            else:
                cur.execute("PRAGMA synchronous=OFF")
                cur.execute("PRAGMA cache_size=-262144")  # 256 MiB: indexes stay in memory
                cur.execute("PRAGMA foreign_keys=OFF")  # ids are assigned here, parents first
                sql = (
                    f"INSERT INTO {table.name} ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' * len(names))})"
                )
                for chunk in _chunks(rows, BATCH):
                    cur.executemany(sql, [tuple(map(_sqlite_value, r + tail)) for r in chunk])
                    count += len(chunk)
            raw.commit()
        finally:
            raw.close()
        return count

    def fix_sequence(self, table: Table) -> None:
        if not self.postgres:
            return
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT max(id) FROM {table.name}))"
                )
            )

    def analyze(self) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


class _RowContext:
    """What a model's computed default reads: the row being inserted."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row

    def get_current_parameters(self) -> dict[str, Any]:
        return self.row


def _with_computed(
    rows: Iterable[tuple[Any, ...]], given: list[str], computed: list[Any]
) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        context = _RowContext(dict(zip(given, row, strict=True)))
        yield row + tuple(fn(context) for fn in computed)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # as SQLAlchemy stores a UTC timestamp on SQLite
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _phones(count: int, rng: random.Random) -> list[str]:
    exchanges = [(a, rng.randint(201, 989)) for a in AREA_CODES for _ in range(300)]
    seen: set[str] = set()
    while len(seen) < count:
        area, exchange = rng.choice(exchanges)
        seen.add(f"+1{area}{exchange}{rng.randint(0, 9999):04d}")
    phones = sorted(seen)
    rng.shuffle(phones)
    return phones


def create_org(engine: Engine, mps: int = 1000) -> int:
    """An organization that can text, its clinic and lead numbers and the bench API key."""
    factory = session_factory(engine)
    with transaction(factory) as s:
        org = orgs.create_org(s, "Scale Dental Group", actor="bench", timezone="America/New_York")
        orgs.update_org(
            s,
            org.id,
            {
                "sms_enabled": True,
                "messaging_registration": "approved",
                "clinic_phone": "+14155550199",
            },
            "bench",
        )
        numbers.add_number(s, org.id, CLINIC_SENDER, Channel.CLINIC, "long_code", mps, "bench")
        numbers.add_number(s, org.id, LEAD_SENDER, Channel.LEAD, "long_code", mps, "bench")
        orgs.create_api_key(s, org.id, name="Scale bench", actor="bench", key=API_KEY)
        return org.id


def seed_patients(engine: Engine, org_id: int, count: int, now: datetime, seed: int = 11) -> None:
    """``count`` patients with names, phones over a dozen area codes and consent ledgers."""
    rng = random.Random(seed)
    writer = BulkWriter(engine)
    first_id = writer.next_id(_table(Patient))
    phones = _phones(count, rng)
    start = now - timedelta(days=3 * 365)
    patient_cols = [
        "id",
        "organization_id",
        "first_name",
        "last_name",
        "phone",
        "phone_status",
        "phone_reason",
        "language",
        "unknown_sender",
        "unread_count",
        "created_at",
        "updated_at",
    ]

    def patients() -> Iterator[tuple[Any, ...]]:
        for n, phone in enumerate(phones):
            created = start + timedelta(seconds=rng.uniform(0, 3 * 365 * 86400 - 86400))
            landline = rng.random() < 0.01
            yield (
                first_id + n,
                org_id,
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                phone,
                "landline" if landline else "valid",
                "This number is a landline." if landline else "",
                "es" if n % 9 == 0 else "en",
                False,
                0,
                created,
                created,
            )

    writer.write(_table(Patient), patient_cols, patients())
    writer.fix_sequence(_table(Patient))
    consent_first = writer.next_id(_table(ConsentEventRow))
    consent_cols = [
        "id",
        "organization_id",
        "patient_id",
        "phone",
        "action",
        "level",
        "source",
        "recorded_by",
        "at",
    ]

    def consents() -> Iterator[tuple[Any, ...]]:
        cid = consent_first
        for n, phone in enumerate(phones):
            roll = rng.random()
            if roll > 0.95:
                continue  # never asked
            at = start + timedelta(days=rng.uniform(0, 365))
            level = "marketing" if roll < 0.6 else "informational"
            yield (cid, org_id, first_id + n, phone, "opt_in", level, "import", "bench", at)
            cid += 1
            if roll < 0.02:  # opted in, then replied STOP
                yield (cid, org_id, first_id + n, phone, "opt_out", None, "keyword", "bench", now)
                cid += 1

    writer.write(_table(ConsentEventRow), consent_cols, consents())
    writer.fix_sequence(_table(ConsentEventRow))


def seed_messages(
    engine: Engine,
    org_id: int,
    count: int,
    now: datetime,
    *,
    in_flight: int = 0,
    seed: int = 13,
) -> None:
    """``count`` texts over the last six months, each with its status events and commlog.

    Outbound texts are mostly delivered (some undelivered or failed), about one in five
    texts is a patient's reply, staff texts, reminders and campaign texts are mixed as a
    clinic's are, and a few patients have long histories. The newest ``in_flight`` outbound
    texts are ``sent`` and wait for their delivery callback."""
    rng = random.Random(seed + count)
    writer = BulkWriter(engine)
    with engine.connect() as conn:
        pats = conn.execute(
            select(Patient.id, Patient.phone, Patient.first_name)
            .where(Patient.organization_id == org_id, Patient.phone.is_not(None))
            .order_by(Patient.id)
        ).all()
        senders = {
            purpose: (sid, number)
            for sid, number, purpose in conn.execute(
                select(SenderNumber.id, SenderNumber.number, SenderNumber.purpose).where(
                    SenderNumber.organization_id == org_id
                )
            )
        }
        price = conn.execute(
            select(Organization.segment_price_micros).where(Organization.id == org_id)
        ).scalar_one()
    first_id = writer.next_id(_table(Message))
    first_event = writer.next_id(_table(MessageEvent))
    first_log = writer.next_id(_table(Commlog))
    start = now - timedelta(days=HISTORY_DAYS)
    span = HISTORY_DAYS * 86400 - 60
    step = span / max(count, 1)
    msg_cols = [
        "id",
        "organization_id",
        "patient_id",
        "sender_number_id",
        "direction",
        "kind",
        "channel",
        "lane",
        "body",
        "encoding",
        "segments",
        "cost_micros",
        "to_phone",
        "from_phone",
        "status",
        "attempts",
        "handed_at",
        "provider_id",
        "error_code",
        "created_by",
        "created_at",
        "updated_at",
    ]
    event_cols = ["id", "organization_id", "message_id", "status", "error_code", "at"]
    log_cols = ["id", "organization_id", "patient_id", "message_id", "direction", "kind", "at"]
    events: list[tuple[Any, ...]] = []
    logs: list[tuple[Any, ...]] = []
    n_pat = len(pats)
    sid_base = rng.getrandbits(40)

    eid = first_event

    def messages(lo: int, hi: int) -> Iterator[tuple[Any, ...]]:
        nonlocal eid
        for i in range(lo, hi):
            mid = first_id + i
            # A few patients text a lot: a skewed pick over the patient list.
            pid, phone, fname = pats[int(n_pat * rng.random() ** 2)]
            at = start + timedelta(seconds=i * step + rng.uniform(0, step))
            roll = rng.random()
            lead = roll < 0.05
            sender_id, sender = senders["lead" if lead else "clinic"]
            channel = "lead" if lead else "clinic"
            provider_id = f"SM{sid_base:010x}{mid:022x}"
            recent = i >= count - in_flight
            if roll > 0.8 and not recent:  # a patient's reply
                body = rng.choice(INBOUND_BODIES)
                row: tuple[Any, ...] = (
                    mid, org_id, pid, sender_id, "inbound", "manual", channel, 0, body,
                    "GSM-7", 1, 0, sender, phone, "received", 0, None, provider_id, None,
                    "patient", at, at,
                )  # fmt: skip
                events.append((eid, org_id, mid, "received", None, at))
                eid += 1
                logs.append((mid, org_id, pid, mid, "inbound", "manual", at))
                yield row
                continue
            kind = "lead" if lead else ("manual" if roll < 0.35 else "automated")
            if 0.65 < roll <= 0.8:
                kind = "campaign"
            body = rng.choice(OUTBOUND_BODIES).format(f=fname)
            segments = 1 if len(body) <= 160 else 2
            outcome = rng.random()
            status, error = "delivered", None
            if recent:
                status = "sent"
            elif outcome < 0.03:
                status, error = "undelivered", "30003"
            elif outcome < 0.04:
                status, error = "failed", "30006"
            sent_at = at + timedelta(milliseconds=rng.uniform(50, 900))
            done_at = sent_at + timedelta(seconds=rng.uniform(1, 8))
            row = (
                mid, org_id, pid, sender_id, "outbound", kind, channel,
                0 if kind in ("manual", "lead") else 1, body, "GSM-7", segments,
                segments * price, phone, sender, status, 1, sent_at, provider_id, error,
                "bench" if kind in ("manual", "lead") else "automation", at,
                sent_at if recent else done_at,
            )  # fmt: skip
            events.append((eid, org_id, mid, "queued", None, at))
            events.append((eid + 1, org_id, mid, "sent", None, sent_at))
            eid += 2
            if not recent:
                events.append((eid, org_id, mid, status, error, done_at))
                eid += 1
            logs.append((mid, org_id, pid, mid, "outbound", kind, at))
            yield row

    offset = first_log - first_id
    for lo in range(0, count, CHUNK):  # a chunk's events and commlogs are held in memory
        writer.write(_table(Message), msg_cols, messages(lo, min(count, lo + CHUNK)))
        writer.write(_table(MessageEvent), event_cols, iter(events))
        writer.write(_table(Commlog), log_cols, ((r[0] + offset, *r[1:]) for r in logs))
        events.clear()
        logs.clear()
    for model in (Message, MessageEvent, Commlog):
        writer.fix_sequence(_table(model))


def describe(engine: Engine, org_id: int, in_flight: int, started: float) -> Seeded:
    """The sample ids and name prefixes the measures use, read back from the database."""
    with engine.connect() as conn:
        patients = conn.execute(
            select(func.count()).select_from(Patient).where(Patient.organization_id == org_id)
        ).scalar_one()
        messages = conn.execute(
            select(func.count()).select_from(Message).where(Message.organization_id == org_id)
        ).scalar_one()
        opted_out = select(ConsentEventRow.patient_id).where(
            ConsentEventRow.organization_id == org_id, ConsentEventRow.action == "opt_out"
        )
        opted_in = select(ConsentEventRow.patient_id).where(
            ConsentEventRow.organization_id == org_id, ConsentEventRow.action == "opt_in"
        )
        ids = list(  # patients a staff text can go to: a valid phone, opted in, no STOP
            conn.scalars(
                select(Patient.id)
                .where(
                    Patient.organization_id == org_id,
                    Patient.phone_status == "valid",
                    Patient.id.in_(opted_in),
                    Patient.id.not_in(opted_out),
                )
                .order_by(Patient.id)
            )
        )
        busy = list(
            conn.scalars(
                select(Message.patient_id)
                .where(Message.organization_id == org_id)
                .group_by(Message.patient_id)
                .order_by(func.count().desc())
                .limit(20)
            )
        )
        flight = [
            (mid, sid)
            for mid, sid in conn.execute(
                select(Message.id, Message.provider_id)
                .where(Message.organization_id == org_id, Message.status == "sent")
                .order_by(Message.id.desc())
                .limit(in_flight)
            )
        ]
        names = list(
            conn.scalars(
                select(Patient.last_name).where(Patient.organization_id == org_id).limit(200)
            )
        )
    rng = random.Random(5)
    sample = rng.sample(ids, min(len(ids), 2000))
    prefixes = sorted({n[:3] for n in names})
    return Seeded(
        org_id=org_id,
        api_key=API_KEY,
        clinic_sender=CLINIC_SENDER,
        patients=patients,
        messages=messages,
        sample_patient_ids=sample,
        busy_patient_ids=busy,
        in_flight=flight,
        name_prefixes=prefixes,
        seconds=round(time.perf_counter() - started, 1),
    )


def seed(
    url: str,
    patients: int,
    messages: int,
    *,
    org_id: int | None = None,
    in_flight: int = 0,
    now: datetime | None = None,
) -> Seeded:
    """Seed (or add to) one organization: patients only when it is new, then ``messages``
    more texts. Returns what the measures need."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    engine = make_engine(url)
    try:
        if org_id is None:
            org_id = create_org(engine)
            seed_patients(engine, org_id, patients, now)
        if messages:
            seed_messages(engine, org_id, messages, now, in_flight=in_flight)
        if engine.dialect.name == "postgresql":
            BulkWriter(engine).analyze()
        return describe(engine, org_id, in_flight, started)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--org", type=int, default=None, help="add texts to this organization")
    parser.add_argument("--in-flight", type=int, default=0, help="newest texts left 'sent'")
    args = parser.parse_args(argv)
    upgrade(args.database_url)
    seeded = seed(
        args.database_url, args.patients, args.messages, org_id=args.org, in_flight=args.in_flight
    )
    shown = asdict(seeded)
    for key in ("sample_patient_ids", "in_flight", "name_prefixes"):
        shown[key] = len(shown[key])
    print(json.dumps(shown, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
