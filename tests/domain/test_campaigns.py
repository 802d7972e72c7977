"""Campaign rules as pure functions: status and actions, the preview, the audience and its
CSV file, and the memos that stand for the checklist, the send window and segment counts."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinictext.domain import campaigns as rules
from clinictext.domain.audience import (
    Audience,
    AudienceError,
    parse_audience,
    patient_id_of,
    read_audience_csv,
)
from clinictext.domain.bulk import ChecklistMemo, PatientFacts, SegmentMemo, WindowMemo
from clinictext.domain.checklist import (
    Channel,
    Registration,
    SenderFact,
    SendKind,
    TextingFacts,
    Verification,
    evaluate,
)
from clinictext.domain.consent import Consent, ConsentLevel, ConsentState
from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.segments import count_segments
from clinictext.domain.send_window import Window
from clinictext.domain.window_search import NoSendWindowError, place

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
S = rules.CampaignStatus
A = rules.Action


# --- status and actions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "send_at", "pending", "expected"),
    [
        ("draft", None, 0, S.DRAFT),
        ("canceled", None, 5, S.CANCELED),
        ("running", None, 3, S.RUNNING),
        ("running", None, 0, S.DONE),
        ("scheduled", NOW + timedelta(hours=1), 3, S.SCHEDULED),
        ("scheduled", NOW - timedelta(minutes=1), 3, S.RUNNING),
        ("scheduled", NOW + timedelta(hours=1), 0, S.DONE),
        ("paused", None, 3, S.PAUSED),
        ("paused", None, 0, S.DONE),
    ],
)
def test_status_staff_see_reads_done_and_running_from_texts_and_time(
    stored: str, send_at: datetime | None, pending: int, expected: rules.CampaignStatus
) -> None:
    assert rules.current_status(stored, send_at, NOW, pending) is expected


ALLOWED = {
    A.START: {S.DRAFT},
    A.PAUSE: {S.SCHEDULED, S.RUNNING},
    A.RESUME: {S.PAUSED},
    A.CANCEL: {S.DRAFT, S.SCHEDULED, S.RUNNING, S.PAUSED},
}


@pytest.mark.parametrize("action", list(A))
@pytest.mark.parametrize("status", list(S))
def test_every_refused_action_says_why_in_a_sentence(
    action: rules.Action, status: rules.CampaignStatus
) -> None:
    if status in ALLOWED[action]:
        rules.check(action, status)
        return
    with pytest.raises(rules.Refused) as refused:
        rules.check(action, status)
    assert refused.value.message.endswith(".")
    assert refused.value.code


def test_refusals_name_what_to_do() -> None:
    with pytest.raises(rules.Refused) as twice:
        rules.check(A.START, S.RUNNING)
    assert twice.value.code == "campaign_started"
    with pytest.raises(rules.Refused) as after_cancel:
        rules.check(A.RESUME, S.CANCELED)
    assert "create a new campaign" in after_cancel.value.message
    with pytest.raises(rules.Refused) as done:
        rules.check(A.CANCEL, S.DONE)
    assert "nothing left to cancel" in done.value.message


def test_a_started_campaign_with_a_later_send_time_is_scheduled() -> None:
    assert rules.started_status(NOW + timedelta(minutes=5), NOW) is S.SCHEDULED
    assert rules.started_status(NOW - timedelta(minutes=5), NOW) is S.RUNNING
    assert rules.started_status(None, NOW) is S.RUNNING


# --- the preview and the counts ----------------------------------------------------------------


def test_a_patient_failing_two_checks_counts_under_both_reasons_and_once_as_skipped() -> None:
    preview = rules.summarize(5, [("phone", "consent"), ("consent",), ("unknown_sender",)])
    assert preview.recipients == 5
    assert preview.skipped == 3
    assert preview.skip_reasons == {"unknown_sender": 1, "phone": 1, "consent": 2}
    assert list(preview.skip_reasons) == ["unknown_sender", "phone", "consent"]
    assert preview.as_json() == {
        "recipients": 5,
        "skipped": 3,
        "skip_reasons": {"unknown_sender": 1, "phone": 1, "consent": 2},
    }


def test_progress_counts_undelivered_as_failed_and_recipients_as_every_text() -> None:
    counts = rules.progress({"delivered": 4, "undelivered": 1, "failed": 1, "queued": 2}, 7)
    assert counts == {
        "recipients": 8,
        "skipped": 7,
        "scheduled": 0,
        "queued": 2,
        "sending": 0,
        "sent": 0,
        "delivered": 4,
        "failed": 2,
        "canceled": 0,
    }
    assert rules.pending({"delivered": 4, "queued": 2, "sending": 1, "sent": 3}) == 3


def test_a_recipient_without_a_text_is_skipped() -> None:
    assert rules.recipient_status("consent", None) == "skipped"
    assert rules.recipient_status(None, "delivered") == "delivered"
    assert rules.FILTER_STATUSES["failed"] == ("failed", "undelivered")


# --- the audience ------------------------------------------------------------------------------


def test_audience_parts_combine_and_come_back_as_written() -> None:
    raw = {"lead_stages": ["open", "in_progress", "open"], "language": "es", "patient_ids": [3, 1]}
    audience = parse_audience(raw)
    assert audience == Audience(
        lead_stages=(LeadStage.OPEN, LeadStage.IN_PROGRESS), patient_ids=(3, 1), language="es"
    )
    assert audience.as_json() == {
        "lead_stages": ["open", "in_progress"],
        "patient_ids": [3, 1],
        "language": "es",
    }
    assert audience.describe() == "2 chosen patients, leads open or in_progress, language es"
    assert parse_audience({"all": True}).describe() == "every patient"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "audience"),
        ([], "audience"),
        ({"everyone": True}, "audience.everyone"),
        ({"all": False}, "audience.all"),
        ({"lead_stages": ["won"]}, "audience.lead_stages"),
        ({"lead_stages": []}, "audience.lead_stages"),
        ({"patient_ids": [0]}, "audience.patient_ids"),
        ({"patient_ids": ["7"]}, "audience.patient_ids"),
        ({"patient_ids": [True]}, "audience.patient_ids"),
        ({"language": "english please"}, "audience.language"),
    ],
)
def test_a_bad_audience_names_the_part_to_change(raw: object, field: str) -> None:
    with pytest.raises(AudienceError) as refused:
        parse_audience(raw)
    assert refused.value.field == field
    assert refused.value.message.endswith(".")


def test_too_many_patient_ids_are_refused_with_the_limit() -> None:
    with pytest.raises(AudienceError, match="100,000"):
        parse_audience({"patient_ids": list(range(1, 100_002))})


def test_csv_names_patients_by_the_most_exact_column_with_line_numbers() -> None:
    text = "\ufeffPhone,Patient_ID,note\n(415) 555-0101,7,x\n\n, ,blank id\n12,9\n"
    parsed = read_audience_csv(text)
    assert parsed.column == "patient_id"
    assert [(r.line, r.value) for r in parsed.rows] == [(2, "7"), (4, ""), (5, "9")]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("name,email\nAna,a@x\n", "none of the columns"),
        ("patient_id\n", "no patients"),
        ("patient_id\n1\x00\n", "NUL"),
    ],
)
def test_an_unusable_csv_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(AudienceError, match=says) as refused:
        read_audience_csv(text)
    assert refused.value.field == "audience_csv"


@pytest.mark.parametrize(
    ("cell", "expected"), [("12", 12), ("0", None), ("-3", None), ("²", None), ("1e3", None)]
)
def test_patient_id_cells(cell: str, expected: int | None) -> None:
    assert patient_id_of(cell) == expected


# --- the checklist for campaigns ---------------------------------------------------------------


def _facts(**changes: object) -> TextingFacts:
    facts = TextingFacts(
        sms_enabled=True,
        registration=Registration.APPROVED,
        channel=Channel.LEAD,
        kind=SendKind.CAMPAIGN,
        senders=[SenderFact("+15005550006", "long_code", Verification.VERIFIED, 1)],
        phone="+14155550123",
        phone_status=PhoneStatus.VALID,
        phone_reason="",
        consent=Consent(ConsentState.OPTED_IN, ConsentLevel.MARKETING, NOW, "web_form"),
        lead_stage=None,
        lead_substatus=None,
        month_spend_usd=Decimal(0),
        spend_limit_usd=None,
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("stage", [None, *LeadStage])
def test_lead_stage_does_not_stop_a_campaign_text_on_the_lead_number(
    stage: LeadStage | None,
) -> None:
    checks = {c.id: c for c in evaluate(_facts(lead_stage=stage))}
    assert checks["lead_stage"].ok
    assert checks["lead_stage"].detail == "Not needed for campaign texts."
    assert all(c.ok for c in checks.values())


def test_a_staff_text_on_the_lead_number_still_needs_an_active_lead() -> None:
    facts = _facts(kind=SendKind.MANUAL, lead_stage=LeadStage.CLOSED_WON)
    assert not {c.id: c for c in evaluate(facts)}["lead_stage"].ok


# --- the memos give the answers of the functions they stand for ------------------------------

_consents = st.builds(
    Consent,
    st.sampled_from(list(ConsentState)),
    st.none() | st.sampled_from(list(ConsentLevel)),
    st.none() | st.just(NOW),
    st.none() | st.sampled_from(["keyword", "web_form", "staff", "carrier"]),
    st.none() | st.sampled_from(["keyword", "carrier"]),
)
_patients = st.builds(
    PatientFacts,
    id=st.integers(1, 10**6),
    first_name=st.just("Ana"),
    last_name=st.just("Diaz"),
    phone=st.none() | st.sampled_from(["+14155550123", "+12125550199", "+447911123456"]),
    phone_status=st.sampled_from(list(PhoneStatus)),
    phone_reason=st.sampled_from(["", "This number is a landline."]),
    timezone=st.none(),
    language=st.just("en"),
    unknown_sender=st.booleans(),
    last_inbound_at=st.none()
    | st.sampled_from([NOW - timedelta(hours=1), NOW - timedelta(days=3)]),
    consent=_consents,
    lead_stage=st.none() | st.sampled_from(list(LeadStage)),
    lead_substatus=st.none() | st.just("scheduled"),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_patients, min_size=1, max_size=30),
    st.sampled_from(list(Channel)),
    st.sampled_from(list(SendKind)),
    st.booleans(),
)
def test_checklist_memo_fails_the_checks_evaluate_fails_for_every_patient(
    patients: list[PatientFacts], channel: Channel, kind: SendKind, sms: bool
) -> None:
    org = _facts(channel=channel, kind=kind, sms_enabled=sms)
    memo = ChecklistMemo(org, NOW)
    for p in patients:
        expected = tuple(c.id for c in evaluate(memo.facts(p)) if not c.ok)
        assert memo.failing(p) == expected
        assert [c.id for c in memo.checks(p) if not c.ok] == list(expected)


def _nanp(rng: random.Random) -> str:
    return f"+1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 20, 17, 0, tzinfo=UTC),  # midday across the US
        datetime(2026, 11, 21, 1, 30, tzinfo=UTC),  # evening: late in the east
        datetime(2026, 11, 21, 9, 0, tzinfo=UTC),  # night everywhere
        datetime(2026, 3, 8, 13, 0, tzinfo=UTC),  # the day clocks change
    ],
)
def test_window_memo_places_every_patient_where_place_does(at: datetime) -> None:
    rng = random.Random(at.hour)
    window = Window.parse("08:00", "21:00")
    memo = WindowMemo(at, window, "America/New_York")
    phones = [_nanp(rng) for _ in range(150)]
    # Neighbours share the memo's key: the same area code and exchange.
    phones += [p[:8] + f"{rng.randint(0, 9999):04d}" for p in phones[:50]]
    phones += ["+15005550001", "+18005550123", "+447911123456", "+33612345678"]
    zones = [None, None, None, "America/Chicago", "Europe/Berlin", "Not/AZone"]
    for phone in phones:
        tz = rng.choice(zones)
        try:
            expected = place(at, window, phone, tz, "America/New_York")
        except NoSendWindowError:
            with pytest.raises(NoSendWindowError):
                memo.place(phone, tz)
            continue
        got = memo.place(phone, tz)
        assert (got.allowed, got.send_at, got.zones, got.state) == (
            expected.allowed,
            expected.send_at,
            expected.zones,
            expected.state,
        ), phone


def test_window_memo_reports_a_window_that_never_opens() -> None:
    # Rhode Island allows 09:00-18:00 on weekdays; a 19:00-21:00 window never overlaps it.
    memo = WindowMemo(NOW, Window.parse("19:00", "21:00"), "America/New_York")
    with pytest.raises(NoSendWindowError):
        memo.place("+14015550123", None)


_BODY_CHARS = st.sampled_from([*"abcXYZ 019.,!?@$'\"-\n", "é", "[", "€", "ü", "😀", "’", "Ω"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(_BODY_CHARS, max_size=400), min_size=1, max_size=10))
def test_segment_memo_counts_what_count_segments_counts(bodies: list[str]) -> None:
    memo = SegmentMemo()
    for body in bodies:
        assert memo.count(body) == count_segments(body)


def test_segment_memo_counts_long_plain_bodies_by_length() -> None:
    memo = SegmentMemo()
    for n in (0, 1, 159, 160, 161, 306, 307, 1600):
        assert memo.count("a" * n) == count_segments("a" * n)
        assert memo.count("b" * n) == count_segments("b" * n)
