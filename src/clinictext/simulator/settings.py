"""Settings of the carrier simulator (kept apart from ``app`` so every module can import them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CONTROL_FROM_VARIABLE = "CLINICTEXT_SIMULATOR_CONTROL_FROM"


def _control_from_environment() -> str:
    return os.environ.get(CONTROL_FROM_VARIABLE, "").strip().lower() or "loopback"


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
    ``control_from`` says who may use the control API: ``"loopback"`` (this machine only)
    or ``"any"``; by default ``CLINICTEXT_SIMULATOR_CONTROL_FROM``, else ``"loopback"``.
    """

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "simulator-auth-token"
    inbound_webhook_url: str | None = None
    seed: int = 1
    callback_delay_ms: tuple[int, int] = (20, 80)
    callback_retries: int = 3
    callback_backoff_ms: int = 100
    callback_timeout_s: float = 15.0
    control_from: str = field(default_factory=_control_from_environment)

    def __post_init__(self) -> None:
        if self.control_from not in ("loopback", "any"):
            raise ValueError(
                f"The simulator's control_from ({CONTROL_FROM_VARIABLE}) must be 'loopback' "
                f"or 'any', not {self.control_from!r}."
            )
