"""The demo clinic: patients chosen so that each can-text check fails for one of them, and
ten days of texting history, so that every screen of the web app has something to explain.

Demo Clinic (SMS on, registration approved, both numbers verified; time zone Los Angeles).
In a new database Alice to Gina below are patients 1 to 6, and Lakeside's Sam Setup is 7
(the README's examples use these ids).
Can-text, patient by patient, for staff texts on the clinic channel unless said otherwise
(patients who are not leads also fail `lead_stage` on the lead channel):
  Alice Ready    passes every check on both channels (a new lead, marketing consent)
  Ben Landline   `phone` fails: his phone is a landline
  Carla Nobody   `consent` fails: she never opted in
  Dan Stopped    `consent` fails: he replied STOP (only he can opt back in)
  Erin Booked    `lead_stage` fails on the lead channel (closed won, scheduled);
                 the clinic channel passes
  Fay Unsubscribed `consent` fails: she unsubscribed from a campaign (staff may record a
                 new opt-in if she agrees again)
  Gina Informed  `consent` fails for campaigns only (informational consent)
  Maya Patel     passes every check on both channels (a new lead, marketing consent)
  Luis Ortega    passes on both channels (a lead in progress; informational consent, so
                 `consent` fails for campaigns)
  Tom Becker     `phone` fails: the carrier reported his number is a landline (error 30006)
  Rachel Kim     `lead_stage` fails on the lead channel (closed lost); the clinic channel passes
  Nora Quinn     passes: a reply only flagged for review is not an opt-out
  Unknown sender (a number no patient has) passes only for a staff answer within 24 hours of
                 their text; otherwise `consent` fails (no opt-in recorded)

What a visitor signed in as frontdesk@demo.example sees (all times in the last ten days):
  Lead Dashboard  Open: Alice Ready, Maya Patel, Tom Becker (new-patient requests from the
                  website form, consent recorded with the form as evidence); In progress:
                  Luis Ortega ("1st contact"); Closed won: Erin Booked ("scheduled");
                  Closed lost: Rachel Kim ("Chose a practice closer to home").
  Inbox           three unread conversations: Luis Ortega asking for a time, Nora Quinn
                  ("please stop texting me": Needs review, Confirm opt-out or Dismiss), and
                  an unknown sender asking whether the clinic takes new patients (merge);
                  Alice's reply read but not answered yet; Tom Becker under "Failed texts".
  Conversations   Delivered staff texts and Received replies; Alice's first text, with a
                  bit.ly link, Failed (30007: filtered as spam; remove links, rephrase);
                  Tom's welcome Failed (30006: landline; edit the wireless phone and retry);
                  Dan's STOP and its keyword confirmation; the campaign text Fay
                  unsubscribed from (her consent history says how); Erin's text to the
                  lead number after she booked, answered by the automatic "contact the
                  clinic" reply; Luis's answer went out after a provider outage (its status
                  history shows the retry).
  Pending         Erin's clinic-channel text: sent, but the carrier never confirmed delivery;
                  Gina's fourth automated text this week: held by the frequency cap (3 a week)
                  until tomorrow 10:00.
  Connector       up; the outage two days ago left an error to Acknowledge; Refresh works.
  Commlogs        one per text: sent ones can be deleted, received ones cannot.
Staff sign-ins (web app): frontdesk@demo.example / demo-frontdesk (staff) and
admin@demo.example / demo-admin (admin).

Lakeside Dental (a second organization, still being set up):
  Sam Setup      `sms_enabled` fails (registration pending), `sender_number` fails on the
                 clinic channel (a landline awaiting confirmation) and `spend_limit` fails
                 (the manual-text limit is $0.00)

The history is written by the services that write it in production: ``sending.send`` queues
each text, the dispatcher's ``results.record`` records the provider's answer, status
callbacks go through ``status_updates.receive_callback``, replies through
``inbound.receive`` (keywords, revocation review, the lead auto-reply). Every text ends
delivered, failed or "sent" (never due again), except the one held for tomorrow, so the
dispatcher has nothing to send when the demo starts. No provider is called: the provider's
answers are the ones it would have given, and its call logs say they were written here.
Everything is created once, with the organization: seeding again creates nothing.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.dispatch.results import Result, record
from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.domain.leads import LeadStage
from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import CallLog, InboundText, SendOutcome, StatusReport
from clinictext.services import (
    connector,
    consent,
    demo_content,
    inbound,
    leads,
    numbers,
    orgs,
    patients,
    sending,
    users,
)
from clinictext.services.clock import as_of, utcnow
from clinictext.services.status_updates import apply, receive_callback
from clinictext.store.models import Message, Organization, Patient, User

DEMO_ORG = "Demo Clinic"
SETUP_ORG = "Lakeside Dental"
# Fixed, documented keys so the README's curl lines work; only ever created by --demo.
DEMO_KEY = "ct_demo_clinic_key"
SETUP_KEY = "ct_demo_lakeside_key"
ACTOR = "demo"
# Fixed, documented sign-ins for the web app; only ever created by --demo.
DEMO_USERS = (
    ("frontdesk@demo.example", "demo-frontdesk", "staff"),
    ("admin@demo.example", "demo-admin", "admin"),
)
# Lakeside Dental's administrator, to see a clinic that cannot text yet from the inside.
SETUP_USERS = (("setup@lakeside.example", "demo-lakeside", "admin"),)
TIMEZONE = "America/Los_Angeles"
LEAD_NUMBER = "+15005550006"
CLINIC_NUMBER = "+14155550100"
UNKNOWN_SENDER_PHONE = "+14155550142"

# What the provider adapter says when the provider does not answer (providers/twilio.py).
UNREACHABLE = "The SMS provider is unreachable (no answer within 10 s)."
# Where the demo's provider call logs say they come from: no provider was called.
SEEDED = "demo history: written when the demo was seeded, no provider was called"
POLICY = RetryPolicy()

# Services that read the clock themselves (no ``now`` argument): while the demo's past is
# written they read the moment being written, so a lead's stage history, a patient's
# creation and their audit entries fall on the same day as the texts around them.

NEW_PATIENT_FORM = "Ticked the texting box on the new-patient form."
WEB_FORM = "Website new-patient request form: ticked 'Yes, you may text me about my request'."
WEB_FORM_MARKETING = WEB_FORM[:-1] + " and 'Send me news and offers'."


@dataclass(frozen=True)
class DemoSeed:
    org_id: int
    api_key: str
    setup_org_id: int
    setup_api_key: str
    patients: dict[str, int]


class _History:
    """Writes the demo clinic's past through the services, one moment after another.

    Moments must come in order (checked): message ids then grow with time, as they do in
    production, and the inbox's "newest first" is the newest by the clock too.
    """

    def __init__(self, session: Session, org_id: int, now: datetime) -> None:
        self.session = session
        self.org_id = org_id
        self.now = now
        self.zone = ZoneInfo(TIMEZONE)
        self.last = now - timedelta(days=365)
        self.staff = ACTOR  # the front desk's actor once its user exists
        self.ids: dict[str, int] = {}
        self.rng = random.Random(8)

    # -- time ---------------------------------------------------------------------------------

    def day(self, days_ago: int, hour: int, minute: int = 0) -> datetime:
        """``hour:minute`` in the clinic's time zone, ``days_ago`` days before today."""
        today = self.now.astimezone(self.zone).date()
        local = datetime.combine(today - timedelta(days=days_ago), time(hour, minute), self.zone)
        return local.astimezone(UTC)

    def ago(self, minutes: int) -> datetime:
        return self.now - timedelta(minutes=minutes)

    @contextmanager
    def at(self, when: datetime, *, ordered: bool = True) -> Iterator[None]:
        """Run the services as at ``when``; ``when`` must not be before what was written,
        unless not ``ordered`` (a patient record, which no list orders by time)."""
        if when > self.now or (ordered and when < self.last):
            raise ValueError(f"demo history out of order: {when} after {self.last}")
        if ordered:
            self.last = when
        with as_of(when):
            yield

    def _later(self, when: datetime) -> datetime:
        self.last = max(self.last, when)
        return when

    # -- people -------------------------------------------------------------------------------

    def patient(
        self, when: datetime, first: str, last: str, phone: str, *, ordered: bool = True
    ) -> int:
        with self.at(when, ordered=ordered):
            pid = patients.create_patient(
                self.session,
                self.org_id,
                first_name=first,
                last_name=last,
                phone=phone,
                actor=ACTOR,
            ).id
        self.ids[f"{first} {last}"] = pid
        return pid

    def opt_in(
        self, when: datetime, name: str, level: ConsentLevel, source: str, evidence: str
    ) -> None:
        with self.at(when):
            consent.record(
                self.session,
                self.org_id,
                self.ids[name],
                action=ConsentAction.OPT_IN,
                source=source,
                level=level,
                evidence=evidence,
                actor=ACTOR,
                now=when,
            )

    def opt_out(self, when: datetime, name: str, source: str, evidence: str) -> None:
        with self.at(when):
            consent.record(
                self.session,
                self.org_id,
                self.ids[name],
                action=ConsentAction.OPT_OUT,
                source=source,
                evidence=evidence,
                actor=ACTOR,
                now=when,
            )

    def lead(
        self, when: datetime, first: str, last: str, phone: str, *, marketing: bool = False
    ) -> None:
        """A new patient's request from the website form: patient, consent, open lead."""
        self.patient(when, first, last, phone)
        self.request(when, f"{first} {last}", marketing=marketing)

    def request(self, when: datetime, name: str, *, marketing: bool = False) -> None:
        """The website form's consent and an open lead, for a patient on record."""
        if marketing:
            self.opt_in(when, name, ConsentLevel.MARKETING, "web_form", WEB_FORM_MARKETING)
        else:
            self.opt_in(when, name, ConsentLevel.INFORMATIONAL, "web_form", WEB_FORM)
        self.stage(when, name, LeadStage.OPEN, actor=ACTOR)

    def stage(
        self,
        when: datetime,
        name: str,
        stage: LeadStage,
        *,
        substatus: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> None:
        with self.at(when):
            leads.set_stage(
                self.session,
                self.org_id,
                self.ids[name],
                stage,
                substatus=substatus,
                reason=reason,
                actor=actor or self.staff,
            )

    def read(self, when: datetime, name: str) -> None:
        """Staff opened the conversation."""
        with self.at(when):
            patients.mark_read(self.session, self.org_id, self.ids[name])

    # -- texts --------------------------------------------------------------------------------

    def text(
        self,
        when: datetime,
        name: str,
        channel: Channel,
        body: str,
        *,
        kind: SendKind = SendKind.MANUAL,
        error_code: str | None = None,
        confirmed: bool = True,
        outage: timedelta | None = None,
    ) -> Message:
        """Queue a text as staff (or a rule) did at ``when``, then what became of it.

        ``error_code``: the carrier reported it undelivered with that code; ``confirmed``
        False: accepted, but no delivery receipt ever came; ``outage``: the provider did
        not answer the first attempt, and the text went out once it was back.
        """
        with self.at(when):
            message = sending.send(
                self.session,
                self.org_id,
                self.ids[name],
                channel,
                body,
                actor=self.staff if kind is SendKind.MANUAL else sending.SYSTEM_ACTOR,
                send_kind=kind,
                now=when,
            )
        if message.status != Status.QUEUED.value:
            return message  # held for later: the dispatcher sends it when it is due
        handed = when + timedelta(seconds=1)
        if outage is not None:
            self._unreachable(message, handed, outage)
            handed += outage
        self._deliver(message, handed, error_code=error_code, confirmed=confirmed)
        return message

    def reply(self, when: datetime, name: str, to: str, body: str) -> Message:
        """The patient (or, for an unknown name, that number) texts ``to`` at ``when``."""
        phone = UNKNOWN_SENDER_PHONE if name not in self.ids else None
        if phone is None:
            patient = self.session.get(Patient, self.ids[name])
            assert patient is not None and patient.phone is not None
            phone = patient.phone
        with self.at(when):
            received = inbound.receive(
                self.session,
                InboundText(_sid(), from_=phone, to=to, body=body, segments=1),
                when,
            )
        assert received.message is not None
        for answer in received.replies:  # keyword confirmations and auto-replies
            self._deliver(answer, when + timedelta(seconds=2))
        if name not in self.ids:
            self.ids[name] = received.message.patient_id
        return received.message

    def _deliver(
        self,
        message: Message,
        handed: datetime,
        *,
        error_code: str | None = None,
        confirmed: bool = True,
    ) -> None:
        """The dispatcher hands it over and the provider accepts it; then its callback."""
        sid = _sid()
        apply(self.session, message, Status.SENDING, self._later(handed))
        answered = self._later(handed + timedelta(milliseconds=400))
        outcome = SendOutcome(True, sid, Status.SENT, log=_send_log(message, sid))
        record(self.session, [Result(message.id, outcome)], answered, POLICY, self.rng)
        if error_code is not None:
            report = StatusReport(sid, Status.UNDELIVERED, error_code, "undelivered")
        elif confirmed:
            report = StatusReport(sid, Status.DELIVERED, None, "delivered")
        else:
            return  # the carrier never confirmed: it stays "sent"
        at = self._later(handed + timedelta(seconds=6))
        receive_callback(self.session, report, message.id, at, POLICY, self.rng)

    def _unreachable(self, message: Message, handed: datetime, outage: timedelta) -> None:
        """The provider does not answer: the text waits, the dispatcher probes until it does."""
        apply(self.session, message, Status.SENDING, self._later(handed))
        failed = SendOutcome(False, error_message=UNREACHABLE, log=_unreachable_log("send"))
        gave_up = self._later(handed + timedelta(seconds=10))
        record(self.session, [Result(message.id, failed)], gave_up, POLICY, self.rng)
        probe = gave_up + timedelta(minutes=1)
        while probe < handed + outage - timedelta(seconds=30):
            at = self._later(probe)
            connector.log_attempt(
                self.session, self.org_id, None, _unreachable_log("ping"), "unreachable", at
            )
            connector.note_error(self.session, self.org_id, UNREACHABLE, at)
            probe += timedelta(minutes=3)
        back = self._later(handed + outage - timedelta(seconds=2))
        connector.log_attempt(self.session, self.org_id, None, _ping_log(), "ok", back)


def _sid() -> str:
    return "SM" + secrets.token_hex(16)


def _send_log(message: Message, sid: str) -> CallLog:
    request = {
        "method": "POST",
        "url": SEEDED,
        "form": {
            "To": message.to_phone,
            "From": message.from_phone,
            "Body": f"[{len(message.body)} characters]",
        },
    }
    return CallLog("send", request, {"sid": sid, "status": "queued"}, 201, 180.0)


def _unreachable_log(operation: str) -> CallLog:
    request = {"method": "POST" if operation == "send" else "GET", "url": SEEDED}
    return CallLog(operation, request, None, None, 10000.0, "unreachable: no answer within 10 s")


def _ping_log() -> CallLog:
    return CallLog("ping", {"method": "GET", "url": SEEDED}, {"messages": []}, 200, 150.0)


def _org(session: Session, name: str, key: str) -> tuple[Organization, bool]:
    existing = session.scalar(select(Organization).where(Organization.name == name))
    if existing is not None:
        return existing, False
    org = orgs.create_org(session, name, timezone=TIMEZONE, actor=ACTOR)
    orgs.create_api_key(session, org.id, name="demo", actor=ACTOR, key=key)
    return org, True


def _users(
    session: Session, org_id: int, accounts: tuple[tuple[str, str, str], ...] = DEMO_USERS
) -> None:
    for email, password, role in accounts:
        if session.scalar(select(User.id).where(User.email == email)) is None:
            users.create_user(session, org_id, email, role, password, ACTOR)


def _demo_clinic(session: Session, now: datetime) -> _History | None:
    """Create the Demo Clinic with its numbers, users and first six patients; None when it
    exists already. Its history follows once Lakeside Dental exists (``_write_history``)."""
    h = _History(session, 0, now)
    with h.at(h.day(90, 9)):
        org, new = _org(session, DEMO_ORG, DEMO_KEY)
        if not new:
            return None
        h.org_id = org.id
        orgs.update_org(
            session,
            org.id,
            {
                "sms_enabled": True,
                "messaging_registration": "approved",
                "clinic_phone": CLINIC_NUMBER,
                "manual_spend_limit_cents": 5000,
            },
            ACTOR,
        )
        numbers.add_number(session, org.id, LEAD_NUMBER, Channel.LEAD, "long_code", 1, ACTOR)
        numbers.add_number(session, org.id, CLINIC_NUMBER, Channel.CLINIC, "long_code", 1, ACTOR)
        _users(session, org.id)
    frontdesk = session.scalar(select(User.id).where(User.email == DEMO_USERS[0][0]))
    h.staff = f"user:{frontdesk}"
    # The first six patients get ids 1 to 6 and Lakeside's Sam 7 in a new database, as the
    # README's examples expect. Alice and Erin are on record since their website request.
    for when, first, last, phone in (
        (h.day(3, 8, 15), "Alice", "Ready", "(415) 555-0101"),
        (h.day(30, 9), "Ben", "Landline", "+44 20 7183 8750"),
        (h.day(30, 9), "Carla", "Nobody", "(415) 555-0103"),
        (h.day(30, 9), "Dan", "Stopped", "(415) 555-0104"),
        (h.day(5, 9), "Erin", "Booked", "(415) 555-0105"),
        (h.day(30, 9), "Gina", "Informed", "(415) 555-0107"),
    ):
        h.patient(when, first, last, phone, ordered=False)
    return h


def _write_history(h: _History) -> None:
    """The Demo Clinic's last ten days, in order."""
    lead, clinic = Channel.LEAD, Channel.CLINIC
    informational = ConsentLevel.INFORMATIONAL

    # Patients of the clinic for a while.
    h.patient(h.day(60, 9), "Nora", "Quinn", "(415) 555-0113")
    h.opt_in(h.day(60, 9), "Nora Quinn", informational, "paper_form", "Signed the texting consent.")
    h.patient(h.day(30, 9), "Fay", "Unsubscribed", "(415) 555-0106")
    for name in ("Ben Landline", "Dan Stopped", "Gina Informed"):
        h.opt_in(h.day(30, 9), name, informational, "web_form", NEW_PATIENT_FORM)
    h.opt_in(
        h.day(30, 9),
        "Fay Unsubscribed",
        ConsentLevel.MARKETING,
        "web_form",
        "Ticked the texting box and 'news and offers' on the new-patient form.",
    )

    # Eight days ago: a campaign; Fay unsubscribes from it.
    h.text(
        h.day(8, 11),
        "Fay Unsubscribed",
        clinic,
        "Demo Clinic: teeth whitening is 20% off this month. Call (415) 555-0100 to book. "
        "Reply STOP to opt out.",
        kind=SendKind.CAMPAIGN,
    )
    h.opt_out(
        h.day(8, 15),
        "Fay Unsubscribed",
        "campaign",
        "Unsubscribed from the whitening campaign with the link in the clinic's newsletter.",
    )

    # Six days ago: the first of Gina's automated texts this week.
    h.text(
        h.day(6, 10),
        "Gina Informed",
        clinic,
        "Hi Gina, it's time for your 6-month checkup at Demo Clinic. "
        "Call us at (415) 555-0100 to book.",
        kind=SendKind.AUTOMATED,
    )

    # Five days ago: Erin asks for a visit and books it; Dan replies STOP.
    h.request(h.day(5, 9), "Erin Booked")
    h.text(
        h.day(5, 9, 20),
        "Erin Booked",
        lead,
        "Hi Erin, this is Demo Clinic. Thanks for your request! "
        "Would you like to book a new-patient exam?",
    )
    h.stage(h.day(5, 9, 21), "Erin Booked", LeadStage.IN_PROGRESS, substatus="1st contact")
    h.text(
        h.day(5, 11),
        "Dan Stopped",
        clinic,
        "Hi Dan, this is Demo Clinic: your night guard is ready. "
        "Call (415) 555-0100 to pick it up.",
    )
    h.reply(h.day(5, 11, 7), "Dan Stopped", CLINIC_NUMBER, "STOP")
    h.read(h.day(5, 11, 30), "Dan Stopped")
    h.reply(h.day(5, 12, 5), "Erin Booked", LEAD_NUMBER, "Yes please! Tuesday after 3 works best.")
    h.read(h.day(5, 12, 30), "Erin Booked")
    h.text(
        h.day(5, 12, 31),
        "Erin Booked",
        lead,
        "You're booked for Tuesday at 3:30 pm with Dr. Lee. See you then!",
    )
    h.stage(h.day(5, 12, 32), "Erin Booked", LeadStage.CLOSED_WON, substatus="scheduled")

    # Four days ago: Rachel chooses another practice.
    h.text(
        h.day(4, 10),
        "Gina Informed",
        clinic,
        "Demo Clinic: your checkup is booked. We'll text you a reminder before your visit.",
        kind=SendKind.AUTOMATED,
    )
    h.lead(h.day(4, 10, 5), "Rachel", "Kim", "(415) 555-0112")
    h.text(
        h.day(4, 10, 20),
        "Rachel Kim",
        lead,
        "Hi Rachel, this is Demo Clinic. Thanks for your request! When would you like to come in?",
    )
    h.stage(h.day(4, 10, 21), "Rachel Kim", LeadStage.IN_PROGRESS, substatus="1st contact")
    h.reply(
        h.day(4, 13, 15), "Rachel Kim", LEAD_NUMBER, "Thanks, but I found a dentist closer to home."
    )
    h.read(h.day(4, 13, 30), "Rachel Kim")
    h.text(
        h.day(4, 13, 31),
        "Rachel Kim",
        lead,
        "Thanks for letting us know, Rachel. Take care!",
    )
    h.stage(
        h.day(4, 13, 33),
        "Rachel Kim",
        LeadStage.CLOSED_LOST,
        reason="Chose a practice closer to home",
    )

    # Three days ago: Alice's first text has a shortened link and is filtered as spam.
    h.request(h.day(3, 8, 15), "Alice Ready", marketing=True)
    h.text(
        h.day(3, 9, 2),
        "Alice Ready",
        lead,
        "Hi Alice, thanks for your request! Please fill in our new-patient form: "
        "https://bit.ly/democlinic-new",
        error_code="30007",
    )
    h.text(
        h.day(3, 9, 30),
        "Alice Ready",
        lead,
        "Hi Alice, this is Demo Clinic. Thanks for your request! "
        "What day and time suit you for a first visit?",
    )

    # Two days ago: Luis asks about insurance; the answer waits out a provider outage.
    h.text(
        h.day(2, 10),
        "Gina Informed",
        clinic,
        "Demo Clinic: please bring your insurance card and a photo ID to your checkup.",
        kind=SendKind.AUTOMATED,
    )
    h.lead(h.day(2, 14, 10), "Luis", "Ortega", "(415) 555-0109")
    h.text(
        h.day(2, 14, 30),
        "Luis Ortega",
        lead,
        "Hi Luis, this is Demo Clinic. Thanks for your request! How can we help?",
    )
    h.stage(h.day(2, 14, 31), "Luis Ortega", LeadStage.IN_PROGRESS, substatus="1st contact")
    h.reply(h.day(2, 15, 2), "Luis Ortega", LEAD_NUMBER, "Hi! Do you take Delta Dental PPO?")
    h.read(h.day(2, 15, 10), "Luis Ortega")
    h.text(
        h.day(2, 15, 12),
        "Luis Ortega",
        lead,
        "Yes, we're in network with Delta Dental PPO. Would a morning or afternoon visit suit you?",
        outage=timedelta(minutes=19),
    )

    # Yesterday: Tom's number is a landline; Gina's fourth automated text waits for the
    # frequency cap; Erin texts the lead number after booking and gets the auto-reply.
    h.lead(h.day(1, 9, 45), "Tom", "Becker", "(415) 555-0110")
    h.text(
        h.day(1, 10, 5),
        "Tom Becker",
        lead,
        "Hi Tom, this is Demo Clinic. Thanks for your request! When would you like to come in?",
        error_code="30006",
    )
    h.text(
        h.day(1, 10, 10),
        "Gina Informed",
        clinic,
        "Reminder from Demo Clinic: your checkup is coming up. "
        "Call (415) 555-0100 if you need to reschedule.",
        kind=SendKind.AUTOMATED,
    )
    h.text(
        h.day(1, 10, 30),
        "Nora Quinn",
        clinic,
        "Hi Nora, it's been a while since your last cleaning at Demo Clinic. "
        "Reply to this text or call (415) 555-0100 to book.",
    )
    h.lead(h.day(1, 11), "Maya", "Patel", "(415) 555-0108", marketing=True)
    h.text(
        h.day(1, 11, 20),
        "Maya Patel",
        lead,
        "Hi Maya, this is Demo Clinic. Thanks for your request! "
        "Is there a day of the week that works best for you?",
    )
    h.reply(h.day(1, 16, 40), "Erin Booked", LEAD_NUMBER, "Can I bring my daughter to my visit?")
    h.read(h.day(1, 16, 50), "Erin Booked")
    h.text(
        h.day(1, 16, 55),
        "Erin Booked",
        clinic,
        "Hi Erin, it's Demo Clinic. Yes, we can see your daughter right after you on Tuesday.",
        confirmed=False,
    )

    # The last hour: replies nobody has read yet.
    h.reply(h.ago(70), "Luis Ortega", LEAD_NUMBER, "Mornings are best. Is next Tuesday possible?")
    h.reply(h.ago(50), "Nora Quinn", CLINIC_NUMBER, "I moved to Portland, please stop texting me.")
    h.reply(h.ago(25), "Alice Ready", LEAD_NUMBER, "Thursday afternoon would be perfect, thanks!")
    h.read(h.ago(20), "Alice Ready")
    h.reply(
        h.ago(15),
        "Unknown sender",
        CLINIC_NUMBER,
        "Hi, are you taking new patients? I just moved nearby and have Aetna.",
    )


def _lakeside(session: Session) -> int:
    setup, new_setup = _org(session, SETUP_ORG, SETUP_KEY)
    _users(session, setup.id, SETUP_USERS)
    if new_setup:
        orgs.update_org(
            session,
            setup.id,
            {
                "sms_enabled": True,
                "messaging_registration": "pending",
                "clinic_phone": "+15035550100",
                "manual_spend_limit_cents": 0,
            },
            ACTOR,
        )
        numbers.add_number(session, setup.id, "+15035550100", Channel.CLINIC, "landline", 1, ACTOR)
        sam = patients.create_patient(
            session,
            setup.id,
            first_name="Sam",
            last_name="Setup",
            phone="(503) 555-0111",
            actor=ACTOR,
        ).id
        consent.record(
            session,
            setup.id,
            sam,
            action=ConsentAction.OPT_IN,
            source="paper_form",
            level=ConsentLevel.MARKETING,
            evidence="Demo: signed the paper form.",
            actor=ACTOR,
        )
    return setup.id


def seed(session: Session, now: datetime | None = None) -> DemoSeed:
    """Create the demo organizations once; later calls return what exists."""
    history = _demo_clinic(session, now or utcnow())
    setup_id = _lakeside(session)
    if history is not None:
        _write_history(history)
        demo_content.write(history, CLINIC_NUMBER)
    org = session.scalar(select(Organization).where(Organization.name == DEMO_ORG))
    assert org is not None
    _users(session, org.id)
    session.flush()
    ids = {
        f"{p.first_name} {p.last_name}": p.id
        for p in session.scalars(
            select(Patient).where(Patient.organization_id.in_([org.id, setup_id]))
        )
    }
    return DemoSeed(org.id, DEMO_KEY, setup_id, SETUP_KEY, ids)
