"""Request and response bodies of the REST API (the contract in API.md)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from clinictext.domain.send_window import is_clock_time

MAX_ID = 2**63 - 1
# A request naming more unknown fields than this is refused before anything else is read,
# and an answer lists at most this many problems: a body of 100,000 made-up keys must cost
# neither a long validation nor a long answer.
MAX_FIELD_PROBLEMS = 10


def _no_control(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_control)

# A lone UTF-16 surrogate: JSON allows "\ud83d" (half of an emoji) and Python decodes it, but
# no database, UTF-8 encoder or carrier can store or send it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
BROKEN_TEXT = (
    "contains a broken character (half of an emoji or another symbol, often left by copying "
    "and pasting); retype that part of the text and send it again"
)


def has_broken_text(value: object) -> bool:
    """Whether a string anywhere in ``value`` (a JSON value) holds a lone surrogate."""
    pending = [value]  # a stack, not recursion: JSON can nest deeper than Python recurses
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii() and _LONE_SURROGATE.search(item) is not None:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def _clock_time(value: str) -> str:
    if not is_clock_time(value):
        raise PydanticCustomError(
            "invalid_time", "must be a 24-hour time as HH:MM with the digits 0-9, e.g. 08:00"
        )
    return value


Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, Field(strict=True, max_length=100), NoNul]
OrgName = Annotated[str, Field(strict=True, min_length=1, max_length=200), NoNul]
Phone = Annotated[str, Field(strict=True, max_length=40), NoNul]
TimeZone = Annotated[str, Field(strict=True, min_length=1, max_length=64), NoNul]
ClockTime = Annotated[str, Field(strict=True), AfterValidator(_clock_time)]
ExternalId = Annotated[str, Field(strict=True, min_length=1, max_length=64), NoNul]
Language = Annotated[str, Field(strict=True, min_length=2, max_length=12), NoNul]
Source = Annotated[str, Field(strict=True, min_length=1, max_length=20), NoNul]
Evidence = Annotated[str, Field(strict=True, max_length=2000), NoNul]
Substatus = Annotated[str, Field(strict=True, min_length=1, max_length=100), NoNul]
Reason = Annotated[str, Field(strict=True, min_length=1, max_length=200), NoNul]
ChannelName = Literal["lead", "clinic"]
SendKindName = Literal["manual", "automated", "campaign"]


class Request(BaseModel):
    """A request body: unknown fields and broken text are refused before anything else."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_many_unknown_fields(cls, data: Any) -> Any:
        # A few unknown fields are reported one by one with the other problems; a flood of
        # them is refused here, before each field is checked and reported.
        fields = cls.model_fields
        if isinstance(data, dict) and len(data) > len(fields) + MAX_FIELD_PROBLEMS:
            known = set(fields) | {f.alias for f in fields.values() if f.alias}
            unknown = [k for k in data if k not in known]
            if len(unknown) > MAX_FIELD_PROBLEMS:
                named = [str(k) for k in unknown[:MAX_FIELD_PROBLEMS]]
                raise PydanticCustomError(
                    "unknown_fields",
                    "{count} fields are not fields of this request; remove them",
                    {"count": len(unknown), "fields": named},
                )
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_broken_text(cls, value: Any) -> Any:
        if has_broken_text(value):
            raise PydanticCustomError("invalid_text", BROKEN_TEXT)
        return value


# --- organization -----------------------------------------------------------------------


class SendWindow(Request):
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _starts_before_it_ends(self) -> SendWindow:
        if self.start >= self.end:  # "HH:MM" strings in ASCII digits sort as times do
            raise PydanticCustomError(
                "invalid_send_window",
                "must start before it ends on the same day, e.g. 08:00 to 21:00 "
                "({start} to {end} does not)",
                {"start": self.start, "end": self.end},
            )
        return self


class OrgOut(BaseModel):
    id: int
    name: str
    sms_enabled: bool
    messaging_registration: str
    clinic_phone: str | None
    timezone: str
    send_window: dict[str, str]
    manual_spend_limit_usd: Decimal | None
    segment_price_usd: Decimal
    url_policy: str
    replies: dict[str, str]
    automated_daily_cap: int
    automated_weekly_cap: int
    lead_close_on_booking: bool = Field(
        description="Booking an appointment closes the patient's active lead as won (scheduled)."
    )
    lead_inactivity_days: int | None = Field(
        description="Close an active lead as lost after this many days without a reply; "
        "null keeps leads open."
    )


ReplyText = Annotated[str, Field(strict=True, min_length=1, max_length=320), NoNul]


class ReplyTexts(Request):
    """Reworded automatic replies; null restores the default wording."""

    opt_out: ReplyText | None = None
    opt_in: ReplyText | None = None
    help: ReplyText | None = None
    lead_closed: ReplyText | None = None


class OrgPatch(Request):
    name: OrgName | None = None
    sms_enabled: StrictBool | None = None
    messaging_registration: Literal["none", "pending", "approved", "rejected"] | None = None
    clinic_phone: Phone | None = None
    timezone: TimeZone | None = None
    send_window: SendWindow | None = None
    manual_spend_limit_usd: (
        Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=2)] | None
    ) = None
    segment_price_usd: Annotated[Decimal, Field(ge=0, le=1, decimal_places=6)] | None = None
    url_policy: Literal["warn", "block"] | None = None
    replies: ReplyTexts | None = None
    automated_daily_cap: Annotated[StrictInt, Field(ge=1, le=50)] | None = None
    automated_weekly_cap: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    lead_close_on_booking: StrictBool | None = None
    lead_inactivity_days: Annotated[StrictInt, Field(ge=1, le=365)] | None = None


# --- numbers ----------------------------------------------------------------------------


class NumberIn(Request):
    number: Phone
    purpose: ChannelName
    kind: Literal["long_code", "toll_free", "short_code", "landline"] = "long_code"
    mps: Annotated[StrictInt, Field(ge=1, le=1000)] = 1


class NumberOut(BaseModel):
    id: int
    number: str
    purpose: str
    kind: str
    verification: str
    mps: int
    created_at: datetime
    verified_at: datetime | None


# --- patients ---------------------------------------------------------------------------


class PatientIn(Request):
    first_name: Name
    last_name: Name
    phone: Phone | None = None
    timezone: TimeZone | None = None
    external_id: ExternalId | None = None
    language: Language = "en"


class PatientPatch(Request):
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    timezone: TimeZone | None = None
    external_id: ExternalId | None = None
    language: Language | None = None


class PatientOut(BaseModel):
    id: int
    first_name: str
    last_name: str
    phone: str | None
    phone_status: str
    phone_reason: str
    timezone: str | None
    language: str
    external_id: str | None
    unknown_sender: bool
    unread_count: int
    last_inbound_at: datetime | None
    review_flag: str | None
    review_phrase: str | None
    review_message_id: int | None
    created_at: datetime
    updated_at: datetime


class ConsentIn(Request):
    action: Literal["opt_in", "opt_out"]
    level: Literal["informational", "marketing"] | None = None
    source: Source | None = None
    evidence: Evidence = ""


class ConsentEventOut(BaseModel):
    id: int
    action: str
    level: str | None
    source: str
    evidence: str
    recorded_by: str
    phone: str
    at: datetime


class ConsentOut(BaseModel):
    state: str
    level: str | None
    since: datetime | None
    source: str | None
    locked_by_patient: bool
    history: list[ConsentEventOut]


class LeadIn(Request):
    stage: Literal["open", "in_progress", "closed_won", "closed_lost"]
    substatus: Substatus | None = None
    reason: Reason | None = None


class LeadChangeOut(BaseModel):
    from_stage: str | None
    stage: str
    substatus: str | None
    reason: str | None
    actor: str
    at: datetime


class LeadOut(BaseModel):
    stage: str | None
    substatus: str | None
    reason: str | None
    active: bool
    history: list[LeadChangeOut]


class CheckOut(BaseModel):
    id: str
    ok: bool
    detail: str
    fix: str | None


class CanTextOut(BaseModel):
    can_text: bool
    channel: str
    kind: str
    checks: list[CheckOut]


# --- messages ---------------------------------------------------------------------------


class MessageIn(Request):
    patient_id: Id
    channel: ChannelName
    body: Annotated[str, Field(strict=True)]
    kind: Literal["manual", "automated"] = "manual"


class MergeIn(Request):
    into: Id


class ReviewIn(Request):
    decision: Literal["confirm", "dismiss"]


class HistoryOut(BaseModel):
    status: str
    at: datetime
    error_code: str | None = None
    detail: str | None = None
    attempt: int = Field(
        default=1, description="The attempt this entry belongs to: a retry starts the next."
    )


class DiagnosisOut(BaseModel):
    summary: str
    fix: str


class MessageOut(BaseModel):
    id: int
    patient_id: int
    direction: str
    kind: str
    channel: str
    body: str
    status: str
    label: str
    error_code: str | None
    error_message: str | None
    encoding: str
    segments: int
    to: str
    from_: str | None = Field(serialization_alias="from")
    provider_id: str | None
    created_at: datetime
    due_at: datetime | None
    history: list[HistoryOut]
    attempts: list[AttemptOut]
    diagnosis: DiagnosisOut | None


class CommlogOut(BaseModel):
    id: int
    patient_id: int
    message_id: int
    direction: str
    kind: str
    at: datetime
    deletable: bool


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    entity: str
    entity_id: int | None
    data: dict[str, object]
    at: datetime


class ConnectorErrorOut(BaseModel):
    id: int
    at: datetime
    last_at: datetime
    occurrences: int
    message: str
    acknowledged: bool


class ConnectorOut(BaseModel):
    state: str
    since: datetime | None
    last_success_at: datetime | None
    pending: int
    errors: list[ConnectorErrorOut]


class RefreshOut(BaseModel):
    state: str
    redriven: int
    checked: int


class AttemptOut(BaseModel):
    at: datetime
    operation: str
    outcome: str
    http_status: int | None
    elapsed_ms: int
    error: str | None
    request: dict[str, object]
    response: dict[str, object] | None
