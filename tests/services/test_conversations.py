"""The inbox and the Lead Dashboard queries on a real database (SQLite and PostgreSQL):
order by last activity, every filter, paging, one organization's rows only, assignment
with its audit record, and the board's counts, caps, search and unread filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.leads import LeadStage
from clinictext.domain.statuses import Label
from clinictext.services import conversations, lead_board, leads, orgs, patients, users
from clinictext.services.conversations import InboxFilter
from clinictext.services.errors import Invalid, NotFound
from clinictext.store.db import transaction
from clinictext.store.models import AuditEvent, Message, Patient

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
_phones = count(1)


def add_patient(s: Session, org_id: int, first: str, last: str = "Test", **extra: object) -> int:
    patient = patients.create_patient(
        s,
        org_id,
        first_name=first,
        last_name=last,
        phone=f"+1415555{next(_phones):04d}",
        actor="test",
    )
    for key, value in extra.items():
        setattr(patient, key, value)
    s.flush()
    return patient.id


def add_text(
    s: Session,
    org_id: int,
    patient_id: int,
    minute: int,
    *,
    direction: str = "inbound",
    status: str | None = None,
    body: str = "Hello",
    kind: str = "manual",
) -> int:
    """A text ``minute`` minutes after T0 (ids follow the order they are added)."""
    message = Message(
        organization_id=org_id,
        patient_id=patient_id,
        direction=direction,
        kind=kind,
        channel="clinic",
        lane=0,
        body=body,
        encoding="GSM-7",
        segments=1,
        to_phone="+14155550000",
        status=status or ("received" if direction == "inbound" else "delivered"),
        created_by="test",
        created_at=T0 + timedelta(minutes=minute),
        updated_at=T0 + timedelta(minutes=minute),
    )
    s.add(message)
    s.flush()
    return message.id


def ids(page: conversations.InboxPage) -> list[int]:
    return [c.patient_id for c in page.items]


@pytest.fixture
def clinic(factory: sessionmaker[Session]) -> dict[str, int]:
    """Two organizations; the first with two users and conversations of every kind."""
    with transaction(factory) as s:
        org = orgs.create_org(s, "Clinic", actor="test").id
        other = orgs.create_org(s, "Other", actor="test").id
        ana = users.create_user(s, org, "ana@clinic.example", "staff", "password-ana", "t").id
        ben = users.create_user(s, org, "ben@clinic.example", "admin", "password-ben", "t").id
        stranger = users.create_user(s, other, "x@other.example", "staff", "password-x1", "t").id

        silent = add_patient(s, org, "Silent")  # no texts: not a conversation
        read = add_patient(s, org, "Read")
        add_text(s, org, read, 1)
        add_text(s, org, read, 2, direction="outbound", body="We replied")
        unread = add_patient(s, org, "Unread", unread_count=2)
        add_text(s, org, unread, 3)
        add_text(s, org, unread, 4, body="Second question")
        review = add_patient(s, org, "Review", review_flag="revocation", unread_count=1)
        add_text(s, org, review, 5, body="please stop texting me")
        unknown = add_patient(s, org, "Unknown", "sender", unknown_sender=True, unread_count=1)
        add_text(s, org, unknown, 6, body="who is this")
        failed = add_patient(s, org, "Failed", assigned_user_id=ana)
        add_text(s, org, failed, 7, direction="outbound", status="undelivered", body="Reminder")
        recovered = add_patient(s, org, "Recovered")
        add_text(s, org, recovered, 8, direction="outbound", status="failed")
        add_text(s, org, recovered, 9, direction="outbound", status="delivered")
        pending_after_failure = add_patient(s, org, "Waiting", assigned_user_id=ben)
        add_text(s, org, pending_after_failure, 10, direction="outbound", status="failed")
        add_text(s, org, pending_after_failure, 11, body="did you get it?")

        elsewhere = add_patient(s, other, "Elsewhere", unread_count=1, unknown_sender=True)
        add_text(s, other, elsewhere, 12)
    return {
        "org": org,
        "other": other,
        "ana": ana,
        "ben": ben,
        "stranger": stranger,
        "silent": silent,
        "read": read,
        "unread": unread,
        "review": review,
        "unknown": unknown,
        "failed": failed,
        "recovered": recovered,
        "waiting": pending_after_failure,
        "elsewhere": elsewhere,
    }


def inbox(
    factory: sessionmaker[Session], org_id: int, chosen: InboxFilter, **kw: object
) -> conversations.InboxPage:
    with transaction(factory) as s:
        return conversations.inbox(s, org_id, chosen=chosen, **kw)  # type: ignore[arg-type]


def test_conversations_come_newest_activity_first_either_way(
    factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    page = inbox(factory, clinic["org"], InboxFilter.ALL)
    assert ids(page) == [
        clinic["waiting"],
        clinic["recovered"],
        clinic["failed"],
        clinic["unknown"],
        clinic["review"],
        clinic["unread"],
        clinic["read"],
    ]
    assert clinic["silent"] not in ids(page) and clinic["elsewhere"] not in ids(page)
    assert page.next_cursor is None
    by_id = {c.patient_id: c for c in page.items}
    read = by_id[clinic["read"]]
    assert (read.last_direction, read.last_excerpt, read.unread) == (
        "outbound",
        "We replied",
        False,
    )
    unread = by_id[clinic["unread"]]
    assert (unread.unread_count, unread.last_excerpt, unread.unread) == (2, "Second question", True)
    assert by_id[clinic["unknown"]].name == "(415) 555-" + by_id[clinic["unknown"]].phone[-4:]  # type: ignore[index]
    assert by_id[clinic["failed"]].assignee_email == "ana@clinic.example"
    assert by_id[clinic["failed"]].last_outbound_label is Label.FAILED
    assert by_id[clinic["recovered"]].last_outbound_label is Label.DELIVERED
    assert by_id[clinic["unknown"]].last_outbound_label is None


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (InboxFilter.UNREAD, ["unknown", "review", "unread"]),
        (InboxFilter.REVIEW, ["review"]),
        (InboxFilter.UNKNOWN, ["unknown"]),
        # The newest text to the patient failed; a later delivered one settles it.
        (InboxFilter.FAILED, ["waiting", "failed"]),
        (InboxFilter.MINE, ["failed"]),
    ],
)
def test_each_filter_keeps_its_conversations_in_order(
    factory: sessionmaker[Session],
    clinic: dict[str, int],
    chosen: InboxFilter,
    expected: list[str],
) -> None:
    page = inbox(factory, clinic["org"], chosen, user_id=clinic["ana"])
    assert ids(page) == [clinic[name] for name in expected]


def test_mine_is_whoever_asks_and_needs_someone(
    factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    assert ids(inbox(factory, clinic["org"], InboxFilter.MINE, user_id=clinic["ben"])) == [
        clinic["waiting"]
    ]
    with pytest.raises(Invalid):
        inbox(factory, clinic["org"], InboxFilter.MINE)


def test_another_organization_sees_only_its_own(
    factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    for chosen in InboxFilter:
        page = inbox(factory, clinic["other"], chosen, user_id=clinic["stranger"])
        expected = (
            []
            if chosen in (InboxFilter.REVIEW, InboxFilter.FAILED, InboxFilter.MINE)
            else [clinic["elsewhere"]]
        )
        assert ids(page) == expected, chosen


def test_pages_follow_each_other_without_gaps_or_repeats(
    factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    everything = ids(inbox(factory, clinic["org"], InboxFilter.ALL))
    seen: list[int] = []
    cursor = None
    while True:
        page = inbox(factory, clinic["org"], InboxFilter.ALL, limit=3, cursor=cursor)
        assert len(page.items) <= 3
        seen += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == everything
    unread = inbox(factory, clinic["org"], InboxFilter.UNREAD, limit=2)
    assert len(unread.items) == 2 and unread.next_cursor is not None
    rest = inbox(factory, clinic["org"], InboxFilter.UNREAD, limit=2, cursor=unread.next_cursor)
    assert ids(rest) == [clinic["unread"]] and rest.next_cursor is None


def test_a_long_text_is_cut_to_an_excerpt(
    factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    with transaction(factory) as s:
        add_text(s, clinic["org"], clinic["read"], 30, body="x" * 1000)
    first = inbox(factory, clinic["org"], InboxFilter.ALL, limit=1).items[0]
    assert first.patient_id == clinic["read"]
    assert first.last_excerpt == "x" * conversations.EXCERPT_CHARS and first.last_truncated


def test_a_page_is_one_query(
    engine: Engine, factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    statements: list[str] = []

    def count_it(*args: object) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count_it)
    try:
        with factory() as s:
            for chosen in InboxFilter:
                before = len(statements)
                conversations.inbox(s, clinic["org"], chosen=chosen, user_id=clinic["ana"])
                assert len(statements) - before == 1, statements[before:]
    finally:
        event.remove(engine, "before_cursor_execute", count_it)


def test_assigning_and_unassigning_is_audited_with_the_user_as_actor(
    factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    org, target = clinic["org"], clinic["read"]
    with transaction(factory) as s:
        conversations.assign(s, org, target, clinic["ben"], f"user:{clinic['ana']}")
        conversations.assign(s, org, target, clinic["ben"], f"user:{clinic['ana']}")  # no change
    assert ids(inbox(factory, org, InboxFilter.MINE, user_id=clinic["ben"]))[-1] == target
    with transaction(factory) as s:
        conversations.assign(s, org, target, None, f"user:{clinic['ben']}")
        assert s.get(Patient, target).assigned_user_id is None  # type: ignore[union-attr]
        events = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.organization_id == org, AuditEvent.entity_id == target)
            .where(AuditEvent.action.like("conversation.%"))
            .order_by(AuditEvent.id)
        ).all()
        assert [(e.action, e.actor, e.data) for e in events] == [
            (
                "conversation.assigned",
                f"user:{clinic['ana']}",
                {"from_user_id": None, "to_user_id": clinic["ben"]},
            ),
            (
                "conversation.unassigned",
                f"user:{clinic['ben']}",
                {"from_user_id": clinic["ben"], "to_user_id": None},
            ),
        ]


def test_a_conversation_goes_only_to_an_enabled_user_of_the_same_clinic(
    factory: sessionmaker[Session], clinic: dict[str, int]
) -> None:
    org = clinic["org"]
    with transaction(factory) as s:
        with pytest.raises(Invalid, match="not part of this clinic") as err:
            conversations.assign(s, org, clinic["read"], clinic["stranger"], "user:1")
        assert err.value.extra["field"] == "user_id"
        with pytest.raises(NotFound):
            conversations.assign(s, org, clinic["elsewhere"], clinic["ana"], "user:1")
        ben = users.get_user(s, org, clinic["ben"])
        users.disable_user(s, ben, "test", T0)
    with transaction(factory) as s:
        with pytest.raises(Invalid, match="disabled"):
            conversations.assign(s, org, clinic["read"], clinic["ben"], "user:1")
        assert [u.email for u in conversations.staff_users(s, org)] == ["ana@clinic.example"]


# --- the Lead Dashboard ---------------------------------------------------------------------


@pytest.fixture
def board_clinic(factory: sessionmaker[Session]) -> dict[str, int]:
    with transaction(factory) as s:
        org = orgs.create_org(s, "Board", actor="test").id
        other = orgs.create_org(s, "Other", actor="test").id
        made: dict[str, int] = {"org": org}
        for name, stage, extra in (
            ("Olga", LeadStage.OPEN, {}),
            ("Oscar", LeadStage.OPEN, {}),
            ("Ivan", LeadStage.IN_PROGRESS, {"substatus": "1st contact"}),
            ("Wanda", LeadStage.CLOSED_WON, {"substatus": "scheduled"}),
            ("Lars", LeadStage.CLOSED_LOST, {"reason": "Moved away"}),
        ):
            pid = add_patient(s, org, name, "Lead")
            leads.set_stage(s, org, pid, stage, actor="test", **extra)  # type: ignore[arg-type]
            made[name] = pid
        add_patient(s, org, "Notalead")  # a patient with no lead is not on the board
        theirs = add_patient(s, other, "Olga", "Elsewhere")
        leads.set_stage(s, other, theirs, LeadStage.OPEN, actor="test")
        # Oscar texted last, so he comes first in Open although his lead is older.
        add_text(s, org, made["Oscar"], 60 * 24 * 365, body="Are you open Saturday?")
        s.get(Patient, made["Oscar"]).unread_count = 1  # type: ignore[union-attr]
    return made


def names(column: lead_board.Column) -> list[str]:
    return [c.first_name for c in column.cards]


def test_the_board_has_every_stage_with_its_count_and_cards(
    factory: sessionmaker[Session], board_clinic: dict[str, int]
) -> None:
    with transaction(factory) as s:
        board = lead_board.board(s, board_clinic["org"])
    assert [(c.name, c.count) for c in board.columns] == [
        ("Open", 2),
        ("In progress", 1),
        ("Closed won", 1),
        ("Closed lost", 1),
    ]
    open_, progress, won, lost = board.columns
    assert names(open_) == ["Oscar", "Olga"]
    oscar = open_.cards[0]
    assert (oscar.last_excerpt, oscar.unread_count, oscar.last_direction) == (
        "Are you open Saturday?",
        1,
        "inbound",
    )
    assert oscar.activity_at == T0 + timedelta(minutes=60 * 24 * 365)
    assert open_.cards[1].last_excerpt is None
    assert progress.cards[0].substatus == "1st contact"
    assert won.cards[0].substatus == "scheduled"
    assert lost.cards[0].reason == "Moved away"
    assert board.total == 5


def test_a_column_shows_its_newest_cards_and_counts_the_rest(
    factory: sessionmaker[Session], board_clinic: dict[str, int]
) -> None:
    with transaction(factory) as s:
        board = lead_board.board(s, board_clinic["org"], per_stage=1)
    open_ = board.columns[0]
    assert (open_.count, names(open_), open_.more) == (2, ["Oscar"], 1)
    assert board.columns[1].more == 0


@pytest.mark.parametrize(
    ("query", "unread_only", "expected"),
    [
        ("olg", False, ["Olga"]),
        ("OSCAR lead", False, ["Oscar"]),
        ("100%", False, []),  # LIKE wildcards are searched for, not obeyed
        ("_", False, []),
        ("", True, ["Oscar"]),
    ],
)
def test_search_by_name_and_the_unread_filter(
    factory: sessionmaker[Session],
    board_clinic: dict[str, int],
    query: str,
    unread_only: bool,
    expected: list[str],
) -> None:
    with transaction(factory) as s:
        board = lead_board.board(s, board_clinic["org"], query=query, unread_only=unread_only)
    assert [n for c in board.columns for n in names(c)] == expected
    assert board.total == len(expected)


def test_search_by_phone_as_people_write_it(
    factory: sessionmaker[Session], board_clinic: dict[str, int]
) -> None:
    with transaction(factory) as s:
        phone = s.get(Patient, board_clinic["Ivan"]).phone  # type: ignore[union-attr]
        assert phone is not None
        written = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
        board = lead_board.board(s, board_clinic["org"], query=written)
    assert [n for c in board.columns for n in names(c)] == ["Ivan"]
