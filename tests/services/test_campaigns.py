"""Campaign services on both databases: the preview, start, pause, resume, cancel, the counts
and the report, and how their texts meet the dispatcher (claims, hand-off, lanes)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from clinictext.dispatch.claims import claim_due
from clinictext.dispatch.handoff import hand_off
from clinictext.dispatch.results import Result, record
from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.domain.leads import LeadStage
from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import SendOutcome
from clinictext.services import (
    campaign_patients,
    campaigns,
    consent,
    leads,
    numbers,
    orgs,
    patients,
    sending,
    templates,
)
from clinictext.services.errors import Conflict, Invalid, NotFound
from clinictext.store.db import transaction
from clinictext.store.models import (
    AuditEvent,
    Campaign,
    CampaignRecipient,
    Commlog,
    Message,
    MessageEvent,
    Patient,
)
from tests.support import counting

# 17:00 UTC is noon in New York and 09:00 in California: inside every US send window.
NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
LEAD_NUMBER = "+15005550006"
BODY = "Hi [FName], whitening is 20% off this month."


@dataclass
class Clinic:
    org_id: int
    template_id: int
    ids: dict[str, int]


def _patient(
    s: Session,
    org_id: int,
    name: str,
    phone: str | None,
    level: ConsentLevel | None = ConsentLevel.MARKETING,
    **kw: Any,
) -> int:
    pid = patients.create_patient(
        s, org_id, first_name=name, last_name="Test", phone=phone, actor="t", **kw
    ).id
    if level is not None and phone is not None:
        consent.record(
            s, org_id, pid, action=ConsentAction.OPT_IN, source="web_form", level=level, actor="t"
        )
    return pid


def clinic(factory: sessionmaker[Session], *, mps: int = 1, extra: int = 0) -> Clinic:
    """A clinic texting from a lead number, and one patient for each way a campaign treats one."""
    with transaction(factory) as s:
        org_id = orgs.create_org(s, "Smile Dental", actor="t", timezone="America/New_York").id
        orgs.update_org(
            s,
            org_id,
            {
                "sms_enabled": True,
                "messaging_registration": "approved",
                "clinic_phone": "+14155550100",
            },
            "t",
        )
        numbers.add_number(s, org_id, LEAD_NUMBER, Channel.LEAD, "long_code", mps, "t")
        numbers.add_number(s, org_id, "+14155550100", Channel.CLINIC, "long_code", mps, "t")
        ids = {
            "ready": _patient(s, org_id, "Alice", "+14155550101"),
            "care_only": _patient(s, org_id, "Ben", "+14155550102", ConsentLevel.INFORMATIONAL),
            "never": _patient(s, org_id, "Carla", "+14155550103", None),
            "stopped": _patient(s, org_id, "Dan", "+14155550104"),
            "landline": _patient(s, org_id, "Erin", "+14155550105"),
            "no_phone": _patient(s, org_id, "Fay", None),
            "unknown": _patient(s, org_id, "Unknown", "+14155550107", None, unknown_sender=True),
            "spanish_lead": _patient(s, org_id, "Gina", "+14155550108", language="es"),
            "won_lead": _patient(s, org_id, "Hugo", "+14155550109"),
        }
        for n in range(extra):
            ids[f"extra{n}"] = _patient(s, org_id, f"Extra{n}", f"+1415555{2000 + n:04d}")
        consent.record(
            s,
            org_id,
            ids["stopped"],
            action=ConsentAction.OPT_OUT,
            source="keyword",
            actor="patient",
            by_patient=True,
        )
        s.execute(
            update(Patient)
            .where(Patient.id == ids["landline"])
            .values(phone_status="landline", phone_reason="This number is a landline.")
        )
        leads.set_stage(s, org_id, ids["spanish_lead"], LeadStage.OPEN, actor="t")
        leads.set_stage(
            s, org_id, ids["won_lead"], LeadStage.CLOSED_WON, actor="t", substatus="scheduled"
        )
        template = templates.create(
            s,
            org_id,
            name="Whitening",
            purpose="campaign",
            body=BODY,
            variants={"es": "Hola [FName], blanqueamiento con 20% de descuento."},
            actor="t",
        )
        return Clinic(org_id, template.id, ids)


def create(factory: sessionmaker[Session], c: Clinic, **kw: Any) -> int:
    args: dict[str, Any] = {
        "name": "Whitening",
        "template_id": c.template_id,
        "audience": {"all": True},
        "actor": "t",
        "now": NOW,
    }
    args.update(kw)
    with transaction(factory) as s:
        return campaigns.create(s, c.org_id, **args).id


def act(factory: sessionmaker[Session], c: Clinic, action: str, cid: int, now: datetime = NOW):
    with transaction(factory) as s:
        getattr(campaigns, action)(s, c.org_id, cid, actor="t", now=now)


def described(factory: sessionmaker[Session], c: Clinic, cid: int, now: datetime = NOW) -> Any:
    with transaction(factory) as s:
        return campaigns.described(s, campaigns.get(s, c.org_id, cid), now)


def texts(factory: sessionmaker[Session], cid: int) -> list[Message]:
    with factory() as s:
        return list(s.scalars(select(Message).where(Message.campaign_id == cid)))


def count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


# --- the preview --------------------------------------------------------------------------------


def test_create_previews_every_patient_with_every_reason_and_keeps_it(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    d = described(factory, c, cid)
    assert d["status"] == "draft"
    assert d["channel"] == "lead"
    # Ready, the Spanish open lead and the won lead (the stage does not matter to campaigns).
    assert d["preview"] == {
        "recipients": 3,
        "skipped": 6,
        "skip_reasons": {"unknown_sender": 1, "phone": 2, "consent": 5},
    }
    assert d["counts"]["recipients"] == 3 and d["counts"]["skipped"] == 6
    with factory() as s:
        audit = s.scalars(select(AuditEvent.action).where(AuditEvent.entity == "campaign")).all()
    assert audit == ["campaign.created"]
    assert count(factory, Message) == 0


@pytest.mark.parametrize(
    ("change", "error", "code", "field"),
    [
        ({"name": "  "}, Invalid, "invalid_campaign", "name"),
        ({"template_id": 999}, NotFound, "template_not_found", None),
        ({"audience": {"al": True}}, Invalid, "invalid_audience", "audience.al"),
        ({"audience": {"lead_stages": ["won"]}}, Invalid, "invalid_audience", None),
        ({"audience": {"patient_ids": [99999]}}, Invalid, "no_recipients", "audience"),
        ({"audience": {"language": "fr"}}, Invalid, "no_recipients", "audience"),
        ({"send_at": NOW - timedelta(days=1)}, Invalid, "invalid_campaign", "send_at"),
        ({"send_at": NOW + timedelta(days=400)}, Invalid, "invalid_campaign", "send_at"),
    ],
)
def test_a_refused_campaign_writes_nothing_and_says_what_to_change(
    factory: sessionmaker[Session],
    change: dict[str, Any],
    error: type[Exception],
    code: str,
    field: str | None,
) -> None:
    c = clinic(factory)
    with pytest.raises(error) as refused:
        create(factory, c, **change)
    assert refused.value.code == code  # type: ignore[attr-defined]
    if field is not None:
        assert refused.value.extra["field"] == field  # type: ignore[attr-defined]
    assert count(factory, Campaign) == 0


def test_a_reminder_template_or_one_with_appointment_fields_cannot_be_a_campaign(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    with transaction(factory) as s:
        reminder = templates.create(
            s, c.org_id, name="R", purpose="reminder", body="See you [ApptDate].", actor="t"
        ).id
        general = templates.create(
            s, c.org_id, name="G", purpose="general", body="Hi [FName], [ApptTime].", actor="t"
        ).id
    for tid in (reminder, general):
        with pytest.raises(Invalid) as refused:
            create(factory, c, template_id=tid)
        assert refused.value.code == "invalid_template"
        assert refused.value.extra["field"] == "template_id"


def test_preview_reads_a_fixed_number_of_queries_however_many_patients(
    factory: sessionmaker[Session], engine: Engine
) -> None:
    small, large = clinic(factory), clinic_second(factory, extra=60)
    counts = []
    for c in (small, large):
        with counting(engine) as statements:
            create(factory, c)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def clinic_second(factory: sessionmaker[Session], extra: int) -> Clinic:
    """Another organization (numbers are unique everywhere): the same patients, more of them."""
    with transaction(factory) as s:
        org_id = orgs.create_org(s, "Second", actor="t").id
        orgs.update_org(s, org_id, {"sms_enabled": True, "messaging_registration": "approved"}, "t")
        numbers.add_number(s, org_id, "+14155550999", Channel.LEAD, "long_code", 1, "t")
        ids = {}
        for n in range(extra):
            level = (ConsentLevel.MARKETING, ConsentLevel.INFORMATIONAL, None)[n % 3]
            ids[f"p{n}"] = _patient(s, org_id, f"P{n}", f"+1212555{3000 + n:04d}", level)
            if n % 5 == 0:
                leads.set_stage(s, org_id, ids[f"p{n}"], LeadStage.OPEN, actor="t")
        tid = templates.create(s, org_id, name="T", purpose="campaign", body=BODY, actor="t").id
        return Clinic(org_id, tid, ids)


def test_audience_parts_intersect(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    cid = create(
        factory,
        c,
        audience={
            "lead_stages": ["open", "closed_won"],
            "language": "es",
            "patient_ids": [c.ids["spanish_lead"], c.ids["won_lead"], c.ids["ready"]],
        },
    )
    assert described(factory, c, cid)["preview"]["recipients"] == 1
    act(factory, c, "start", cid)
    assert [m.patient_id for m in texts(factory, cid)] == [c.ids["spanish_lead"]]


def test_a_long_list_of_patient_ids_is_read_in_chunks(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaign_patients, "ID_CHUNK", 2)
    c = clinic(factory, extra=5)
    wanted = sorted(c.ids.values())
    cid = create(factory, c, audience={"patient_ids": wanted})
    preview = described(factory, c, cid)["preview"]
    assert preview["recipients"] + preview["skipped"] == len(wanted)
    assert preview["recipients"] == 8


# --- start ------------------------------------------------------------------------------------


def test_start_writes_each_text_as_the_send_path_writes_a_campaign_text(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    ours = {m.patient_id: m for m in texts(factory, cid)}
    assert set(ours) == {c.ids["ready"], c.ids["spanish_lead"], c.ids["won_lead"]}
    mine = ours[c.ids["ready"]]
    with transaction(factory) as s:
        sent = sending.send(
            s,
            c.org_id,
            c.ids["ready"],
            Channel.LEAD,
            mine.body,
            actor="t",
            send_kind=SendKind.CAMPAIGN,
            now=NOW,
        )
        columns = [k for k in Message.__table__.c.keys() if k not in ("id", "campaign_id")]  # noqa: SIM118
        reference = {k: getattr(sent, k) for k in columns}
    assert {k: getattr(mine, k) for k in columns} == reference
    assert mine.campaign_id == cid
    assert (
        mine.body
        == "Smile Dental: Hi Alice, whitening is 20% off this month.\nReply STOP to opt out."
    )
    assert ours[c.ids["spanish_lead"]].body.startswith("Smile Dental: Hola Gina")
    with factory() as s:
        first = s.scalars(select(MessageEvent).where(MessageEvent.message_id == mine.id)).all()
        assert [(e.status, e.at) for e in first] == [("queued", NOW)]
        assert s.scalar(select(Commlog.kind).where(Commlog.message_id == mine.id)) == "campaign"
        rows = s.scalars(select(CampaignRecipient).where(CampaignRecipient.campaign_id == cid))
        by_patient = {r.patient_id: r for r in rows}
    assert len(by_patient) == 9
    assert by_patient[c.ids["ready"]].message_id == mine.id
    stopped = by_patient[c.ids["stopped"]]
    assert (stopped.skip_reason, stopped.skip_checks, stopped.message_id) == (
        "consent",
        ["consent"],
        None,
    )
    assert by_patient[c.ids["no_phone"]].skip_checks == ["phone", "consent"]
    assert by_patient[c.ids["unknown"]].skip_checks == ["unknown_sender", "consent"]
    d = described(factory, c, cid)
    assert d["status"] == "running"
    assert d["counts"] == {
        "recipients": 3,
        "skipped": 6,
        "scheduled": 0,
        "queued": 3,
        "sending": 0,
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "canceled": 0,
    }


def test_start_checks_consent_again(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    with transaction(factory) as s:
        consent.record(
            s, c.org_id, c.ids["ready"], action=ConsentAction.OPT_OUT, source="staff", actor="t"
        )
    act(factory, c, "start", cid)
    assert c.ids["ready"] not in {m.patient_id for m in texts(factory, cid)}
    d = described(factory, c, cid)
    assert d["preview"]["skip_reasons"]["consent"] == 6


def test_start_at_night_holds_each_text_until_the_window_opens_in_the_patients_time(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    night = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # 01:00 in California
    cid = create(factory, c, now=night)
    act(factory, c, "start", cid, night)
    opens = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)  # 08:00 in California
    for m in texts(factory, cid):
        assert (m.status, m.due_at) == ("scheduled", opens)
    with factory() as s:
        detail = s.scalar(select(MessageEvent.detail).where(MessageEvent.message_id == m.id))
    assert detail is not None and "Held for the send window" in detail
    assert described(factory, c, cid, night)["status"] == "running"


def test_a_send_time_schedules_the_campaign_until_then(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    later = NOW + timedelta(hours=2)
    cid = create(factory, c, send_at=later)
    act(factory, c, "start", cid)
    assert {(m.status, m.due_at) for m in texts(factory, cid)} == {("scheduled", later)}
    assert described(factory, c, cid)["status"] == "scheduled"
    assert described(factory, c, cid, later)["status"] == "running"
    with factory() as s:
        claimed = claim_due(
            s, "w", NOW, limit=100, lease=timedelta(seconds=60), horizon=timedelta(seconds=2)
        )
    assert claimed == []


def test_start_twice_and_start_with_nobody_to_text_are_refused(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    with pytest.raises(Conflict) as twice:
        act(factory, c, "start", cid)
    assert twice.value.code == "campaign_started"
    nobody = create(factory, c, audience={"patient_ids": [c.ids["never"], c.ids["stopped"]]})
    with pytest.raises(Conflict) as refused:
        act(factory, c, "start", nobody)
    assert refused.value.code == "no_recipients"
    assert "consent 2" in refused.value.message
    assert described(factory, c, nobody)["status"] == "draft"


def test_patients_sharing_a_phone_get_one_text(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    with transaction(factory) as s:
        twin = _patient(s, c.org_id, "Twin", "+14155550101")
    cid = create(factory, c)
    act(factory, c, "start", cid)
    assert [m.patient_id for m in texts(factory, cid) if m.to_phone == "+14155550101"] == [
        c.ids["ready"]
    ]
    with factory() as s:
        row = s.scalars(select(CampaignRecipient).where(CampaignRecipient.patient_id == twin)).one()
    assert row.skip_reason == "shared_phone"


def test_a_name_too_long_to_send_skips_that_patient_only(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    with transaction(factory) as s:
        long = patients.create_patient(
            s, c.org_id, first_name="A" * 100, last_name="B", phone="+14155550190", actor="t"
        ).id
        consent.record(
            s,
            c.org_id,
            long,
            action=ConsentAction.OPT_IN,
            source="web_form",
            level=ConsentLevel.MARKETING,
            actor="t",
        )
        tid = templates.create(
            s,
            c.org_id,
            name="Long",
            purpose="campaign",
            body="[FName] [FName] [FName] [FName] [FName] [FName] " + "x" * 1300,
            actor="t",
        ).id
    cid = create(factory, c, template_id=tid)
    act(factory, c, "start", cid)
    got = {m.patient_id for m in texts(factory, cid)}
    assert c.ids["ready"] in got and long not in got
    with factory() as s:
        row = s.scalars(select(CampaignRecipient).where(CampaignRecipient.patient_id == long)).one()
    assert row.skip_reason == "body"


# --- pause, resume, cancel -------------------------------------------------------------------


def claim(factory: sessionmaker[Session], now: datetime, limit: int = 100) -> list[int]:
    with transaction(factory) as s:
        got = claim_due(
            s, "w1", now, limit=limit, lease=timedelta(seconds=60), horizon=timedelta(hours=1)
        )
        return [c.message_id for c in got]


def test_pause_holds_every_text_and_resume_gives_each_its_time_back(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory, extra=4)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    first = claim(factory, NOW, limit=2)  # claimed, waiting for their slots: not handed
    act(factory, c, "pause", cid)
    assert described(factory, c, cid)["status"] == "paused"
    held = texts(factory, cid)
    assert {m.status for m in held} == {"queued"}
    assert {m.due_at for m in held} == {None}
    with factory() as s:
        taken_back = s.scalars(
            select(MessageEvent.detail).where(
                MessageEvent.message_id == first[0], MessageEvent.status == "queued"
            )
        ).all()
        planned = set(
            s.scalars(select(CampaignRecipient.planned_at).where(CampaignRecipient.message_id > 0))
        )
    assert any(d and "paused" in d for d in taken_back)
    assert planned == {NOW}
    assert claim(factory, NOW + timedelta(minutes=5)) == []
    with transaction(factory) as s:  # the hand-off of the taken-back texts sends nothing
        assert hand_off(s, first, "w1", NOW) == set()
    later = NOW + timedelta(minutes=10)
    act(factory, c, "resume", cid, later)
    assert {(m.status, m.due_at) for m in texts(factory, cid)} == {("queued", later)}
    assert len(claim(factory, later)) == 7
    assert described(factory, c, cid, later)["status"] == "running"


def test_resume_after_the_window_closed_places_the_texts_in_the_next_window(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    act(factory, c, "pause", cid)
    night = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # 01:00 in California
    act(factory, c, "resume", cid, night)
    opens = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    assert {m.due_at for m in texts(factory, cid)} == {opens}


def test_a_scheduled_text_keeps_its_time_through_a_pause(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    later = NOW + timedelta(hours=3)
    cid = create(factory, c, send_at=later)
    act(factory, c, "start", cid)
    act(factory, c, "pause", cid)
    act(factory, c, "resume", cid, NOW + timedelta(hours=1))
    assert {(m.status, m.due_at) for m in texts(factory, cid)} == {("scheduled", later)}
    assert described(factory, c, cid, NOW + timedelta(hours=1))["status"] == "scheduled"


def test_cancel_cancels_every_text_not_handed_to_the_provider(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory, extra=3)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    claimed = claim(factory, NOW, limit=2)
    with transaction(factory) as s:
        handed = hand_off(s, claimed[:1], "w1", NOW)
    assert handed == {claimed[0]}
    act(factory, c, "cancel", cid, NOW + timedelta(minutes=1))
    after = {m.id: m for m in texts(factory, cid)}
    assert after[claimed[0]].status == "sending"  # handed over: it goes
    assert after[claimed[1]].status == "canceled"  # claimed, not handed: canceled
    assert sum(m.status == "canceled" for m in after.values()) == len(after) - 1
    with factory() as s:
        details = set(
            s.scalars(select(MessageEvent.detail).where(MessageEvent.status == "canceled"))
        )
    assert details == {"canceled: the campaign was canceled by t"}
    with transaction(factory) as s:
        assert hand_off(s, claimed[1:], "w1", NOW) == set()
    d = described(factory, c, cid)
    assert d["status"] == "canceled"
    assert d["counts"]["canceled"] == len(after) - 1
    for action in ("start", "pause", "resume", "cancel"):
        with pytest.raises(Conflict) as refused:
            act(factory, c, action, cid)
        assert refused.value.code == "campaign_canceled"


def test_cancel_racing_the_hand_off_leaves_each_text_sent_or_canceled_never_both(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory, extra=30)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    claimed = claim(factory, NOW, limit=500)
    handed: set[int] = set()
    go = threading.Event()

    def hand_over() -> None:
        go.wait(5)
        for n in range(0, len(claimed), 3):
            with transaction(factory) as s:
                handed.update(hand_off(s, claimed[n : n + 3], "w1", NOW))

    worker = threading.Thread(target=hand_over)
    worker.start()
    go.set()
    act(factory, c, "cancel", cid, NOW)
    worker.join(30)
    for m in texts(factory, cid):
        assert (m.handed_at is not None) != (m.status == "canceled"), m.id
        assert (m.id in handed) == (m.handed_at is not None)


def test_a_campaign_with_nothing_left_to_send_is_done(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    with transaction(factory) as s:
        s.execute(update(Message).where(Message.campaign_id == cid).values(status="delivered"))
    assert described(factory, c, cid)["status"] == "done"
    for action in ("pause", "cancel"):
        with pytest.raises(Conflict) as refused:
            act(factory, c, action, cid)
        assert refused.value.code == "campaign_done"
    with pytest.raises(Conflict) as not_paused:
        act(factory, c, "resume", cid)
    assert not_paused.value.code == "campaign_done"


def test_resume_a_running_campaign_and_pause_a_draft_are_refused(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    with pytest.raises(Conflict) as draft:
        act(factory, c, "pause", cid)
    assert draft.value.code == "not_started"
    act(factory, c, "start", cid)
    with pytest.raises(Conflict) as running:
        act(factory, c, "resume", cid)
    assert running.value.code == "not_paused"
    with factory() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.entity == "campaign").order_by(AuditEvent.id)
        ).all()
    assert actions == ["campaign.created", "campaign.started"]


def test_a_staff_reply_goes_before_campaign_texts_queued_earlier_on_the_same_number(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory, mps=1, extra=20)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    with transaction(factory) as s:
        reply = sending.send(
            s,
            c.org_id,
            c.ids["spanish_lead"],
            Channel.LEAD,
            "Yes, we have a slot on Tuesday.",
            actor="t",
            now=NOW + timedelta(seconds=1),
        ).id
    with transaction(factory) as s:
        first = claim_due(
            s,
            "w1",
            NOW + timedelta(seconds=1),
            limit=500,
            lease=timedelta(seconds=60),
            horizon=timedelta(seconds=2),
        )
    assert first[0].message_id == reply
    assert len(first) < 23  # the number's pace holds the rest of the campaign back


# --- the report ---------------------------------------------------------------------------------


def test_the_report_lists_who_got_it_and_why_the_others_did_not(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    ready = next(m for m in texts(factory, cid) if m.patient_id == c.ids["ready"])
    with transaction(factory) as s:
        s.execute(
            update(Message)
            .where(Message.id == ready.id)
            .values(status="failed", error_code="21211", error_message="invalid")
        )
    with factory() as s:
        page = campaigns.recipients(s, c.org_id, cid, limit=4)
        rest = campaigns.recipients(s, c.org_id, cid, limit=50, cursor=page.next_cursor)
        failed = campaigns.recipients(s, c.org_id, cid, status="failed")
        skipped = campaigns.recipients(s, c.org_id, cid, status="skipped")
        csv_text = "".join(campaigns.recipients_csv(s, c.org_id, cid))
    rows = page.items + rest.items
    assert [r["patient_id"] for r in rows] == sorted(c.ids.values())
    assert page.next_cursor is not None and rest.next_cursor is None
    first = rows[0]
    assert first == {
        "patient_id": c.ids["ready"],
        "patient_name": "Alice Test",
        "status": "failed",
        "skip_reason": None,
        "skip_checks": None,
        "message_id": ready.id,
        "error_code": "21211",
        "detail": "Failed: the patient's wireless phone is not a valid number (21211).",
    }
    assert [r["patient_id"] for r in failed.items] == [c.ids["ready"]]
    assert len(skipped.items) == 6
    assert all(r["detail"] for r in skipped.items)
    lines = csv_text.splitlines()
    assert (
        lines[0]
        == "patient_id,patient_name,status,skip_reason,skip_checks,message_id,error_code,detail"
    )
    assert len(lines) == 10
    assert f"{c.ids['no_phone']},Fay Test,skipped,phone,phone;consent,,," in lines[6]
    with factory() as s, pytest.raises(Invalid) as bad:
        campaigns.recipients(s, c.org_id, cid, status="lost")
    assert bad.value.extra["field"] == "status"


def test_the_skipped_preview_gives_every_failing_check_with_its_sentence(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    cid = create(factory, c)
    with factory() as s:
        draft = campaigns.skipped_preview(s, c.org_id, cid, limit=3, now=NOW)
        more = campaigns.skipped_preview(
            s, c.org_id, cid, limit=10, cursor=draft["next_cursor"], now=NOW
        )
    assert (draft["recipients"], draft["skipped"]) == (3, 6)
    shown = draft["patients"] + more["patients"]
    by_id = {p["patient_id"]: p for p in shown}
    assert len(by_id) == 6
    stopped = by_id[c.ids["stopped"]]["checks"]
    assert [ch["id"] for ch in stopped] == ["consent"]
    assert "replied STOP on " in stopped[0]["detail"]  # dated: the patient's own ledger
    assert "START" in stopped[0]["fix"]
    unknown = by_id[c.ids["unknown"]]["checks"]
    assert [ch["id"] for ch in unknown] == ["unknown_sender", "consent"]
    act(factory, c, "start", cid)
    with factory() as s:
        started = campaigns.skipped_preview(s, c.org_id, cid, now=NOW)
    assert [p["patient_id"] for p in started["patients"]] == sorted(by_id)


def test_the_text_each_patient_gets_is_the_templates_own(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    with transaction(factory) as s:
        tid = templates.create(
            s,
            c.org_id,
            name="Own",
            purpose="general",
            body="[OfficeName] ([OfficePhone]): hi [FName] [LName]! Reply STOP to opt out.",
            variants={"es-MX": "Hola [FName] [LName]."},
            actor="t",
        ).id
        s.execute(
            update(Patient)
            .where(Patient.id == c.ids["ready"])
            .values(language="es-MX", last_name="Ruíz [LName]")
        )
    cid = create(factory, c, template_id=tid)
    act(factory, c, "start", cid)
    written = texts(factory, cid)
    assert len(written) == 3
    with transaction(factory) as s:
        org = orgs.get_org(s, c.org_id)
        template = templates.get(s, c.org_id, tid)
        for m in written:
            patient = patients.get_patient(s, c.org_id, m.patient_id)
            assert m.body == templates.text_for(template, org, patient, campaign=True)


def test_another_organizations_campaign_is_not_found(factory: sessionmaker[Session]) -> None:
    c = clinic(factory)
    other = clinic_second(factory, extra=1)
    cid = create(factory, c)
    for action in ("start", "pause", "resume", "cancel"):
        with transaction(factory) as s, pytest.raises(NotFound):
            getattr(campaigns, action)(s, other.org_id, cid, actor="t", now=NOW)
    with factory() as s, pytest.raises(NotFound):
        campaigns.recipients(s, other.org_id, cid)


# --- an audience from a CSV file ----------------------------------------------------------------


def test_csv_lines_resolve_to_patients_and_the_rest_are_reported_by_line(
    factory: sessionmaker[Session],
) -> None:
    c = clinic(factory)
    with transaction(factory) as s:
        patients.update_patient(s, c.org_id, c.ids["ready"], {"external_id": "PM-1"}, "t")
        by_phone = campaigns.resolve_csv(
            s, c.org_id, "phone,name\n(415) 555-0101,Alice\n415 555 0199,Nobody\nabc,Bad\n"
        )
        by_id = campaigns.resolve_csv(
            s, c.org_id, f"patient_id\n{c.ids['never']}\n{c.ids['never']}\nx\n99999\n"
        )
        by_external = campaigns.resolve_csv(s, c.org_id, "external_id\nPM-1\nPM-2\n")
        with pytest.raises(Invalid) as bad:
            campaigns.resolve_csv(s, c.org_id, "name\nAlice\n")
    assert by_phone.patient_ids == [c.ids["ready"]]
    assert [(u.line, u.value) for u in by_phone.unmatched] == [(3, "415 555 0199"), (4, "abc")]
    assert "No patient" in by_phone.unmatched[0].reason
    assert by_id.patient_ids == [c.ids["never"]]
    assert [u.line for u in by_id.unmatched] == [4, 5]
    assert by_external.patient_ids == [c.ids["ready"]]
    assert [u.value for u in by_external.unmatched] == ["PM-2"]
    assert bad.value.extra["field"] == "audience_csv"


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_a_handed_text_that_must_be_tried_again_follows_its_campaign(
    factory: sessionmaker[Session], action: str
) -> None:
    """Handed over before the pause or cancel, then the provider did not answer: the retry
    is held while the campaign is paused, and canceled once it is canceled."""
    c = clinic(factory, extra=1)
    cid = create(factory, c)
    act(factory, c, "start", cid)
    [first] = claim(factory, NOW, limit=1)
    with transaction(factory) as s:
        assert hand_off(s, [first], "w1", NOW) == {first}
    act(factory, c, action, cid, NOW + timedelta(seconds=1))
    unreachable = SendOutcome(False, error_message="The provider did not answer.")
    with transaction(factory) as s:
        record(
            s,
            [Result(first, unreachable)],
            NOW + timedelta(seconds=10),
            RetryPolicy(),
            random.Random(1),
            "w1",
        )
    text = {m.id: m for m in texts(factory, cid)}[first]
    if action == "pause":
        assert (text.status, text.due_at) == ("queued", None)
        assert claim(factory, NOW + timedelta(minutes=10)) == []
        later = NOW + timedelta(minutes=20)
        act(factory, c, "resume", cid, later)
        assert first in claim(factory, later)
    else:
        assert text.status == "canceled"
        assert claim(factory, NOW + timedelta(minutes=10)) == []
