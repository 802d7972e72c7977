"""The ASGI application: REST API v1, provider webhooks, and optionally the dispatcher and
the carrier simulator, so that one process is a complete working system."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.applications import Starlette

from clinictext import __version__, web
from clinictext.api import docs, errors, middleware, webhook_fastpath, webhooks
from clinictext.api.deps import unit_of_work
from clinictext.api.v1 import router as v1_router
from clinictext.config import Settings, get_settings
from clinictext.dispatch.worker import DispatchConfig, Dispatcher
from clinictext.providers.factory import (
    SIMULATOR_PATH,
    build_provider,
    credentials,
    simulator_seed,
)
from clinictext.store.db import make_engine, read_only, session_factory

# ``serve --processes N`` runs N processes that each build the app by name
# (``PROCESS_APP``, uvicorn's factory); this variable tells them whether to run the
# dispatcher, as ``serve`` itself was told.
PROCESS_APP = "clinictext.api.app:process_app"
PROCESS_DISPATCH_VARIABLE = "CLINICTEXT_SERVE_DISPATCH"


def create_app(
    settings: Settings | None = None, *, dispatcher: bool = False, simulator: bool | None = None
) -> FastAPI:
    """Build the app on ``settings`` (default: from the environment). Migrations are not run.

    ``dispatcher`` runs the dispatch worker inside the app; ``simulator`` mounts the carrier
    simulator at /simulator (default: when the provider is ``simulator``).
    """
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    provider = build_provider(settings)
    mount_simulator = settings.provider == "simulator" if simulator is None else simulator
    sub_apps: list[Starlette] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        # Sync routes run in the event loop's thread pool. Python runs one thread at a time,
        # and a request gives the interpreter up at every database round trip; with 40
        # threads (anyio's default) contending, it is handed back to whichever thread the
        # scheduler picks, and under load some requests waited several times as long as
        # others. A few threads cover the database's waits; the rest of the requests wait
        # in the limiter's queue, which is first come, first served.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        async with contextlib.AsyncExitStack() as stack:
            # Starlette does not run the lifespan of mounted apps: run theirs here.
            for sub in sub_apps:
                await stack.enter_async_context(sub.router.lifespan_context(sub))
            # Webhooks are recorded in batches by one writer (``webhooks.writer``).
            await stack.enter_async_context(webhooks.writer(_app))
            if dispatcher:
                worker = Dispatcher(factory, provider, DispatchConfig.from_settings(settings))
                task = asyncio.create_task(worker.run(stop))
            try:
                yield
            finally:
                stop.set()
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await provider.close()
                engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="clinictext",
        version=__version__,
        description="Two-way patient texting that never texts someone who has not consented, "
        "and says why when a text cannot be sent.",
        docs_url=None,  # served by docs.install, without a CDN
        redoc_url=None,
        # Off unless asked for: each request would otherwise look up three global providers.
        telemetry=None
        if settings.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.read_session_factory = session_factory(read_only(engine))
    app.state.provider = provider
    # How long transient failures are retried: the same for the dispatcher and webhooks.
    app.state.retry_policy = DispatchConfig.from_settings(settings).retry
    errors.install(app)
    middleware.install(app)

    # First of all routes: a load balancer asks often, and routes are matched in order.
    # One pooled connection and no session: what it must prove is only that the database
    # answers, and a read takes no turn at writing (SQLite).
    # ``middleware.HealthCheck`` answers it first; this route, when the database did not.
    reader = read_only(engine)

    def probe_database() -> None:
        with reader.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            connection.rollback()

    healthy = {"status": "ok", "version": __version__}

    @app.get("/healthz", tags=["health"])
    @unit_of_work  # it holds no session: nothing to commit, but every sync route is one
    def health() -> dict[str, str]:
        """Liveness and database reachability, for load balancers."""
        probe_database()
        return healthy

    # Webhooks first: routes are matched in order, and they are the busiest.
    app.include_router(webhooks.router)
    app.include_router(v1_router)
    if mount_simulator:
        from clinictext.simulator.app import SimulatorSettings, create_simulator

        sid, token = credentials(settings)
        carrier = create_simulator(
            SimulatorSettings(
                account_sid=sid,
                auth_token=token,
                inbound_webhook_url=settings.public_url.rstrip("/") + "/webhooks/twilio/sms",
                seed=simulator_seed(settings),
            )
        )
        sub_apps.append(carrier)
        app.mount(SIMULATOR_PATH, carrier)

    docs.install(app)
    web.install(app)
    app.add_middleware(
        middleware.HealthCheck,
        probe=probe_database,
        body=json.dumps(healthy, separators=(",", ":")).encode(),
    )
    # Outermost: providers' webhooks skip the framework (``api.webhook_fastpath``).
    webhook_fastpath.install(app)

    return app


def process_app() -> FastAPI:
    """The app of one of ``serve --processes N``'s processes: settings from the environment,
    the dispatcher if ``serve`` runs it. Each process that runs it is one more dispatch
    worker on the shared PostgreSQL, as a ``clinictext worker`` would be."""
    app = create_app(dispatcher=os.environ.get(PROCESS_DISPATCH_VARIABLE) == "1")
    # As ``serve`` does for one process: what is loaded now lives as long as the process.
    gc.freeze()
    return app
