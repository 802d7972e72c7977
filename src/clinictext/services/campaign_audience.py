"""Who a campaign reaches: its audience loaded in bulk, and the checklist for every patient.

The preview and the start ask the same question of every patient of the audience: can
they be texted a campaign (``domain.checklist``, kind campaign: marketing consent), from
which number, with which text, and when (the send window in their time)? The answers come
from a fixed number of queries however large the audience (the organization, its sender
numbers, the patients, their leads, their consent ledgers; a list of patient ids is read in
chunks), never one query a patient; the rules run through ``domain.bulk``'s memos.

Patients are skipped with every reason that applies: the checklist's failing checks, an
unknown sender not yet merged, a phone another patient of the audience already gets the
text on, a filled text that cannot be sent, or no time inside the send window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.audience import Audience
from clinictext.domain.bulk import ChecklistMemo, WindowMemo
from clinictext.domain.checklist import (
    CHECK_IDS,
    Channel,
    Check,
    Registration,
    SenderFact,
    SendKind,
    TextingFacts,
    Verification,
)
from clinictext.domain.consent import (
    NO_CONSENT,
    Consent,
    ConsentAction,
    ConsentEvent,
    ConsentLevel,
    derive,
)
from clinictext.domain.content import BodyRefused, check_body
from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.replies import in_conversation
from clinictext.domain.send_window import Window
from clinictext.domain.window_search import NoSendWindowError, Placement
from clinictext.services.campaign_text import Renderer
from clinictext.services.errors import Invalid
from clinictext.services.numbers import list_numbers
from clinictext.services.orgs import get_org
from clinictext.store.models import (
    ConsentEventRow,
    Lead,
    Organization,
    Patient,
    SenderNumber,
    Template,
)

# Patient ids per query when the audience is a list of ids (the databases' bound-parameter
# limits are 32,766 on SQLite and 65,535 on PostgreSQL).
ID_CHUNK = 5_000

PATIENT_COLUMNS = (
    Patient.id,
    Patient.first_name,
    Patient.last_name,
    Patient.phone,
    Patient.phone_status,
    Patient.phone_reason,
    Patient.timezone,
    Patient.language,
    Patient.unknown_sender,
    Patient.last_inbound_at,
)


@dataclass(frozen=True)
class PatientFacts:
    """One patient of the audience with what the checklist needs about them."""

    id: int
    first_name: str
    last_name: str
    phone: str | None
    phone_status: PhoneStatus
    phone_reason: str
    timezone: str | None
    language: str
    unknown_sender: bool
    last_inbound_at: datetime | None
    consent: Consent
    lead_stage: LeadStage | None
    lead_substatus: str | None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Recipient:
    patient: PatientFacts
    body: str
    placement: Placement


@dataclass(frozen=True)
class Skip:
    patient: PatientFacts
    reasons: tuple[str, ...]  # every reason, the first is the skip reason
    details: dict[str, str] = field(default_factory=dict)  # reasons outside the checklist


@dataclass
class Evaluation:
    """The audience's verdicts at one moment, for one channel."""

    org: Organization
    channel: Channel
    sender: SenderNumber | None
    at: datetime  # when the texts may go out from: now, or the later send time
    recipients: list[Recipient]
    skipped: list[Skip]

    @property
    def preview(self) -> rules.Preview:
        return rules.summarize(len(self.recipients), (s.reasons for s in self.skipped))


# --- loading ------------------------------------------------------------------------------


def _language_match(language: str) -> ColumnElement[bool]:
    """The patient's language is ``language`` or a regional form of it ("es" takes "es-MX")."""
    lang = language.lower().replace("_", "-")
    stored = func.lower(func.replace(Patient.language, "_", "-"))
    return or_(stored == lang, stored.like(lang.replace("%", "") + "-%"))


def _conditions(org_id: int, audience: Audience) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Patient.organization_id == org_id]
    if audience.language is not None:
        where.append(_language_match(audience.language))
    if audience.lead_stages:
        where.append(
            Patient.id.in_(
                select(Lead.patient_id).where(
                    Lead.organization_id == org_id,
                    Lead.stage.in_([s.value for s in audience.lead_stages]),
                )
            )
        )
    return where


def _where_chunks(org_id: int, audience: Audience) -> Iterator[list[ColumnElement[bool]]]:
    """The audience's conditions, once, or once per chunk of its patient ids."""
    base = _conditions(org_id, audience)
    if not audience.patient_ids:
        yield base
        return
    ids = sorted(audience.patient_ids)
    for start in range(0, len(ids), ID_CHUNK):
        yield [*base, Patient.id.in_(ids[start : start + ID_CHUNK])]


_ACTIONS = {a.value: a for a in ConsentAction}
_LEVELS = {lvl.value: lvl for lvl in ConsentLevel}


def _consents(session: Session, org_id: int, phones: Select[Any]) -> dict[str, Consent]:
    """The current consent of every phone ``phones`` selects, from one read of the ledger."""
    rows = session.execute(
        select(
            ConsentEventRow.phone,
            ConsentEventRow.action,
            ConsentEventRow.level,
            ConsentEventRow.source,
            ConsentEventRow.at,
        )
        .where(ConsentEventRow.organization_id == org_id, ConsentEventRow.phone.in_(phones))
        .order_by(ConsentEventRow.phone, ConsentEventRow.id)
    )
    ledgers: dict[str, list[ConsentEvent]] = {}
    for phone, action, level, source, at in rows:
        event = ConsentEvent(_ACTIONS[action], source, at, _LEVELS.get(level) if level else None)
        ledgers.setdefault(phone, []).append(event)
    return {phone: derive(events) for phone, events in ledgers.items()}


def load_patients(
    session: Session, org_id: int, where: Sequence[ColumnElement[bool]], limit: int | None = None
) -> list[PatientFacts]:
    """The patients ``where`` selects (by id), with their consent and lead: three queries."""
    query = select(*PATIENT_COLUMNS).where(*where).order_by(Patient.id)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    if not rows:
        return []
    if limit is not None:  # a page: its own ids, not the whole condition again
        where = [Patient.organization_id == org_id, Patient.id.in_([r.id for r in rows])]
    ids = select(Patient.id).where(*where)
    leads = {
        pid: (LeadStage(stage), substatus)
        for pid, stage, substatus in session.execute(
            select(Lead.patient_id, Lead.stage, Lead.substatus).where(
                Lead.organization_id == org_id, Lead.patient_id.in_(ids)
            )
        )
    }
    consents = _consents(
        session, org_id, select(Patient.phone).where(*where, Patient.phone.is_not(None))
    )
    statuses = {s.value: s for s in PhoneStatus}
    out = []
    for r in rows:
        stage, substatus = leads.get(r.id, (None, None))
        out.append(
            PatientFacts(
                id=r.id,
                first_name=r.first_name,
                last_name=r.last_name,
                phone=r.phone,
                phone_status=statuses[r.phone_status],
                phone_reason=r.phone_reason or "",
                timezone=r.timezone,
                language=r.language or "en",
                unknown_sender=bool(r.unknown_sender),
                last_inbound_at=r.last_inbound_at,
                consent=consents.get(r.phone, NO_CONSENT) if r.phone else NO_CONSENT,
                lead_stage=stage,
                lead_substatus=substatus,
            )
        )
    return out


def count_audience(session: Session, org_id: int, audience: Audience) -> int:
    """How many patients the audience names (before any check)."""
    return sum(
        int(session.scalar(select(func.count()).select_from(Patient).where(*where)) or 0)
        for where in _where_chunks(org_id, audience)
    )


# --- judging ------------------------------------------------------------------------------


def send_window(org: Organization) -> Window:
    """The organization's send window; Invalid when its stored times are unreadable."""
    try:
        return Window.parse(org.send_window_start, org.send_window_end)
    except ValueError as err:  # saved before times were checked strictly
        raise Invalid(
            f"{err} Set the send window again in the organization settings "
            "(PATCH /api/v1/org with send_window).",
            code="invalid_send_window",
        ) from None


class Judge:
    """Every rule a campaign text meets, for the patients of one organization at ``at``."""

    def __init__(
        self,
        session: Session,
        org_id: int,
        template: Template,
        channel: Channel,
        now: datetime,
        at: datetime,
    ) -> None:
        self.org = get_org(session, org_id)
        self.now = now
        self.at = at
        numbers = list_numbers(session, org_id, channel)
        self.sender = next(
            (n for n in numbers if n.verification == Verification.VERIFIED.value), None
        )
        base = TextingFacts(
            sms_enabled=self.org.sms_enabled,
            registration=Registration(self.org.messaging_registration),
            channel=channel,
            kind=SendKind.CAMPAIGN,
            senders=[
                SenderFact(n.number, n.kind, Verification(n.verification), n.id) for n in numbers
            ],
            phone=None,
            phone_status=PhoneStatus.MISSING,
            phone_reason="",
            consent=NO_CONSENT,
            lead_stage=None,
            lead_substatus=None,
            month_spend_usd=Decimal(0),
            spend_limit_usd=None,
        )
        self.channel = channel
        self.checklist = ChecklistMemo(base)
        self.renderer = Renderer(template, self.org)
        self.window = WindowMemo(at, send_window(self.org), self.org.timezone)
        self.phones_taken: set[str] = set()

    def _checklist_facts(self, p: PatientFacts) -> dict[str, Any]:
        return {
            "phone": p.phone,
            "phone_status": p.phone_status,
            "phone_reason": p.phone_reason,
            "consent": p.consent,
            "lead_stage": p.lead_stage,
            "lead_substatus": p.lead_substatus,
            "in_conversation": in_conversation(p.last_inbound_at, self.now),
        }

    def judge(self, p: PatientFacts) -> Recipient | Skip:
        """Whether ``p`` gets the text (with its body and time) or why not."""
        failing = self.checklist.failing(**self._checklist_facts(p))
        if p.unknown_sender:
            return Skip(p, (rules.UNKNOWN_SENDER, *failing))
        if failing:
            return Skip(p, failing)
        assert p.phone is not None  # the phone check passed
        if p.phone in self.phones_taken:
            return Skip(p, (rules.SHARED_PHONE,))
        try:
            body = check_body(self.renderer.text(p.first_name, p.last_name, p.language))
        except BodyRefused as err:
            return Skip(p, (rules.BODY,), {rules.BODY: str(err)})
        try:
            placement = self.window.place(p.phone, p.timezone)
        except NoSendWindowError as err:
            return Skip(p, (rules.SEND_WINDOW,), {rules.SEND_WINDOW: str(err)})
        self.phones_taken.add(p.phone)
        return Recipient(p, body, placement)

    def checks(self, skip: Skip) -> list[Check]:
        """The failing checks of a skipped patient, with their sentences and fixes."""
        facts = self.checklist.facts(**self._checklist_facts(skip.patient))
        failing = [c for c in self.checklist.checks(facts) if not c.ok]
        now_failing = {c.id for c in failing}
        extra = [
            Check(reason, False, skip.details.get(reason, rules.SKIP_SUMMARY[reason]), _FIX[reason])
            for reason in skip.reasons
            if reason in _FIX
        ]
        # A started campaign's reasons are those of its start: say so of a check passing now.
        earlier = [
            Check(
                reason,
                False,
                f"{rules.SKIP_SUMMARY[reason]} So it was when the campaign started; it has "
                "changed since.",
            )
            for reason in skip.reasons
            if reason in CHECK_IDS and reason not in now_failing
        ]
        return extra + failing + earlier


_FIX = {
    rules.UNKNOWN_SENDER: "Merge this unknown sender into the right patient, who can then "
    "be included.",
    rules.SHARED_PHONE: "Nothing to do: one text goes to each phone number.",
    rules.BODY: "Shorten the template, or correct the patient's name.",
    rules.SEND_WINDOW: "Widen the send window in the organization settings.",
}


def evaluate(
    session: Session,
    org_id: int,
    template: Template,
    audience: Audience,
    channel: Channel,
    *,
    now: datetime,
    send_at: datetime | None = None,
) -> Evaluation:
    """The verdict for every patient of the audience: who gets the text, who is skipped."""
    at = max(now, send_at) if send_at is not None else now
    judge = Judge(session, org_id, template, channel, now, at)
    recipients: list[Recipient] = []
    skipped: list[Skip] = []
    for where in _where_chunks(org_id, audience):
        for patient in load_patients(session, org_id, where):
            verdict = judge.judge(patient)
            if isinstance(verdict, Recipient):
                recipients.append(verdict)
            else:
                skipped.append(verdict)
    return Evaluation(judge.org, channel, judge.sender, at, recipients, skipped)
