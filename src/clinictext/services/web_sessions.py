"""Signed-in browsers: start, look up (with the idle timeout), touch and end.

Sessions live in the database, not in a signed cookie, so that signing out, disabling a
user or resetting a password ends them at once on every ``serve`` replica. The cookie
holds a random token; only its SHA-256 is stored, so a copy of the database signs no one in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain import staff
from clinictext.services import audit
from clinictext.store.models import User, WebSession

# A session's last-seen time is written at most this often (a GET need not write).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    """Who is behind a request, read once per request."""

    session_id: int
    user_id: int
    org_id: int
    email: str
    role: str
    csrf_token: str
    last_seen_at: datetime

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"

    def allows(self, permission: staff.Permission) -> bool:
        return staff.allows(self.role, permission)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, now: datetime) -> str:
    """A new session for ``user``; returns the cookie token (shown only here)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=_digest(token),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    audit.record(
        session, user.organization_id, f"user:{user.id}", "user.signed_in", "user", user.id
    )
    return token


def lookup(session: Session, token: str, now: datetime, idle: timedelta) -> SignedIn | None:
    """The live session behind ``token``: not ended, not idle too long, user not disabled."""
    if not token or len(token) > 100:
        return None
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    web, user = row
    if web.ended_at is not None or user.disabled_at is not None:
        return None
    if staff.idle_expired(web.last_seen_at, now, idle):
        return None
    return SignedIn(
        session_id=web.id,
        user_id=user.id,
        org_id=user.organization_id,
        email=user.email,
        role=user.role,
        csrf_token=web.csrf_token,
        last_seen_at=web.last_seen_at,
    )


def touch(session: Session, signed_in: SignedIn, now: datetime) -> None:
    """Record activity, at most once per ``TOUCH_EVERY`` (the caller commits)."""
    if now - signed_in.last_seen_at >= TOUCH_EVERY:
        web = session.get(WebSession, signed_in.session_id)
        if web is not None and web.ended_at is None:
            web.last_seen_at = now


def end(session: Session, signed_in: SignedIn, now: datetime) -> None:
    web = session.get(WebSession, signed_in.session_id)
    if web is not None and web.ended_at is None:
        web.ended_at = now
        audit.record(
            session,
            signed_in.org_id,
            signed_in.actor,
            "user.signed_out",
            "user",
            signed_in.user_id,
        )
