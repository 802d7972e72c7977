"""Builds the configured provider: Twilio itself, or Twilio's API as the simulator speaks it."""

from __future__ import annotations

import secrets

from clinictext.config import Settings
from clinictext.providers.twilio import TwilioProvider

# The simulator's fixed credentials; it only ever listens on this machine.
SIMULATOR_ACCOUNT_SID = "AC" + "0" * 32
SIMULATOR_AUTH_TOKEN = "simulator-auth-token"
SIMULATOR_PATH = "/simulator"


def simulator_base_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + SIMULATOR_PATH


def credentials(settings: Settings) -> tuple[str, str]:
    """The account SID and the auth token in clear, for the provider and the simulator."""
    token = settings.twilio_auth_token.get_secret_value()
    if settings.provider == "simulator":
        return (
            settings.twilio_account_sid or SIMULATOR_ACCOUNT_SID,
            token or SIMULATOR_AUTH_TOKEN,
        )
    return settings.twilio_account_sid, token


def build_provider(settings: Settings) -> TwilioProvider:
    sid, token = credentials(settings)
    if settings.provider == "simulator":
        base = simulator_base_url(settings)
        return TwilioProvider(sid, token, base, base, base)
    return TwilioProvider(
        sid,
        token,
        settings.twilio_api_base_url,
        settings.twilio_messaging_base_url,
        settings.twilio_numbers_base_url,
    )


def simulator_seed(settings: Settings) -> int:
    """The configured seed, or a fresh one: a restarted simulator must not reuse message ids."""
    return settings.simulator_seed if settings.simulator_seed is not None else secrets.randbits(48)
