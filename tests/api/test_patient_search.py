"""Finding a patient: by the start of a first or last name, whatever the case and accents,
by external id or by phone; the search keys follow every write of a name."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.name_search import name_keys, search_words
from clinictext.services import importing
from clinictext.services.clock import utcnow
from clinictext.services.patients import prefix_range
from clinictext.store.db import transaction
from clinictext.store.models import Patient
from tests.conftest import Org


def add(org: Org, first: str, last: str, **extra: Any) -> int:
    r = org.post("/patients", {"first_name": first, "last_name": last, **extra})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def found(org: Org, q: str, **params: Any) -> list[int]:
    r = org.get("/patients", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()]


def test_names_are_folded_to_lower_case_words_without_accents() -> None:
    assert search_words("  José   PEÑA ") == "jose pena"
    assert search_words("Søren O'Brien-Ærø") == "soren obrien aero"
    assert search_words("Straße, Zoë") == "strasse zoe"
    assert search_words("%_\\") == ""
    assert name_keys("John", "Smith") == ("john smith", "smith john")
    assert name_keys("Cher", "") == ("cher", "cher")


def test_a_prefix_range_holds_exactly_the_strings_that_start_with_it() -> None:
    assert prefix_range("smi") == ("smi", "smj")
    low, high = prefix_range("jo")
    for key in ("jo", "john smith", "jo\U0010fffd"):
        assert low <= key < high
    for key in ("j", "jp", "jn zzz"):
        assert not low <= key < high
    assert prefix_range("a\U0010ffff") == ("a", "b")
    assert prefix_range("\ud7ff") == ("\ud7ff", "\ue000")


def test_the_start_of_a_first_or_last_name_finds_the_patient(ready_org: Org) -> None:
    john = add(ready_org, "John", "Smith")
    jane = add(ready_org, "Jane", "Smithers")
    ana = add(ready_org, "Ana", "Johnson")
    assert found(ready_org, "smi") == [john, jane]
    assert found(ready_org, "john sm") == [john]
    assert found(ready_org, "SMITH") == [john, jane]
    assert found(ready_org, "SMITH J") == [john]
    assert found(ready_org, "smith, john") == [john]
    assert found(ready_org, "jo") == [john, ana]
    assert found(ready_org, "ana johnson") == [ana]
    # A name is found by its start, not by letters in its middle.
    assert found(ready_org, "ohn") == []
    assert found(ready_org, "%") == []


def test_case_and_accents_do_not_matter_either_way(ready_org: Org) -> None:
    jose = add(ready_org, "José", "Peña")
    soren = add(ready_org, "Søren", "O'Brien")
    assert found(ready_org, "jose pena") == [jose]
    assert found(ready_org, "PEÑA") == [jose]
    assert found(ready_org, "Josè") == [jose]
    assert found(ready_org, "obri") == [soren]
    assert found(ready_org, "o'b") == [soren]
    assert found(ready_org, "soren") == [soren]


def test_external_id_and_phone_are_found_too(ready_org: Org) -> None:
    pid = add(ready_org, "Pat", "Lee", external_id="PMS-77", phone="(415) 555-0188")
    add(ready_org, "Pms", "Other")
    assert found(ready_org, "PMS-77") == [pid]
    assert found(ready_org, "415-555-0188") == [pid]
    assert found(ready_org, "+1 415 555 0188") == [pid]
    assert found(ready_org, "555-0188") == []  # too few digits to be a number


def test_search_pages_by_id_with_the_cursor(ready_org: Org) -> None:
    ids = [add(ready_org, f"P{i}", "Garcia") for i in range(5)]
    add(ready_org, "Other", "Name")
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params = {"q": "garc", "limit": 2} | ({"cursor": cursor} if cursor else {})
        r = ready_org.get("/patients", params=params)
        assert r.status_code == 200
        seen += [p["id"] for p in r.json()]
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert seen == ids


def test_a_changed_name_is_found_by_its_new_name_only(ready_org: Org) -> None:
    pid = add(ready_org, "Maria", "Lopez")
    assert ready_org.patch(f"/patients/{pid}", {"last_name": "Álvarez"}).status_code == 200
    assert found(ready_org, "lope") == []
    assert found(ready_org, "alva") == [pid]
    assert found(ready_org, "maria alv") == [pid]
    assert ready_org.patch(f"/patients/{pid}", {"first_name": "Marisol"}).status_code == 200
    assert found(ready_org, "maria alv") == []
    assert found(ready_org, "marisol a") == [pid]
    assert found(ready_org, "alvarez marisol") == [pid]


def test_imported_patients_are_found_new_and_updated(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    def load(csv: str) -> None:
        with transaction(factory) as s:
            report = importing.import_patients(
                s, ready_org.id, importing.read_csv(csv.encode()), actor="test"
            )
            assert report.committed

    load("first_name,last_name,external_id\nÉmile,Zola,PMS-9\n")
    [pid] = found(ready_org, "emile z")
    load("first_name,last_name,external_id\nÉmile,Durand,PMS-9\n")
    assert found(ready_org, "zola") == []
    assert found(ready_org, "durand emi") == [pid]


def test_rows_inserted_in_bulk_get_their_keys(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    now = utcnow()
    row = {
        "organization_id": ready_org.id,
        "phone_status": "missing",
        "created_at": now,
        "updated_at": now,
    }
    with transaction(factory) as s:
        s.execute(
            insert(Patient),
            [
                row | {"first_name": "Bulk", "last_name": "Ünal"},
                row | {"first_name": "Zed", "last_name": ""},
            ],
        )
        keys = s.execute(select(Patient.name_key, Patient.surname_key).order_by(Patient.id)).all()
    assert [tuple(k) for k in keys] == [("bulk unal", "unal bulk"), ("zed", "zed")]
    assert len(found(ready_org, "unal")) == 1


@pytest.mark.parametrize("q", ["a\u0301", "\U0010ffff", "' ' '", "x" * 100, "日本"])
def test_odd_searches_answer_a_list(ready_org: Org, q: str) -> None:
    add(ready_org, "日本", "太郎")
    r = ready_org.get("/patients", params={"q": q})
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), list)
