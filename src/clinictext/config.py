"""Settings, read from environment variables prefixed ``CLINICTEXT_``."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting clinictext reads; each maps to ``CLINICTEXT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CLINICTEXT_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite:///clinictext.db",
        description="SQLAlchemy URL: a SQLite file, or postgresql+psycopg://user:pass@host/db.",
    )
    provider: Literal["simulator", "twilio"] = "simulator"
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address the SMS provider uses to reach this server (webhook signatures).",
    )
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
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
    retry_validity_hours: float = Field(
        default=4.0, gt=0, description="How long a text is retried before it fails."
    )
    default_country: str = Field(default="US", description="Region for numbers without +country.")
    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
