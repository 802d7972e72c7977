"""The Provider protocol and the plain values that cross it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clinictext.domain.checklist import Verification
from clinictext.domain.statuses import Status


@dataclass(frozen=True)
class OutboundText:
    message_id: int
    to: str
    from_: str
    body: str
    status_callback: str


@dataclass(frozen=True)
class CallLog:
    """One provider call, with credentials and message bodies redacted."""

    operation: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    http_status: int | None
    elapsed_ms: float
    error: str | None = None


@dataclass(frozen=True)
class SendOutcome:
    """What became of one send attempt.

    ``reachable`` is False when the provider could not be reached or answered with a
    server-side failure (timeouts, refused connections, 5xx, 429, bad credentials): the
    text is not at fault and is retried. Otherwise ``provider_id`` is set when accepted,
    and ``error_code`` when the provider refused this text.
    """

    reachable: bool
    provider_id: str | None = None
    status: Status | None = None
    error_code: str | None = None
    error_message: str | None = None
    log: CallLog | None = None


@dataclass(frozen=True)
class ProviderMessage:
    provider_id: str
    to: str
    from_: str
    body: str
    status: Status
    created_at: datetime | None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """A status callback, parsed."""

    provider_id: str
    status: Status
    error_code: str | None
    raw_status: str


@dataclass(frozen=True)
class InboundText:
    provider_id: str
    from_: str
    to: str
    body: str
    segments: int
    extra: dict[str, str] = field(default_factory=dict)


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with a server-side failure."""

    def __init__(self, message: str, log: CallLog | None = None) -> None:
        super().__init__(message)
        self.log = log


class Provider(Protocol):
    name: str
    signature_header: str  # the request header that carries a webhook's signature
    # What an inbound-text webhook answers (body, media type) when there is nothing to say.
    inbound_ack: tuple[str, str]

    async def send(self, text: OutboundText) -> SendOutcome: ...

    async def fetch(self, provider_id: str) -> ProviderMessage | None: ...

    async def find(self, to: str, from_: str, since: datetime) -> list[ProviderMessage]:
        """Messages sent to ``to`` from ``from_`` since ``since`` (newest first)."""
        ...

    async def sender_verification(self, number: str, kind: str) -> Verification: ...

    async def ping(self) -> CallLog:
        """Check credentials and reachability; raises ``ProviderUnavailable``."""
        ...

    async def close(self) -> None: ...

    def verify_signature(self, url: str, params: Mapping[str, str], signature: str) -> bool: ...

    def parse_status(self, params: Mapping[str, str]) -> StatusReport: ...

    def parse_inbound(self, params: Mapping[str, str]) -> InboundText: ...
