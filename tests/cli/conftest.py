"""Fixtures of the command-line tests: a database to run the installed script against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clinictext.domain.checklist import Channel
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.services import consent, numbers, orgs, patients
from clinictext.store.db import make_engine, session_factory, transaction
from tests.cli.support import Clinic


@pytest.fixture
def cli_url(db_url: str, tmp_path: Path) -> str:
    """SQLite: a new file nobody has migrated; PostgreSQL: the emptied test database."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'x.db'}"
    return db_url


@pytest.fixture
def clinic(db_url: str) -> Iterator[Clinic]:
    """A migrated database with an organization set up to text (seeded through the services)."""
    engine = make_engine(db_url)
    try:
        with transaction(session_factory(engine)) as s:
            org_id = orgs.create_org(s, "Demo Clinic", actor="test").id
            orgs.update_org(
                s, org_id, {"sms_enabled": True, "messaging_registration": "approved"}, "test"
            )
            numbers.add_number(s, org_id, "+14155550100", Channel.CLINIC, "long_code", 1, "test")
            numbers.add_number(s, org_id, "+15005550006", Channel.LEAD, "long_code", 1, "test")
            ana = patients.create_patient(
                s,
                org_id,
                first_name="Ana",
                last_name="Diaz",
                phone="(415) 555-0123",
                actor="test",
            ).id
            consent.record(
                s,
                org_id,
                ana,
                action=ConsentAction.OPT_IN,
                source="web_form",
                level=ConsentLevel.INFORMATIONAL,
                evidence="ticked the box",
                actor="test",
            )
            bo = patients.create_patient(
                s,
                org_id,
                first_name="Bo",
                last_name="Quiet",
                phone="(415) 555-0124",
                actor="test",
            ).id
        yield Clinic(db_url, org_id, ana, bo)
    finally:
        engine.dispose()
