"""A stateful property: no text but the single confirmation ever goes to an opted-out number.

Hypothesis drives random sequences of the patient's keywords (STOP in its spellings,
START, HELP, plain replies), staff opt-ins and opt-outs, staff, automated and campaign
sends, and the dispatcher's own steps (claiming texts, handing them to the provider
after the last consent check, recording the provider's answer), interleaved in any
order, through the real services on a real SQLite database. After every step: while the
number is opted out, nothing is waiting to go to it except the one confirmation of the
latest opt-out; and no text was ever handed to the provider while it was opted out.
"""

from __future__ import annotations

import itertools
import random
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import select

from clinictext.dispatch.claims import claim_due
from clinictext.dispatch.handoff import hand_off
from clinictext.dispatch.results import Result, record
from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.consent import ConsentAction, ConsentLevel, ConsentState
from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import CallLog, InboundText, SendOutcome
from clinictext.services import consent, inbound, numbers, orgs, outbox, patients, sending
from clinictext.services.errors import CannotText, Conflict
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import ConsentEventRow, Message

PHONE = "+14155550123"
CLINIC = "+15005550006"
# Migrated once, copied for each run; the directory goes when the test process ends.
_TEMPLATE_DIR: tempfile.TemporaryDirectory[str] | None = None
_sids = itertools.count(1)


def template() -> Path:
    global _TEMPLATE_DIR
    if _TEMPLATE_DIR is None:
        made = tempfile.TemporaryDirectory(prefix="consent-machine-")
        upgrade(f"sqlite:///{Path(made.name) / 'template.db'}")
        _TEMPLATE_DIR = made
    return Path(_TEMPLATE_DIR.name) / "template.db"


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="consent-run-"))
        db = self.dir / "run.db"
        shutil.copyfile(template(), db)
        self.engine = make_engine(f"sqlite:///{db}")
        self.factory = session_factory(self.engine)
        self.now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in New York
        with transaction(self.factory) as s:
            org = orgs.create_org(s, "Clinic", actor="t")
            orgs.update_org(
                s,
                org.id,
                {
                    "sms_enabled": True,
                    "messaging_registration": "approved",
                    "clinic_phone": "+14155550100",
                    "automated_daily_cap": 50,
                    "automated_weekly_cap": 100,
                },
                "t",
            )
            numbers.add_number(s, org.id, CLINIC, Channel.CLINIC, "long_code", 10, "t")
            self.org_id = org.id
            self.pid = patients.create_patient(
                s, org.id, first_name="P", last_name="Q", phone=PHONE, actor="t"
            ).id

        self.handed: list[int] = []  # handed to the provider, answer not recorded yet
        self.sids = itertools.count(1)

    @rule(limit=st.integers(1, 4))
    def worker_claims(self, limit: int) -> None:
        with transaction(self.factory) as s:
            claim_due(
                s,
                "w1",
                self.tick(),
                limit=limit,
                lease=timedelta(hours=1),
                horizon=timedelta(seconds=2),
            )

    @rule()
    def worker_hands_over(self) -> None:
        with transaction(self.factory) as s:
            claimed = list(
                s.scalars(
                    select(Message.id).where(
                        Message.status == "sending", Message.handed_at.is_(None)
                    )
                )
            )
            went = hand_off(s, claimed, "w1", self.tick())
        with transaction(self.factory) as s:
            state = consent.current(s, self.org_id, PHONE)
            for mid in went:
                m = s.get(Message, mid)
                if state.state is ConsentState.OPTED_OUT:
                    assert m.kind == "keyword_reply" and m.created_at >= state.since, (
                        f"{m.kind} handed to the provider after the opt-out"
                    )
        self.handed.extend(went)

    @rule()
    def provider_answers(self) -> None:
        log = CallLog("send", {}, {}, 201, 1.0)
        results = [
            Result(mid, SendOutcome(log=log, reachable=True, provider_id=f"SM{next(self.sids)}"))
            for mid in self.handed
        ]
        self.handed = []
        with transaction(self.factory) as s:
            record(s, results, self.tick(), RetryPolicy(), random.Random(1), "w1")

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    def tick(self) -> datetime:
        self.now += timedelta(minutes=7)
        return self.now

    def patient_texts(self, body: str) -> None:
        text = InboundText(f"SMin{next(_sids)}", PHONE, CLINIC, body, 1)
        with transaction(self.factory) as s:
            inbound.receive(s, text, self.tick())

    @rule(body=st.sampled_from(["STOP", "stop", "  Stop ", "UNSUBSCRIBE", "quit", "OPT OUT"]))
    def patient_stops(self, body: str) -> None:
        self.patient_texts(body)

    @rule(body=st.sampled_from(["START", "yes", "UNSTOP"]))
    def patient_starts(self, body: str) -> None:
        self.patient_texts(body)

    @rule(body=st.sampled_from(["HELP", "info", "Thanks, see you then!", "what time?"]))
    def patient_writes(self, body: str) -> None:
        self.patient_texts(body)

    @rule(level=st.sampled_from(list(ConsentLevel)))
    def staff_opt_in(self, level: ConsentLevel) -> None:
        try:
            with transaction(self.factory) as s:
                consent.record(
                    s,
                    self.org_id,
                    self.pid,
                    action=ConsentAction.OPT_IN,
                    source="verbal",
                    level=level,
                    actor="staff",
                )
        except Conflict:
            pass  # the patient replied STOP: only they can opt back in

    @rule(source=st.sampled_from(["staff", "free_text", "campaign"]))
    def staff_opt_out(self, source: str) -> None:
        with transaction(self.factory) as s:
            consent.record(
                s,
                self.org_id,
                self.pid,
                action=ConsentAction.OPT_OUT,
                source=source,
                actor="staff",
            )

    @invariant()
    def a_patients_stop_holds_until_their_start(self) -> None:
        with transaction(self.factory) as s:
            rows = consent.ledger(s, self.org_id, PHONE)
            state = consent.current(s, self.org_id, PHONE)
        locked = False
        for row in rows:
            if row.action == "opt_out" and row.source in ("keyword", "carrier"):
                locked = True
            elif row.action == "opt_in" and row.source == "keyword":
                locked = False
        if locked:
            assert state.state is ConsentState.OPTED_OUT
            assert state.locked_by_patient

    @rule(kind=st.sampled_from(list(SendKind)))
    def staff_or_automation_sends(self, kind: SendKind) -> None:
        try:
            with transaction(self.factory) as s:
                sending.send(
                    s,
                    self.org_id,
                    self.pid,
                    Channel.CLINIC,
                    "Your visit is at 3pm",
                    actor="staff",
                    send_kind=kind,
                    now=self.tick(),
                )
        except CannotText:
            pass

    @invariant()
    def nothing_but_one_confirmation_waits_for_an_opted_out_number(self) -> None:
        with transaction(self.factory) as s:
            state = consent.current(s, self.org_id, PHONE)
            if state.state is not ConsentState.OPTED_OUT:
                return
            opted_out_at = s.scalar(
                select(ConsentEventRow.at)
                .where(ConsentEventRow.action == "opt_out")
                .order_by(ConsentEventRow.id.desc())
                .limit(1)
            )
            waiting = list(
                s.scalars(
                    select(Message).where(Message.direction == "outbound", outbox.not_handed())
                )
            )
            since = [m for m in waiting if m.created_at >= opted_out_at]
            before = [m for m in waiting if m.created_at < opted_out_at]
            assert before == [], "texts queued before the opt-out must be canceled"
            assert all(m.kind == "keyword_reply" for m in since), [m.kind for m in since]
            assert len(since) <= 1, "more than one text queued for an opted-out number"
            if state.source == "keyword":
                confirmations = [m for m in since if "unsubscribed" in m.body]
                assert len(confirmations) == len(since)


ConsentMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestConsentMachine = ConsentMachine.TestCase
