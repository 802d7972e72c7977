"""Staff users and their sessions on a real database (SQLite and PostgreSQL): creating,
signing in with the growing delay, disabling, resetting, and the idle timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services import orgs, users, web_sessions
from clinictext.services.errors import Conflict, Invalid
from clinictext.store.db import transaction
from clinictext.store.models import AuditEvent, User

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)
PASSWORD = "correct horse battery"


@pytest.fixture
def org_id(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return orgs.create_org(session, "Clinic", actor="test").id


@pytest.fixture
def user_id(factory: sessionmaker[Session], org_id: int) -> int:
    with transaction(factory) as session:
        return users.create_user(
            session, org_id, "Ana@Clinic.example", "staff", PASSWORD, "test"
        ).id


def attempt(
    factory: sessionmaker[Session], password: str, at: datetime
) -> User | users.SignInRefused:
    with transaction(factory) as session:
        return users.sign_in(session, "ana@clinic.example", password, at)


def test_the_password_is_stored_only_as_an_argon2id_hash(
    factory: sessionmaker[Session], user_id: int
) -> None:
    with transaction(factory) as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.email == "ana@clinic.example"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_bad_accounts_are_refused_with_the_field_named(
    factory: sessionmaker[Session], org_id: int, user_id: int
) -> None:
    cases = [
        ("not-an-email", "staff", PASSWORD, Invalid, "email"),
        ("b@clinic.example", "owner", PASSWORD, Invalid, "role"),
        ("b@clinic.example", "staff", "short", Invalid, "password"),
        ("ANA@clinic.example", "staff", PASSWORD, Conflict, "email"),
    ]
    for email, role, password, error, field in cases:
        with pytest.raises(error) as raised, transaction(factory) as session:
            users.create_user(session, org_id, email, role, password, "test")
        assert raised.value.extra["field"] == field
    with transaction(factory) as session:
        assert len(users.list_users(session, org_id)) == 1


def test_sign_in_and_the_growing_delay(factory: sessionmaker[Session], user_id: int) -> None:
    assert isinstance(attempt(factory, PASSWORD, T0), User)
    for n in range(5):
        refused = attempt(factory, "wrong", T0 + timedelta(seconds=n))
        assert isinstance(refused, users.SignInRefused) and refused.code == "wrong_credentials"
    last_failure = T0 + timedelta(seconds=4)
    assert "wait 30 seconds" in refused.message
    # During the delay, even the right password is refused unheard.
    early = attempt(factory, PASSWORD, last_failure + timedelta(seconds=29))
    assert isinstance(early, users.SignInRefused) and early.code == "sign_in_throttled"
    assert early.extra["retry_after"] >= 1
    # After it, the right password works and clears the count.
    assert isinstance(attempt(factory, PASSWORD, last_failure + timedelta(seconds=31)), User)
    again = attempt(factory, "wrong", last_failure + timedelta(seconds=32))
    assert isinstance(again, users.SignInRefused) and "wait" not in again.message


def test_unknown_emails_are_throttled_too(factory: sessionmaker[Session], user_id: int) -> None:
    for n in range(6):
        with transaction(factory) as session:
            outcome = users.sign_in(
                session, "nobody@clinic.example", "x", T0 + timedelta(seconds=n)
            )
    assert isinstance(outcome, users.SignInRefused) and outcome.code == "sign_in_throttled"


def test_sessions_end_on_sign_out_disable_reset_and_idle(
    factory: sessionmaker[Session], org_id: int, user_id: int
) -> None:
    def start(at: datetime) -> str:
        with transaction(factory) as session:
            user = session.get(User, user_id)
            assert user is not None
            return web_sessions.start(session, user, at)

    def look(token: str, at: datetime) -> web_sessions.SignedIn | None:
        with transaction(factory) as session:
            return web_sessions.lookup(session, token, at, IDLE)

    token = start(T0)
    signed_in = look(token, T0 + timedelta(minutes=29))
    assert signed_in is not None and signed_in.actor == f"user:{user_id}"
    assert signed_in.org_id == org_id and signed_in.role == "staff"
    assert look(token, T0 + timedelta(minutes=31)) is None  # idle too long
    assert look("not-a-token", T0) is None and look("", T0) is None

    # Activity moves the idle deadline (written at most once a minute).
    token = start(T0)
    with transaction(factory) as session:
        found = web_sessions.lookup(session, token, T0 + timedelta(minutes=20), IDLE)
        assert found is not None
        web_sessions.touch(session, found, T0 + timedelta(minutes=20))
    assert look(token, T0 + timedelta(minutes=45)) is not None

    # Sign-out ends only that session.
    other = start(T0)
    with transaction(factory) as session:
        found = web_sessions.lookup(session, other, T0, IDLE)
        assert found is not None
        web_sessions.end(session, found, T0)
    assert look(other, T0) is None
    assert look(token, T0 + timedelta(minutes=45)) is not None

    # A password reset ends every session; so does disabling.
    with transaction(factory) as session:
        user = users.get_user(session, org_id, user_id)
        users.reset_password(session, user, "another good password", "test", T0)
    assert look(token, T0 + timedelta(minutes=45)) is None
    token = start(T0)
    with transaction(factory) as session:
        users.disable_user(session, users.get_user(session, org_id, user_id), "test", T0)
    assert look(token, T0) is None
    disabled = attempt(factory, "another good password", T0)
    assert isinstance(disabled, users.SignInRefused) and disabled.code == "user_disabled"
    with transaction(factory) as session:
        users.enable_user(session, users.get_user(session, org_id, user_id), "test")
    assert isinstance(attempt(factory, "another good password", T0), User)


def test_actions_are_audited_with_the_actor(
    factory: sessionmaker[Session], org_id: int, user_id: int
) -> None:
    with transaction(factory) as session:
        user = users.get_user(session, org_id, user_id)
        web_sessions.start(session, user, T0)
        users.set_role(session, user, "admin", "user:99")
        actions = session.execute(
            select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.entity == "user")
        ).all()
    assert ("user.created", "test") in actions
    assert ("user.signed_in", f"user:{user_id}") in actions
    assert ("user.role_changed", "user:99") in actions


def test_another_organizations_user_is_not_found(
    factory: sessionmaker[Session], org_id: int, user_id: int
) -> None:
    with transaction(factory) as session:
        other = orgs.create_org(session, "Other", actor="test").id
    with pytest.raises(users.NotFound), transaction(factory) as session:
        users.get_user(session, other, user_id)


def test_a_user_cannot_disable_demote_or_reset_their_own_account(
    factory: sessionmaker[Session], org_id: int, user_id: int
) -> None:
    me = f"user:{user_id}"
    with transaction(factory) as session:
        user = users.get_user(session, org_id, user_id)
        users.set_role(session, user, "admin", "test")
    for change in (
        lambda s, u: users.disable_user(s, u, me, T0),
        lambda s, u: users.set_role(s, u, "staff", me),
        lambda s, u: users.reset_password(s, u, "a fine new password", me, T0),
    ):
        with pytest.raises(Conflict) as refused, transaction(factory) as session:
            change(session, users.get_user(session, org_id, user_id))
        assert refused.value.code == "own_account"
        assert "another administrator" in refused.value.message.lower()
    with transaction(factory) as session:
        user = users.get_user(session, org_id, user_id)
        assert user.disabled_at is None and user.role == "admin"
        users.set_role(session, user, "admin", me)  # saving it unchanged is no change
        users.disable_user(session, user, "user:999", T0)  # another administrator may
