"""The Twilio adapter's pure parts: status mapping, webhook parsing and signatures."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from clinictext.domain.statuses import Status
from clinictext.providers.twilio import TwilioProvider, map_status

TOKEN = "secret-token"
PROVIDER = TwilioProvider("AC" + "1" * 32, TOKEN, "http://127.0.0.1:1")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("accepted", Status.SENT),
        ("queued", Status.SENT),
        ("sending", Status.SENT),
        ("sent", Status.SENT),
        ("delivered", Status.DELIVERED),
        ("read", Status.DELIVERED),
        ("undelivered", Status.UNDELIVERED),
        ("failed", Status.FAILED),
        ("canceled", Status.CANCELED),
        ("DELIVERED", Status.DELIVERED),
    ],
)
def test_twilio_statuses_map_onto_ours(raw: str, status: Status) -> None:
    assert map_status(raw) is status


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        map_status("teleported")


def test_status_callback_is_parsed_with_its_error_code() -> None:
    report = PROVIDER.parse_status(
        {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    )
    assert (report.provider_id, report.status, report.error_code) == (
        "SM1",
        Status.UNDELIVERED,
        "30003",
    )
    legacy = PROVIDER.parse_status({"SmsSid": "SM2", "SmsStatus": "sent"})
    assert (legacy.provider_id, legacy.status, legacy.error_code) == ("SM2", Status.SENT, None)


@pytest.mark.parametrize("params", [{}, {"MessageSid": "SM1"}, {"MessageStatus": "sent"}])
def test_incomplete_status_callback_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        PROVIDER.parse_status(params)


def test_inbound_text_is_parsed() -> None:
    text = PROVIDER.parse_inbound(
        {
            "MessageSid": "SM9",
            "From": "+14155550123",
            "To": "+14155550100",
            "Body": "STOP",
            "NumSegments": "1",
        }
    )
    assert (text.provider_id, text.from_, text.to, text.body, text.segments) == (
        "SM9",
        "+14155550123",
        "+14155550100",
        "STOP",
        1,
    )


def test_signature_made_by_twilio_validates_and_a_changed_one_does_not() -> None:
    url = "https://clinic.example/webhooks/twilio/status?mid=42"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    assert PROVIDER.verify_signature(url, params, signature)
    assert not PROVIDER.verify_signature(url, {**params, "MessageStatus": "failed"}, signature)
    assert not PROVIDER.verify_signature(url.replace("42", "43"), params, signature)
    assert not PROVIDER.verify_signature(url, params, "")


def test_a_signature_over_the_url_with_or_without_its_port_is_accepted() -> None:
    """Twilio signs the URL as it was configured, sometimes with the default port spelt
    out: the check accepts either form, and nothing else."""
    params = {"MessageSid": "SM1", "MessageStatus": "delivered", "ErrorCode": ""}
    plain = "https://clinic.example/webhooks/twilio/status?mid=42"
    ported = "https://clinic.example:443/webhooks/twilio/status?mid=42"
    validator = RequestValidator(TOKEN)
    for configured in (plain, ported):
        for signed in (plain, ported):
            assert PROVIDER.verify_signature(
                configured, params, validator.compute_signature(signed, params)
            ), (configured, signed)
    other = validator.compute_signature(
        "https://clinic.example:8443/webhooks/twilio/status?mid=42", params
    )
    assert not PROVIDER.verify_signature(plain, params, other)
    assert not PROVIDER.verify_signature(plain, params, "x" * 28)
