"""Digits that are not decimal digits ("²", "¹") pass ``str.isdigit`` but make ``int``
fail: wherever an id, a cursor or a number is read from text, they are bad input (4xx or
ignored), never a server error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Org


@pytest.mark.parametrize(
    "path",
    [
        "/appointments?cursor=².1",
        "/appointments?cursor=1.²",
        "/campaigns?cursor=²",
        "/patients?cursor=²",
        "/messages?cursor=²",
    ],
)
def test_a_superscript_digit_in_a_cursor_is_bad_input(ready_org: Org, path: str) -> None:
    answer = ready_org.get(path)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["message"]


def test_a_superscript_patient_id_in_an_appointment_file_is_a_bad_row(
    ready_org: Org, factory: Any
) -> None:
    from clinictext.services import appointment_import
    from clinictext.store.db import transaction

    data = "patient_id,starts_at\n²,2030-01-01T10:00:00+00:00\n".encode()
    rows = appointment_import.read_csv(data)
    with transaction(factory) as session:
        report = appointment_import.import_appointments(session, ready_org.id, rows, actor="test")
        assert report.rejected and not report.committed
