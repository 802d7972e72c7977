"""Asking the provider whether pending landline and toll-free sender numbers are confirmed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Verification
from clinictext.providers.base import Provider, ProviderUnavailable
from clinictext.services import audit
from clinictext.store.db import transaction
from clinictext.store.models import SenderNumber


async def check_verifications(
    factory: sessionmaker[Session],
    provider: Provider,
    now: datetime,
    every: timedelta,
    organization_id: int | None = None,
) -> int:
    """Ask the provider about pending landline and toll-free senders; returns changes."""

    def pending(session: Session) -> list[tuple[int, str, str]]:
        query = select(SenderNumber.id, SenderNumber.number, SenderNumber.kind).where(
            SenderNumber.verification == Verification.PENDING.value,
        )
        if organization_id is not None:
            query = query.where(SenderNumber.organization_id == organization_id)
        else:
            query = query.where(
                (SenderNumber.checked_at.is_(None)) | (SenderNumber.checked_at < now - every)
            )
        return [tuple(r) for r in session.execute(query.limit(100)).all()]  # type: ignore[misc]

    def save(session: Session, answers: list[tuple[int, Verification]]) -> int:
        changed = 0
        for number_id, verification in answers:
            sender = session.get(SenderNumber, number_id)
            if sender is None:
                continue
            sender.checked_at = now
            if verification.value != sender.verification:
                sender.verification = verification.value
                sender.verified_at = now if verification is Verification.VERIFIED else None
                audit.record(
                    session,
                    sender.organization_id,
                    "provider",
                    f"number.{verification.value}",
                    "sender_number",
                    sender.id,
                    {"number": sender.number},
                    at=now,
                )
                changed += 1
        return changed

    def run_in_tx(fn: Any, *args: Any) -> Any:
        with transaction(factory) as session:
            return fn(session, *args)

    numbers = await asyncio.to_thread(run_in_tx, pending)
    answers: list[tuple[int, Verification]] = []
    for number_id, number, kind in numbers:
        try:
            answers.append((number_id, await provider.sender_verification(number, kind)))
        except ProviderUnavailable:
            break
    if not answers:
        return 0
    return int(await asyncio.to_thread(run_in_tx, save, answers))
