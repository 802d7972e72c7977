"""Running the installed ``clinictext`` script in tests, and reading what it prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from clinictext.store.db import make_engine, session_factory
from clinictext.store.models import Message

CLINICTEXT = str(Path(sys.executable).with_name("clinictext"))
# SPEC.md §3: every check, in this order.
SPEC_CHECK_ORDER = ["sms_enabled", "sender_number", "phone", "consent", "lead_stage", "spend_limit"]


def run_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLINICTEXT_DATABASE_URL": url,
        "COLUMNS": "200",  # Rich wraps tables to the terminal width; keep rows on one line
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [CLINICTEXT, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def only_json(result: subprocess.CompletedProcess[str]) -> Any:
    """``--json`` prints exactly one JSON object on stdout."""
    return json.loads(result.stdout)


def is_sentence(text: str) -> bool:
    return bool(re.match(r"^[A-Z'\"].{8,}[.!?]$", text.strip(), re.S))


@dataclass
class Clinic:
    url: str
    org_id: int
    textable: int  # opted in (informational), valid wireless phone
    never_opted_in: int


def message_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            return int(s.scalar(select(func.count()).select_from(Message)) or 0)
    finally:
        engine.dispose()
