"""Staff users: create, list, disable, reset a password, and check a sign-in.

Passwords are hashed with argon2id (argon2-cffi, the reference implementation's maintained
binding, with its recommended parameters); nothing else about a password is stored. A
sign-in for an unknown email still spends one hash, so the answer's timing does not tell
which emails have accounts.
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clinictext.domain import staff
from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, Invalid, NotFound, ServiceError
from clinictext.store.models import LoginThrottle, User, WebSession

_hasher = PasswordHasher()
# A real hash of nothing anyone knows: checked against when the email has no account.
_DECOY = _hasher.hash("clinictext decoy password, never valid")


class SignInRefused(ServiceError):
    """Wrong email or password, a disabled account, or too many recent failures."""

    status = 401
    code = "sign_in_refused"


def _check_role(role: str) -> str:
    if role not in {r.value for r in staff.Role}:
        raise Invalid("The role must be 'admin' or 'staff'.", code="invalid_role", field="role")
    return role


def _check_password(password: str) -> None:
    problem = staff.password_problem(password)
    if problem:
        raise Invalid(problem, code="invalid_password", field="password")


def create_user(
    session: Session, org_id: int, email: str, role: str, password: str, actor: str
) -> User:
    """A new user of ``org_id``; the email must not have an account in any organization."""
    email = staff.normalize_email(email)
    problem = staff.email_problem(email)
    if problem:
        raise Invalid(problem, code="invalid_email", field="email")
    _check_role(role)
    _check_password(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(
            f"{email} already has an account. Reset its password instead of creating it again.",
            code="email_taken",
            field="email",
        )
    user = User(
        organization_id=org_id,
        email=email,
        role=role,
        password_hash=_hasher.hash(password),
        created_at=utcnow(),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"{email} already has an account.", code="email_taken", field="email"
        ) from None
    audit.record(session, org_id, actor, "user.created", "user", user.id, {"role": role})
    return user


def list_users(session: Session, org_id: int) -> list[User]:
    return list(
        session.scalars(select(User).where(User.organization_id == org_id).order_by(User.id))
    )


def get_user(session: Session, org_id: int, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.organization_id != org_id:
        raise NotFound(f"There is no user {user_id} in this organization.", code="user_not_found")
    return user


def find_by_email(session: Session, org_id: int, email: str) -> User:
    email = staff.normalize_email(email)
    user = session.scalar(select(User).where(User.organization_id == org_id, User.email == email))
    if user is None:
        raise NotFound(f"There is no user {email} in this organization.", code="user_not_found")
    return user


# What a signed-in user may not do to their own account, and why: each would let one lost
# session lock the clinic out of its settings. Another administrator can do it.
_OWN_ACCOUNT = {
    "disable": "You cannot disable your own account. Ask another administrator to do it.",
    "role": (
        "You cannot change your own role: you would lose access to the settings. "
        "Ask another administrator."
    ),
    "password": (
        "Your own password is changed by another administrator, so that a lost session "
        "cannot change it."
    ),
}


def _refuse_own_account(user: User, actor: str, change: str, field: str | None) -> None:
    if actor == f"user:{user.id}":
        raise Conflict(_OWN_ACCOUNT[change], code="own_account", field=field)


def end_sessions(session: Session, user_id: int, now: datetime) -> None:
    """Sign the user out everywhere."""
    session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def disable_user(session: Session, user: User, actor: str, now: datetime) -> User:
    """Disable ``user``: their sessions stop working at once. Not one's own account."""
    _refuse_own_account(user, actor, "disable", None)
    if user.disabled_at is None:
        user.disabled_at = now
        end_sessions(session, user.id, now)
        audit.record(session, user.organization_id, actor, "user.disabled", "user", user.id)
    return user


def enable_user(session: Session, user: User, actor: str) -> User:
    if user.disabled_at is not None:
        user.disabled_at = None
        audit.record(session, user.organization_id, actor, "user.enabled", "user", user.id)
    return user


def set_role(session: Session, user: User, role: str, actor: str) -> User:
    """Change ``user``'s role; not one's own (saving it unchanged is no change)."""
    _check_role(role)
    if user.role != role:
        _refuse_own_account(user, actor, "role", "role")
        user.role = role
        audit.record(
            session,
            user.organization_id,
            actor,
            "user.role_changed",
            "user",
            user.id,
            {"role": role},
        )
    return user


def reset_password(session: Session, user: User, password: str, actor: str, now: datetime) -> User:
    """A new password; every session of the user ends. Not one's own, from a session."""
    _refuse_own_account(user, actor, "password", "password")
    _check_password(password)
    user.password_hash = _hasher.hash(password)
    end_sessions(session, user.id, now)
    session.execute(delete(LoginThrottle).where(LoginThrottle.email == user.email))
    audit.record(session, user.organization_id, actor, "user.password_reset", "user", user.id)
    return user


def sign_in(session: Session, email: str, password: str, now: datetime) -> User | SignInRefused:
    """The active user with this email and password, or the refusal saying why.

    The refusal is returned, not raised, because the failure count it wrote must be
    committed. Failures are counted per email (with or without an account); after five,
    each attempt must wait a growing delay, and an attempt during the wait is refused unheard.
    """
    email = staff.normalize_email(email)[:254]
    throttle = session.get(LoginThrottle, email)
    wait = staff.wait_remaining(
        throttle.failures if throttle else 0, throttle.last_failure_at if throttle else None, now
    )
    if wait:
        return SignInRefused(
            f"Too many failed sign-ins for this email. Try again in {staff.describe_wait(wait)}.",
            code="sign_in_throttled",
            retry_after=int(wait.total_seconds()) + 1,
        )
    user = session.scalar(select(User).where(User.email == email))
    if _verified(user.password_hash if user else _DECOY, password) and user is not None:
        if user.disabled_at is not None:
            return SignInRefused(
                "This account is disabled. Ask your clinic's administrator to enable it.",
                code="user_disabled",
            )
        if throttle is not None:
            session.delete(throttle)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return user
    if throttle is None:
        throttle = LoginThrottle(email=email, failures=0, last_failure_at=now)
        session.add(throttle)
    throttle.failures += 1
    throttle.last_failure_at = now
    wait = staff.delay_after(throttle.failures)
    message = "The email or password is not right. Check both and try again."
    if wait:
        message += (
            " Too many failed sign-ins for this email: "
            f"wait {staff.describe_wait(wait)} before the next try."
        )
    return SignInRefused(message, code="wrong_credentials")


def _verified(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password[: staff.MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        return False
