"""Who may use the control API: by default only this machine.

The control API is not authenticated and can inject a patient's text (a signed webhook to
clinictext, e.g. a STOP that opts a patient out) or take the carrier down, so a simulator
listening on a network must not obey whoever reaches it. ``control_from="any"`` lifts the
rule (``CLINICTEXT_SIMULATOR_CONTROL_FROM=any``) for a simulator on a private test network.
The carrier's REST API is not affected: it checks the account's credentials itself.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from clinictext.simulator.control import error_response
from clinictext.simulator.outage import is_control_path

# Starlette's TestClient calls the app in-process and names its client "testclient".
IN_PROCESS_CLIENTS = frozenset({"testclient"})


def is_local(client: tuple[str, int] | list[object] | None) -> bool:
    """Whether a request's client (the ASGI ``scope["client"]``) is on this machine.

    ``None`` is a Unix socket (or a server that does not say), which only this machine can
    reach.
    """
    if client is None:
        return True
    host = str(client[0])
    if host in IN_PROCESS_CLIENTS:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class ControlAccessMiddleware:
    """Answers 403 to a control request from another machine, unless ``control_from='any'``."""

    def __init__(self, app: ASGIApp, control_from: str = "loopback") -> None:
        self.app = app
        self.anyone = control_from == "any"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not self.anyone
            and is_control_path(scope)
            and not is_local(scope.get("client"))
        ):
            response = error_response(
                403,
                "control_forbidden",
                "The simulator's control API answers only this machine (127.0.0.1 or ::1). "
                "Call it from the machine the simulator runs on, or start the simulator with "
                "CLINICTEXT_SIMULATOR_CONTROL_FROM=any to allow every client.",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
