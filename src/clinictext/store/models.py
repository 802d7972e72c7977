"""The tables. Every row belongs to exactly one organization and carries its id."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from clinictext.domain.name_search import NAME_KEY_CHARS, name_keys
from clinictext.store.types import BigId, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Statuses the dispatcher picks up: the outbox index covers only these rows.
OUTBOX_WHERE = text("status IN ('queued', 'scheduled')")
# The automated texts, which the frequency cap counts (its index covers only these rows).
AUTOMATED_WHERE = text("kind = 'automated' AND direction = 'outbound'")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The model's table: statements of its columns return plain rows and skip the ORM's
    execution path (measured: a third of a small read's cost on PostgreSQL)."""
    return cast(Table, model.__table__)


def _org_fk() -> Mapped[int]:
    return mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sms_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    messaging_registration: Mapped[str] = mapped_column(String(20), default="none")
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    country: Mapped[str] = mapped_column(String(2), default="US")
    clinic_phone: Mapped[str | None] = mapped_column(String(20))
    send_window_start: Mapped[str] = mapped_column(String(5), default="08:00")
    send_window_end: Mapped[str] = mapped_column(String(5), default="21:00")
    # Money in integer units: cents for the limit, millionths of a dollar for prices.
    manual_spend_limit_cents: Mapped[int | None] = mapped_column(Integer)
    segment_price_micros: Mapped[int] = mapped_column(Integer, default=7900)
    url_policy: Mapped[str] = mapped_column(String(10), default="warn")
    # Keyword and auto-reply texts; None means the built-in default wording.
    reply_opt_out: Mapped[str | None] = mapped_column(Text)
    reply_opt_in: Mapped[str | None] = mapped_column(Text)
    reply_help: Mapped[str | None] = mapped_column(Text)
    reply_lead_closed: Mapped[str | None] = mapped_column(Text)
    # Frequency cap of automated texts per patient; over it they are deferred, not dropped.
    automated_daily_cap: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    automated_weekly_cap: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # Lead automation: booking an appointment closes an active lead as won ("scheduled");
    # with a number of days, a lead with no reply for that long is closed as lost.
    lead_close_on_booking: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true()
    )
    lead_inactivity_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (Index("ix_locations_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SenderNumber(Base):
    __tablename__ = "sender_numbers"
    __table_args__ = (
        # A number routes inbound texts to one organization, so it is unique everywhere.
        UniqueConstraint("number", name="uq_sender_numbers_number"),
        Index("ix_sender_numbers_org_purpose", "organization_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    location_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("locations.id", ondelete="SET NULL")
    )
    number: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(12))
    verification: Mapped[str] = mapped_column(String(10))
    mps: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Pacing shared by every worker: the earliest time this number may send its next segment.
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the provider was last asked about a pending verification.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Staff find a patient by the start of a first or last name (GET /patients?q=): the name is
# stored folded in two orders (``domain.name_search``). The keys compare bytewise (SQLite's
# default; collation "C" on PostgreSQL), so the keys in the range [prefix, prefix with its
# last character incremented) are exactly those starting with it.
NameKey = String(NAME_KEY_CHARS).with_variant(String(NAME_KEY_CHARS, collation="C"), "postgresql")


def _inserted_name_keys(context: Any) -> tuple[str, str]:
    row = context.get_current_parameters()
    return name_keys(row.get("first_name"), row.get("last_name"))


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        # The patient list (GET /patients), by id.
        Index("ix_patients_org_id", "organization_id", "id"),
        # GET /patients?phone=, and the inbound text's "who is this number".
        Index("ix_patients_org_phone", "organization_id", "phone"),
        # GET /patients?q=: the start of a first name (and of the last name after it).
        Index("ix_patients_org_name_key", "organization_id", "name_key"),
        # GET /patients?q=: the start of a last name (and of the first name after it).
        Index("ix_patients_org_surname_key", "organization_id", "surname_key"),
        # GET /patients?flag=revocation_review: the few patients waiting for review.
        Index(
            "ix_patients_org_review",
            "organization_id",
            "id",
            sqlite_where=text("review_flag IS NOT NULL"),
            postgresql_where=text("review_flag IS NOT NULL"),
        ),
        Index(
            "uq_patients_org_external_id",
            "organization_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    location_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("locations.id", ondelete="SET NULL")
    )
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Kept by ``_keep_name_keys`` on every change of a name through the ORM, and filled
    # in by their defaults for rows inserted without it (bulk loads).
    name_key: Mapped[str | None] = mapped_column(
        NameKey, default=lambda ctx: _inserted_name_keys(ctx)[0]
    )
    surname_key: Mapped[str | None] = mapped_column(
        NameKey, default=lambda ctx: _inserted_name_keys(ctx)[1]
    )
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_status: Mapped[str] = mapped_column(String(10))
    phone_reason: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(12), default="en")
    external_id: Mapped[str | None] = mapped_column(String(64))
    unknown_sender: Mapped[bool] = mapped_column(Boolean, default=False)
    # The conversation: texts the patient sent that staff have not read yet.
    unread_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A reply that may revoke consent in plain words, waiting for staff to confirm or dismiss.
    review_flag: Mapped[str | None] = mapped_column(String(20))
    review_message_id: Mapped[int | None] = mapped_column(BigInteger)
    review_phrase: Mapped[str | None] = mapped_column(String(200))
    # The staff user who looks after this conversation (the inbox's "mine").
    assigned_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @validates("first_name", "last_name")
    def _keep_name_keys(self, field: str, value: str) -> str:
        first = value if field == "first_name" else self.first_name
        last = value if field == "last_name" else self.last_name
        self.name_key, self.surname_key = name_keys(first, last)
        return value


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("patient_id", name="uq_leads_patient_id"),
        # The Lead Dashboard reads one organization's leads by stage.
        Index("ix_leads_org_stage", "organization_id", "stage"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    patient_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("patients.id", ondelete="CASCADE")
    )
    stage: Mapped[str] = mapped_column(String(12))
    substatus: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeadStageChange(Base):
    __tablename__ = "lead_stage_history"
    __table_args__ = (Index("ix_lead_stage_history_patient", "organization_id", "patient_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    patient_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("patients.id", ondelete="CASCADE")
    )
    from_stage: Mapped[str | None] = mapped_column(String(12))
    stage: Mapped[str] = mapped_column(String(12))
    substatus: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentEventRow(Base):
    """The append-only consent ledger, keyed by organization and phone number."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_org_phone", "organization_id", "phone", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    patient_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("patients.id", ondelete="SET NULL")
    )
    phone: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(8))
    level: Mapped[str | None] = mapped_column(String(14))
    source: Mapped[str] = mapped_column(String(20))
    evidence: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # A patient's messages newest first (GET /patients/{id}/messages, GET
        # /messages?patient_id=, the conversation page) and the inbox's newest message.
        Index("ix_messages_org_patient", "organization_id", "patient_id", "id"),
        Index("ix_messages_org_created", "organization_id", "created_at"),
        # GET /messages, newest first, and with ?direction= (half of them either way).
        Index("ix_messages_org_id", "organization_id", "id"),
        # GET /messages?status=, newest first: a rare status is not a walk through history.
        Index("ix_messages_org_status", "organization_id", "status", "id"),
        # The dispatcher's outbox: only due rows, ordered by lane then due time.
        Index(
            "ix_messages_outbox",
            "lane",
            "due_at",
            "id",
            sqlite_where=OUTBOX_WHERE,
            postgresql_where=OUTBOX_WHERE,
        ),
        # Messages handed to the provider by a worker that may have died.
        Index(
            "ix_messages_in_flight",
            "lease_until",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
        Index(
            "uq_messages_provider_id",
            "provider_id",
            unique=True,
            sqlite_where=text("provider_id IS NOT NULL"),
            postgresql_where=text("provider_id IS NOT NULL"),
        ),
        # One text per appointment and rule, ever: the database refuses a second.
        Index(
            "uq_messages_appointment_rule",
            "appointment_id",
            "rule_id",
            unique=True,
            sqlite_where=text("appointment_id IS NOT NULL AND rule_id IS NOT NULL"),
            postgresql_where=text("appointment_id IS NOT NULL AND rule_id IS NOT NULL"),
        ),
        # A campaign's progress counts and its cancel read its texts by status.
        Index(
            "ix_messages_campaign",
            "campaign_id",
            "status",
            sqlite_where=text("campaign_id IS NOT NULL"),
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
        # The frequency cap reads a patient's automated texts of the last week only.
        Index(
            "ix_messages_automated_patient",
            "organization_id",
            "patient_id",
            "due_at",
            sqlite_where=AUTOMATED_WHERE,
            postgresql_where=AUTOMATED_WHERE,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    patient_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("patients.id", ondelete="CASCADE")
    )
    # What produced an automated or campaign text (None for staff texts and replies). No
    # foreign keys: appointments, rules and campaigns are never deleted, and adding columns
    # without them leaves a large messages table as it is on upgrade (no copy, no scan).
    appointment_id: Mapped[int | None] = mapped_column(BigInteger)
    rule_id: Mapped[int | None] = mapped_column(BigInteger)
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    sender_number_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sender_numbers.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(14))
    channel: Mapped[str] = mapped_column(String(8))
    # 0: conversations (staff replies, one-to-one); 1: bulk (automated, campaigns).
    lane: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(6))
    segments: Mapped[int] = mapped_column(Integer)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    to_phone: Mapped[str] = mapped_column(String(20))
    from_phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A transient failure is retried until then; after it the text fails.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # While `sending`: which worker holds it and until when (then it is reconciled).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the worker passed the last consent check and handed the text to the provider.
    # ``sending`` without it: claimed, waiting for its pacing slot, never sent.
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ManualSpend(Base):
    """What staff-typed texts cost, per organization and quarter hour (UTC) of creation.

    Kept by database triggers on ``messages`` (migration 0007), in the transaction of the
    insert or update that changes a text's cost, so it cannot drift from the messages. A
    quarter hour, not a month: every time zone's midnight falls on one, so any local month
    is a range of rows, and a change of time zone needs no recount.
    """

    __tablename__ = "manual_spend"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # Unix time // 900 of the texts' created_at.
    quarter_hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    micros: Mapped[int] = mapped_column(BigInteger)


class MessageEvent(Base):
    """The status history of a message: one row each time its status changed."""

    __tablename__ = "message_events"
    __table_args__ = (
        Index("ix_message_events_message", "message_id", "id"),
        # The live-update stream's "latest status change in this organization".
        Index("ix_message_events_org", "organization_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(12))
    error_code: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    @classmethod
    def of(
        cls,
        message: Message,
        status: str,
        at: datetime,
        *,
        detail: str | None = None,
        error_code: str | None = None,
    ) -> MessageEvent:
        """The history entry for ``message`` reaching ``status`` at ``at``."""
        return cls(
            organization_id=message.organization_id,
            message_id=message.id,
            status=status,
            error_code=error_code,
            detail=detail,
            at=at,
        )


class Commlog(Base):
    __tablename__ = "commlogs"
    __table_args__ = (
        Index("ix_commlogs_org_patient", "organization_id", "patient_id", "id"),
        UniqueConstraint("message_id", name="uq_commlogs_message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    patient_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("patients.id", ondelete="CASCADE")
    )
    message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="CASCADE")
    )
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(14))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(100))


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A person who signs in to the staff web app (API keys are for programs)."""

    __tablename__ = "users"
    # An email signs in to one organization: sign-in asks for nothing else.
    __table_args__ = (UniqueConstraint("email", name="uq_users_email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its hash is stored."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_web_sessions_token_hash"),
        Index("ix_web_sessions_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed sign-ins per email (known or not), for the growing delay after five."""

    __tablename__ = "login_throttle"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderAttempt(Base):
    """The per-attempt provider log: request, answer, time taken; no secrets, no bodies."""

    __tablename__ = "provider_attempts"
    __table_args__ = (
        Index("ix_provider_attempts_org", "organization_id", "id"),
        Index("ix_provider_attempts_message", "message_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    message_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="CASCADE")
    )
    operation: Mapped[str] = mapped_column(String(20))
    # ok: accepted; refused: the provider answered but refused; unreachable: no usable answer.
    outcome: Mapped[str] = mapped_column(String(12))
    http_status: Mapped[int | None] = mapped_column(Integer)
    elapsed_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConnectorError(Base):
    """An error staff should see on the connector until they acknowledge it."""

    __tablename__ = "connector_errors"
    __table_args__ = (Index("ix_connector_errors_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    message: Mapped[str] = mapped_column(Text)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))


class ParkedCallback(Base):
    """A status callback that matched no message yet; matched again later, never dropped."""

    __tablename__ = "parked_callbacks"
    __table_args__ = (Index("ix_parked_callbacks_provider_id", "provider_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    error_code: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SupersededSid(Base):
    """A provider message id given up for a retry: its late callbacks change nothing."""

    __tablename__ = "superseded_sids"

    provider_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)


# Content and automation: templates, appointments, their rules and planned texts, campaigns.

# Appointments whose confirm code is taken: a code is unique among these.
UPCOMING_WHERE = text("status IN ('scheduled', 'confirmed')")


class Template(Base):
    """A text with bracket fields; ``variants`` holds the same text in other languages."""

    __tablename__ = "templates"
    __table_args__ = (
        Index(
            "uq_templates_org_name",
            "organization_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(14))
    language: Mapped[str] = mapped_column(String(12), default="en")
    body: Mapped[str] = mapped_column(Text)
    # {"es": "...", ...}: the body for patients whose language is the key.
    variants: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Deleted templates stay for the rules and campaigns that used them.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_org_starts", "organization_id", "starts_at"),
        Index("ix_appointments_org_patient", "organization_id", "patient_id", "starts_at"),
        Index(
            "uq_appointments_org_external_id",
            "organization_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index(
            "uq_appointments_org_confirm_code",
            "organization_id",
            "confirm_code",
            unique=True,
            sqlite_where=UPCOMING_WHERE,
            postgresql_where=UPCOMING_WHERE,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    patient_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("patients.id", ondelete="CASCADE")
    )
    location_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("locations.id", ondelete="SET NULL")
    )
    provider_name: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10))
    confirm_code: Mapped[str] = mapped_column(String(8))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How it was confirmed: "reply" (the patient texted C or the code), "staff", "api".
    confirmed_via: Mapped[str | None] = mapped_column(String(10))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Rule(Base):
    """Send a reminder or confirmation template a set time before each appointment."""

    __tablename__ = "rules"
    __table_args__ = (Index("ix_rules_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(14))
    minutes_before: Mapped[int] = mapped_column(Integer)
    do_not_send_within_minutes: Mapped[int] = mapped_column(Integer, default=0)
    template_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("templates.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AppointmentText(Base):
    """The plan of one rule for one appointment: when its text is due, and what became of it.

    ``state``: ``planned`` (not yet due), ``queued`` (its message was written: see
    ``message_id``), ``skipped`` (could not be sent: ``reason`` says why) or ``canceled``.
    """

    __tablename__ = "appointment_texts"
    __table_args__ = (
        UniqueConstraint("appointment_id", "rule_id", name="uq_appointment_texts_appointment_rule"),
        # The automation round's question: which planned texts are due now?
        Index(
            "ix_appointment_texts_due",
            "due_at",
            sqlite_where=text("state = 'planned'"),
            postgresql_where=text("state = 'planned'"),
        ),
        Index("ix_appointment_texts_rule", "rule_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    appointment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("appointments.id", ondelete="CASCADE")
    )
    rule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rules.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(10))
    message_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Campaign(Base):
    """A template sent to an audience. ``status`` is what staff last made it (``draft``,
    ``scheduled``, ``running``, ``paused``, ``canceled``); ``done`` is derived from its texts."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("templates.id"))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10))
    # The preview as last computed: {"recipients", "skipped", "skip_reasons": {...}}.
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignRecipient(Base):
    """One patient of a started campaign: the text written for them, or why they were skipped.

    ``skip_checks`` lists every failing check id; ``skip_reason`` is the first of them.
    """

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "patient_id", name="uq_campaign_recipients_campaign_patient"
        ),
        Index("ix_campaign_recipients_campaign", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    patient_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("patients.id", ondelete="CASCADE")
    )
    skip_reason: Mapped[str | None] = mapped_column(String(20))
    skip_checks: Mapped[list[str] | None] = mapped_column(JSON)
    message_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="SET NULL")
    )
    # When its text was due before a pause (the pause holds it; resume puts it back).
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# SQLite reuses the highest id after a delete unless the table says AUTOINCREMENT; an id
# must never name two records (audit events refer to them), so every surrogate id says so.
for _table in Base.metadata.tables.values():
    if [c.name for c in _table.primary_key.columns] == ["id"]:
        _table.dialect_options["sqlite"]["autoincrement"] = True
