"""The carrier simulator as one Starlette app: ``create_simulator(SimulatorSettings(...))``.

Standalone: ``uvicorn.run(create_simulator(settings), host=..., port=...)``. Mounted:
``Mount("/simulator", app=simulator)`` inside another Starlette/FastAPI app. A mounted app's
lifespan is not run by its parent, so the parent should enter it from its own lifespan
(``async with simulator.router.lifespan_context(simulator): yield``) or call
``await simulator.state.simulator.aclose()`` on shutdown; without that the simulator still
works (its HTTP session starts on first use) but pending callbacks are not cancelled cleanly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from clinictext.simulator.access import ControlAccessMiddleware
from clinictext.simulator.callbacks import CallbackDispatcher
from clinictext.simulator.control import ControlApi, error_response
from clinictext.simulator.numbers import NumbersApi
from clinictext.simulator.outage import OutageMiddleware, is_control_path
from clinictext.simulator.resources import not_found, twilio_error
from clinictext.simulator.rest import MessagesApi
from clinictext.simulator.settings import SimulatorSettings
from clinictext.simulator.state import CarrierState

__all__ = ["Simulator", "SimulatorSettings", "create_simulator"]


@dataclass
class Simulator:
    """What one simulator app holds (``app.state.simulator``)."""

    settings: SimulatorSettings
    state: CarrierState
    callbacks: CallbackDispatcher

    async def aclose(self) -> None:
        """Cancel pending callbacks and close the HTTP session."""
        await self.callbacks.aclose()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if is_control_path(request.scope):
        code = "not_found" if exc.status_code == 404 else "method_not_allowed"
        return error_response(exc.status_code, code, f"No such control endpoint: {exc.detail}.")
    if exc.status_code == 404:
        return not_found(request)
    return twilio_error(exc.status_code, 20004, f"Method {request.method} not allowed")


def create_simulator(settings: SimulatorSettings | None = None) -> Starlette:
    """A Twilio-compatible SMS carrier as an ASGI app, with in-memory state."""
    settings = settings or SimulatorSettings()
    state = CarrierState(settings)
    dispatcher = CallbackDispatcher(settings, state)
    simulator = Simulator(settings, state, dispatcher)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await simulator.aclose()

    routes = [
        *ControlApi(settings, state, dispatcher).routes(),
        *MessagesApi(settings, state, dispatcher).routes(),
        *NumbersApi(settings, state).routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ControlAccessMiddleware, control_from=settings.control_from),
            Middleware(OutageMiddleware, state=state),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    return app
