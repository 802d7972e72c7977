"""The simulator's in-memory state: messages, personas, senders, chaos, outage, seeded random.

Everything lives in one :class:`CarrierState`, touched only from the server's event loop.
The history is bounded (``SimulatorSettings.history``): the newest messages and their
callback attempts are kept, the oldest forgotten first, so a long run does not grow.
SIDs come from a random generator seeded with the settings' seed, so two simulators given the
same seed and the same requests hand out the same SIDs. ``reset`` clears the state but does
not rewind that generator: a SID handed out before a reset is never handed out again by the
same simulator (a client may still hold it).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from clinictext.simulator.personas import DEFAULT_PERSONA, ERROR_MESSAGES
from clinictext.simulator.settings import SimulatorSettings

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
TOLL_FREE = re.compile(r"^\+18(?:00|33|44|55|66|77|88)\d{7}$")
SENDER_KINDS = ("toll_free", "landline")
OUTAGE_MODES = ("up", "down", "slow")
OUTAGE_FAILURES = ("503", "hang", "reset")


_clock: tuple[int, datetime] = (0, datetime.fromtimestamp(0, UTC))


def utcnow() -> datetime:
    """Now in UTC, to the second (Twilio's dates carry no fractions). Every message and
    callback reads the clock several times, so the datetime of the current second is kept."""
    global _clock
    second = int(time.time())
    if _clock[0] != second:
        _clock = (second, datetime.fromtimestamp(second, UTC))
    return _clock[1]


def default_kind(number: str) -> str:
    """``toll_free`` for +1 800/833/844/855/866/877/888 numbers, else ``landline``."""
    return "toll_free" if TOLL_FREE.match(number) else "landline"


@dataclass(slots=True)
class Message:
    """One text the carrier accepted (outbound) or received from a patient (inbound)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    direction: str  # "outbound-api" or "inbound"
    status: str
    num_segments: int
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None
    status_callback: str | None = None
    final_status: str | None = None  # planned outcome of an outbound message
    planned_error: int | None = None
    error_code: int | None = None

    @property
    def error_message(self) -> str | None:
        return ERROR_MESSAGES.get(self.error_code) if self.error_code else None

    @property
    def is_final(self) -> bool:
        return self.status in ("delivered", "undelivered", "failed", "received")


@dataclass
class Sender:
    """A number the carrier knows: seen as a From, or registered as toll-free/landline."""

    number: str
    sid: str  # PN...
    date_created: datetime
    date_updated: datetime
    kind: str | None = None  # "toll_free", "landline" or None (an ordinary number)
    verification: str | None = None  # "pending", "verified", "failed" (None when no kind)

    @property
    def blocked(self) -> bool:
        """True if texts from this number are refused until it is verified."""
        return self.kind is not None and self.verification != "verified"


@dataclass
class Chaos:
    duplicate_callbacks: int = 0
    reorder: bool = False
    callback_delay_ms: tuple[int, int] | None = None


@dataclass
class Outage:
    mode: str = "up"
    failure: str = "503"
    delay_ms: int = 2000


@dataclass(slots=True)
class CallbackAttempt:
    """One HTTP attempt to deliver a status callback (``seq`` orders all attempts)."""

    sid: str
    url: str
    status: str
    http_status: int | None
    at: datetime
    attempt: int
    copy: int
    error: str | None = None
    seq: int = 0


def _by_seq(attempt: CallbackAttempt) -> int:
    return attempt.seq


@dataclass
class CarrierState:
    settings: SimulatorSettings
    # Oldest first, so the oldest is forgotten first (see ``remember``).
    messages: OrderedDict[str, Message] = field(default_factory=OrderedDict)
    personas: dict[str, str] = field(default_factory=dict)
    senders: dict[str, Sender] = field(default_factory=dict)
    chaos: Chaos = field(default_factory=Chaos)
    outage: Outage = field(default_factory=Outage)
    # The callback attempts made for each kept message, by SID.
    callbacks: dict[str, list[CallbackAttempt]] = field(default_factory=dict)
    inbound_webhook_url: str | None = None
    outage_changed: asyncio.Event = field(default_factory=asyncio.Event)
    _sid_random: random.Random = field(init=False, repr=False)
    _delay_random: random.Random = field(init=False, repr=False)
    _callback_seq: itertools.count[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        seed = self.settings.seed
        self._sid_random = random.Random(f"clinictext-simulator:{seed}:sids")
        self._delay_random = random.Random(f"clinictext-simulator:{seed}:delays")
        self.inbound_webhook_url = self.settings.inbound_webhook_url
        self._callback_seq = itertools.count(1)

    # -- identifiers -------------------------------------------------------------------------

    def new_sid(self, prefix: str) -> str:
        """A fresh SID: the prefix and 32 lowercase hex digits from the seeded generator."""
        return f"{prefix}{self._sid_random.getrandbits(128):032x}"

    def number_sid(self, prefix: str, number: str) -> str:
        """A SID derived from the seed and a phone number: the same for the same number."""
        digest = hashlib.sha256(f"{self.settings.seed}:{prefix}:{number}".encode()).hexdigest()
        return prefix + digest[:32]

    def draw_delay_ms(self) -> int:
        low, high = self.chaos.callback_delay_ms or self.settings.callback_delay_ms
        return self._delay_random.randint(low, high)

    # -- messages ----------------------------------------------------------------------------

    def add_message(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        direction: str,
        status: str,
        num_segments: int,
        status_callback: str | None = None,
        final_status: str | None = None,
        planned_error: int | None = None,
    ) -> Message:
        now = utcnow()
        message = Message(
            sid=self.new_sid("SM"),
            account_sid=self.settings.account_sid,
            to=to,
            from_=from_,
            body=body,
            direction=direction,
            status=status,
            num_segments=num_segments,
            date_created=now,
            date_updated=now,
            date_sent=now,
            status_callback=status_callback,
            final_status=final_status,
            planned_error=planned_error,
        )
        self.remember(message)
        return message

    def remember(self, message: Message) -> None:
        """Keep a message, forgetting the oldest (and their callback logs) beyond the bound."""
        self.messages[message.sid] = message
        while len(self.messages) > self.settings.history:
            sid, _ = self.messages.popitem(last=False)
            self.callbacks.pop(sid, None)

    def record_callback(self, attempt: CallbackAttempt) -> None:
        """Log a callback attempt, unless its message is no longer remembered."""
        if attempt.sid in self.messages:
            attempt.seq = next(self._callback_seq)
            self.callbacks.setdefault(attempt.sid, []).append(attempt)

    def callback_log(self, sid: str | None = None) -> list[CallbackAttempt]:
        """The attempts for one message, or for all kept messages, oldest first."""
        if sid:
            return list(self.callbacks.get(sid, ()))
        return sorted(itertools.chain.from_iterable(self.callbacks.values()), key=_by_seq)

    def advance(self, message: Message, status: str, error_code: int | None) -> None:
        """Move a message to a status; a final status is never replaced by ``sent``."""
        if message.is_final and status == "sent":
            return
        message.status = status
        message.error_code = error_code
        message.date_updated = utcnow()

    # -- numbers -----------------------------------------------------------------------------

    def persona(self, number: str) -> str:
        return self.personas.get(number, DEFAULT_PERSONA)

    def ensure_sender(self, number: str) -> Sender:
        sender = self.senders.get(number)
        if sender is None:
            now = utcnow()
            sender = Sender(number, self.number_sid("PN", number), now, now)
            self.senders[number] = sender
        return sender

    def register_sender(self, number: str, kind: str | None) -> Sender:
        """Mark a number toll-free or landline; a newly marked number starts pending."""
        sender = self.ensure_sender(number)
        new_kind = kind or sender.kind or default_kind(number)
        if sender.kind != new_kind or sender.verification is None:
            sender.kind = new_kind
            sender.verification = "pending"
            sender.date_updated = utcnow()
        return sender

    def verify_sender(self, number: str, result: str, kind: str | None) -> Sender:
        sender = self.register_sender(number, kind)
        sender.verification = result
        sender.date_updated = utcnow()
        return sender

    # -- chaos and outage --------------------------------------------------------------------

    def set_outage(self, outage: Outage) -> None:
        self.outage = outage
        # Wake every request hanging on the previous outage.
        self.outage_changed.set()
        self.outage_changed = asyncio.Event()

    def reset(self) -> None:
        """Forget messages, personas, senders, chaos, outage and the callback log."""
        self.messages.clear()
        self.personas.clear()
        self.senders.clear()
        self.callbacks.clear()
        self.chaos = Chaos()
        self.inbound_webhook_url = self.settings.inbound_webhook_url
        self.set_outage(Outage())
