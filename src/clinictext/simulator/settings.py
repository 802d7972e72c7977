"""Settings of the carrier simulator (kept apart from ``app`` so every module can import them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatorSettings:
    """How one simulated carrier behaves.

    ``account_sid``/``auth_token`` are the credentials clients must present (HTTP Basic) and
    the key every webhook is signed with. ``inbound_webhook_url`` is where patient replies
    injected with ``POST /_control/inbound`` are delivered (clinictext's
    ``/webhooks/twilio/sms``). ``seed`` makes every SID and every random delay reproducible.
    The ``callback_*`` fields tune status-callback delivery: the delay before each callback,
    how many times a callback that fails (connection error, timeout or 5xx) is retried, the
    first back-off (doubled on each retry) and the time allowed for one attempt.
    """

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "simulator-auth-token"
    inbound_webhook_url: str | None = None
    seed: int = 1
    callback_delay_ms: tuple[int, int] = (20, 80)
    callback_retries: int = 3
    callback_backoff_ms: int = 100
    callback_timeout_s: float = 15.0
