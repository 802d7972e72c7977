"""Appointment texts: plan each rule's text for an appointment and send it when due.

Placeholder with the interface the appointment services call; filled in by the rules and
automation work.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from clinictext.store.models import Appointment


def replan(session: Session, appointment: Appointment, now: datetime) -> None:
    """Plan (or re-plan, after a move) every enabled rule's text for ``appointment``."""


def cancel_texts(session: Session, appointment: Appointment, now: datetime, reason: str) -> None:
    """Cancel every text of ``appointment`` not yet handed to the provider."""
