"""``clinictext cancel ID --org ORG``: the command-line twin of POST /messages/{id}/cancel."""

from __future__ import annotations

from sqlalchemy import update

from clinictext.store.db import make_engine, session_factory, transaction
from clinictext.store.models import Message
from tests.cli.support import Clinic, is_sentence, only_json, run_cli


def queue_text(clinic: Clinic) -> int:
    sent = run_cli(
        clinic.url,
        "send",
        str(clinic.textable),
        "--org",
        str(clinic.org_id),
        "--body",
        "Hi Ana, see you Tuesday.",
        "--json",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    return int(only_json(sent)["id"])


def set_status(url: str, message_id: int, status: str) -> None:
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as s:
            s.execute(update(Message).where(Message.id == message_id).values(status=status))
    finally:
        engine.dispose()


def test_cancel_json_prints_the_canceled_message(clinic: Clinic) -> None:
    mid = queue_text(clinic)
    result = run_cli(clinic.url, "cancel", str(mid), "--org", str(clinic.org_id), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = only_json(result)
    assert (data["id"], data["status"]) == (mid, "canceled")
    assert [h["status"] for h in data["history"]] == ["queued", "canceled"]
    assert data["history"][-1]["detail"] == "canceled by cli"
    assert data["from"] == "+14155550100"  # the API's field names


def test_cancel_says_so_in_words(clinic: Clinic) -> None:
    mid = queue_text(clinic)
    result = run_cli(clinic.url, "cancel", str(mid), "--org", str(clinic.org_id))
    assert result.returncode == 0
    assert f"Message {mid} is canceled" in result.stdout


def test_a_text_handed_to_the_provider_is_not_canceled_exit_1(clinic: Clinic) -> None:
    mid = queue_text(clinic)
    set_status(clinic.url, mid, "sent")
    human = run_cli(clinic.url, "cancel", str(mid), "--org", str(clinic.org_id))
    assert human.returncode == 1
    assert "handed to the provider" in human.stderr

    as_json = run_cli(clinic.url, "cancel", str(mid), "--org", str(clinic.org_id), "--json")
    assert as_json.returncode == 1
    error = only_json(as_json)["error"]
    assert error["code"] == "not_cancelable"
    assert is_sentence(error["message"])


def test_cancel_of_an_unknown_message_exits_2(clinic: Clinic) -> None:
    result = run_cli(clinic.url, "cancel", "999", "--org", str(clinic.org_id), "--json")
    assert result.returncode == 2
    assert only_json(result)["error"]["code"] == "message_not_found"
