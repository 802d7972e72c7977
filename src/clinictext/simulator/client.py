"""Point the official twilio-python client at a simulator.

twilio-python builds every URL from the ``base_url`` of a *domain* object: ``client.api``
(``https://api.twilio.com``: Messages, IncomingPhoneNumbers), ``client.messaging``
(``https://messaging.twilio.com``: Tollfree Verifications) and ``client.numbers``
(``https://numbers.twilio.com``: Hosted Number Orders). The client caches these objects, so
setting their ``base_url`` redirects every later call, paging included (``next_page_uri`` is
joined to the domain's base URL).
"""

from __future__ import annotations

from typing import Any

from twilio.rest import Client


def point_twilio_client(client: Client, base_url: str) -> Client:
    """Send every API call ``client`` makes to the simulator at ``base_url`` (no trailing /)."""
    base = base_url.rstrip("/")
    client.api.base_url = base
    client.messaging.base_url = base
    client.numbers.base_url = base
    return client


def simulator_client(
    base_url: str, account_sid: str, auth_token: str, http_client: Any = None
) -> Client:
    """A ``twilio.rest.Client`` talking to the simulator at ``base_url``."""
    client = Client(account_sid, auth_token, http_client=http_client)
    return point_twilio_client(client, base_url)
