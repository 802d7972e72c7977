"""Small builders for API tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import Org


def add_patient(org: Org, phone: str | None = "(415) 555-0123", **extra: Any) -> int:
    body = {"first_name": "Pat", "last_name": "Lee", "phone": phone, **extra}
    r = org.post("/patients", body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def opt_in(org: Org, patient_id: int, level: str = "informational") -> None:
    r = org.post(
        f"/patients/{patient_id}/consent",
        {"action": "opt_in", "level": level, "source": "web_form", "evidence": "form #12"},
    )
    assert r.status_code == 201, r.text


def open_lead(org: Org, patient_id: int) -> None:
    assert org.put(f"/patients/{patient_id}/lead", {"stage": "open"}).status_code == 200


def textable_patient(org: Org, phone: str = "(415) 555-0123") -> int:
    """A patient every check passes for, on both channels."""
    pid = add_patient(org, phone)
    opt_in(org, pid, "marketing")
    open_lead(org, pid)
    return pid


def failing(checks: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in checks if not c["ok"]]


def check(checks: list[dict[str, Any]], check_id: str) -> dict[str, Any]:
    return next(c for c in checks if c["id"] == check_id)
