"""Who a campaign reaches: its audience loaded in bulk, and the checklist for every patient.

The preview and the start ask the same question of every patient of the audience: can
they be texted a campaign (``domain.checklist``, kind campaign: marketing consent), from
which number, with which text, and when (the send window in their time)? The answers come
from a fixed number of queries however large the audience (the organization, its sender
numbers, and the patients with their leads and consents: ``campaign_patients``), never one
query a patient; the rules run through ``domain.bulk``'s memos.

Patients are skipped with every reason that applies: the checklist's failing checks, an
unknown sender not yet merged, a phone another patient of the audience already gets the
text on, a filled text that cannot be sent, or no time inside the send window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.audience import Audience
from clinictext.domain.bulk import ChecklistMemo, PatientFacts, WindowMemo
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
)
from clinictext.domain.content import BodyRefused, check_body
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.window_search import NoSendWindowError, Placement
from clinictext.services.campaign_patients import load_patients, patients_by_id, where_chunks
from clinictext.services.campaign_text import Renderer
from clinictext.services.numbers import list_numbers
from clinictext.services.orgs import get_org
from clinictext.services.scheduling import send_window
from clinictext.store.models import (
    Organization,
    SenderNumber,
    Template,
)


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


# --- judging ------------------------------------------------------------------------------


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
        self.session = session
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
        self.checklist = ChecklistMemo(base, now)
        self.renderer = Renderer(template, self.org)
        self.window = WindowMemo(at, send_window(self.org), self.org.timezone)
        self.phones_taken: set[str] = set()

    def judge(self, p: PatientFacts) -> Recipient | Skip:
        """Whether ``p`` gets the text (with its body and time) or why not."""
        failing = self.checklist.failing(p)
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

    def explain(self, skips: Sequence[Skip]) -> list[list[Check]]:
        """The failing checks of skipped patients, with their sentences and fixes.

        The sentences name dates (when a patient opted out), which a preview of the whole
        audience does not load: the patients are read again here, in one go.
        """
        dated = {
            p.id: p
            for p in patients_by_id(self.session, self.org.id, [s.patient.id for s in skips])
        }
        return [self._checks(replace(s, patient=dated.get(s.patient.id, s.patient))) for s in skips]

    def checks(self, skip: Skip) -> list[Check]:
        """``explain`` for one skipped patient."""
        return self.explain([skip])[0]

    def _checks(self, skip: Skip) -> list[Check]:
        failing = [c for c in self.checklist.checks(skip.patient) if not c.ok]
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
    for where in where_chunks(org_id, audience):
        for patient in load_patients(session, org_id, where):
            verdict = judge.judge(patient)
            if isinstance(verdict, Recipient):
                recipients.append(verdict)
            else:
                skipped.append(verdict)
    return Evaluation(judge.org, channel, judge.sender, at, recipients, skipped)
