"""Settings of the carrier simulator (kept apart from ``app`` so every module can import them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CONTROL_FROM_VARIABLE = "CLINICTEXT_SIMULATOR_CONTROL_FROM"
HISTORY_VARIABLE = "CLINICTEXT_SIMULATOR_HISTORY"
DEFAULT_HISTORY = 50_000


def _control_from_environment() -> str:
    return os.environ.get(CONTROL_FROM_VARIABLE, "").strip().lower() or "loopback"


def _history_from_environment() -> int:
    raw = os.environ.get(HISTORY_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_HISTORY
    if not raw.isdecimal():
        raise ValueError(f"{HISTORY_VARIABLE} must be a whole number of messages, not {raw!r}.")
    return int(raw)


@dataclass(frozen=True)
class SimulatorSettings:
    """How one simulated carrier behaves.

    ``account_sid``/``auth_token`` are the credentials clients must present (HTTP Basic) and
    the key every webhook is signed with. ``inbound_webhook_url`` is where patient replies
    injected with ``POST /_control/inbound`` are delivered (clinictext's
    ``/webhooks/twilio/sms``). ``seed`` makes every SID and every random delay reproducible.
    The ``callback_*`` fields tune status-callback delivery: the delay before each callback,
    how many times a callback that fails (connection error, timeout or 5xx) is retried, the
    first back-off (doubled on each retry) and the time allowed for one attempt, counted from
    when the request goes out: at most ``callback_concurrency`` webhooks are in flight at
    once, and one waiting for its turn is not timing out (a burst of thousands of callbacks
    to a slow server is delivered late, never given up unsent).
    ``control_from`` says who may use the control API: ``"loopback"`` (this machine only)
    or ``"any"``; by default ``CLINICTEXT_SIMULATOR_CONTROL_FROM``, else ``"loopback"``.

    ``history`` bounds what the simulator remembers, so a long run keeps its memory flat: the
    newest ``history`` messages (outbound and inbound) and the callback attempts made for
    them. When one more arrives the oldest is forgotten with its callback log; fetching it
    then answers 404 (Twilio's 20404, as for a SID Twilio never issued), and the list and the
    control API no longer show it. A worker that crashed asks the carrier about the texts it
    was handing over by SID or by listing, so the history must hold every text sent from the
    moment a worker stops until its texts are reconciled (a forgotten one would be taken for
    never sent and sent again): that is the dispatch lease (60 s by default) and a little
    more. A message costs a few KB of resident memory with its callback log (the default,
    50,000 or ``CLINICTEXT_SIMULATOR_HISTORY``, grew the process by 130 to 240 MB in runs
    of 100,000 texts) and is 100 s of sending at 500 texts/s, hours at any clinic's pace.
    ``0`` keeps no history at all.
    """

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "simulator-auth-token"
    inbound_webhook_url: str | None = None
    seed: int = 1
    callback_delay_ms: tuple[int, int] = (20, 80)
    callback_retries: int = 3
    callback_backoff_ms: int = 100
    callback_timeout_s: float = 15.0
    callback_concurrency: int = 100
    control_from: str = field(default_factory=_control_from_environment)
    history: int = field(default_factory=_history_from_environment)

    def __post_init__(self) -> None:
        if self.control_from not in ("loopback", "any"):
            raise ValueError(
                f"The simulator's control_from ({CONTROL_FROM_VARIABLE}) must be 'loopback' "
                f"or 'any', not {self.control_from!r}."
            )
        if self.callback_concurrency < 1:
            raise ValueError("The simulator's callback_concurrency must be 1 or more.")
        if self.history < 0:
            raise ValueError(f"The simulator's history must be 0 or more, not {self.history}.")
