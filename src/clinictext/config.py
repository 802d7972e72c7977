"""Settings, read from environment variables prefixed ``CLINICTEXT_``."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "CLINICTEXT_"


class Settings(BaseSettings):
    """Every setting clinictext reads; each maps to ``CLINICTEXT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite:///clinictext.db",
        description="SQLAlchemy URL: a SQLite file, or postgresql+psycopg://user:pass@host/db.",
    )
    provider: Literal["simulator", "twilio"] = "simulator"
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address the SMS provider uses to reach this server (webhook signatures).",
    )
    twilio_account_sid: str = Field(
        default="", description="The Twilio account SID (AC...); required with provider twilio."
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(""),
        description="The Twilio auth token; required with provider twilio. Never printed.",
    )
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_messaging_base_url: str = "https://messaging.twilio.com"
    twilio_numbers_base_url: str = "https://numbers.twilio.com"
    simulator_seed: int | None = Field(
        default=None,
        description="Seed of the carrier simulator (default: a new one each start, so message "
        "ids never repeat across restarts).",
    )
    dispatch_batch_size: int = Field(default=500, ge=1, le=5000)
    dispatch_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker holds a text it is sending before another worker may "
        "reconcile it with the provider.",
    )
    automation_interval_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How often each dispatcher looks for appointment texts that are due "
        "(at once again while there are more than a batch).",
    )
    automation_batch_size: int = Field(
        default=100,
        ge=1,
        le=5000,
        description="Appointment texts one automation round writes in one transaction; "
        "small, because on SQLite the round holds the write lock while it writes.",
    )
    webhook_batch_size: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="Most provider webhooks one transaction of the webhook writer records.",
    )
    webhook_batch_linger_ms: float = Field(
        default=2.0,
        ge=0,
        le=50,
        description="How long an idle webhook writer waits for more webhooks before it writes.",
    )
    webhook_queue_size: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="Webhooks waiting for the writer; more are answered 503 with Retry-After.",
    )
    request_threads: int = Field(
        default=4,
        ge=1,
        le=40,  # as many as a process keeps database connections (``store.db``)
        description="Requests one serve process works on at once (its request threads); "
        "more wait their turn, first come first served. Raise it when the database is on "
        "another machine: a thread waits out every round trip.",
    )
    opentelemetry: bool = Field(
        default=False,
        description="Trace and measure requests with OpenTelemetry (FastAPI's native "
        "telemetry, through the providers an OpenTelemetry SDK sets up). Off, a request does "
        "not look for those providers.",
    )
    retry_validity_hours: float = Field(
        default=4.0, gt=0, description="How long a text is retried before it fails."
    )
    default_country: str = Field(default="US", description="Region for numbers without +country.")
    log_level: str = "INFO"
    session_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A staff sign-in ends after this many minutes without a request.",
    )
    simulator_control_from: Literal["loopback", "any"] = Field(
        default="loopback",
        description="Who may steer the carrier simulator (/simulator/_control): only this "
        "machine, or any client (a simulator reachable from a network anyone can join).",
    )

    @model_validator(mode="after")
    def _twilio_needs_credentials(self) -> Settings:
        if self.provider == "twilio":
            missing = [
                f"{ENV_PREFIX}{name.upper()}"
                for name, value in (
                    ("twilio_account_sid", self.twilio_account_sid),
                    ("twilio_auth_token", self.twilio_auth_token.get_secret_value()),
                )
                if not value.strip()
            ]
            if missing:
                raise ValueError(
                    f"{ENV_PREFIX}PROVIDER=twilio needs {' and '.join(missing)} (from the "
                    "Twilio console). Set them, or use the simulator to try clinictext "
                    "without sending real texts."
                )
        return self

    def several_processes_refused(self) -> str | None:
        """Why ``serve`` cannot run as several processes on these settings; None if it can.

        Several processes need a database many processes write to at once, and a carrier
        outside the process: the built-in simulator keeps what it was sent in memory, so
        each process would have its own and ask the wrong one about a text."""
        if _backend(self.database_url) != "postgresql":
            return (
                "Several serve processes need PostgreSQL: SQLite lets one process write at a "
                "time, and only within one process do writers take turns in order. Use "
                "--processes 1 with SQLite, or set CLINICTEXT_DATABASE_URL to PostgreSQL."
            )
        if self.provider == "simulator":
            return (
                "The built-in carrier simulator lives inside the serve process, so several "
                "processes would each have their own. Run it alone (clinictext simulator) "
                "and point serve at it with CLINICTEXT_PROVIDER=twilio and "
                "CLINICTEXT_TWILIO_API_BASE_URL, or use --processes 1."
            )
        return None


def _backend(url: str) -> str:
    """The database a SQLAlchemy URL names (``sqlite``, ``postgresql``); "" if unreadable."""
    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        return ""


class SettingsError(SystemExit):
    """The environment's settings are invalid; ``str(err)`` is one line saying which and why.

    A ``SystemExit`` on purpose: every command and server that reads the environment stops
    with that line (exit status 1) instead of a traceback.
    """


def describe(err: ValidationError) -> str:
    """One line naming each bad setting by its environment variable."""
    problems = []
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ())]
        message = str(e.get("msg", "is not valid")).removeprefix("Value error, ").rstrip(".")
        name = f"{ENV_PREFIX}{loc[0].upper()}: " if loc else ""
        problems.append(f"{name}{message}.")
    return "Invalid settings: " + " ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once); ``SettingsError`` when they are invalid."""
    try:
        return Settings()
    except ValidationError as err:
        raise SettingsError(describe(err)) from None
