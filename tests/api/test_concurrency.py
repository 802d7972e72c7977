"""Requests racing each other end in one winner and clear 409s, never a 500."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import Org


def test_racing_creates_of_one_external_id_give_one_patient(ready_org: Org, rows: Any) -> None:
    def create(i: int) -> int:
        body = {"first_name": f"P{i}", "last_name": "Race", "external_id": "PMS-1"}
        return int(ready_org.post("/patients", body).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(create, range(16)))
    assert codes.count(201) == 1
    assert set(codes) <= {201, 409}
    assert len(ready_org.get("/patients", params={"q": "PMS-1"}).json()) == 1


def test_racing_adds_of_one_sender_number_register_it_once(ready_org: Org) -> None:
    def add(_: int) -> int:
        body = {"number": "+14155550142", "purpose": "clinic"}
        return int(ready_org.post("/numbers", body).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(add, range(16)))
    assert codes.count(201) == 1
    assert set(codes) <= {201, 409}
