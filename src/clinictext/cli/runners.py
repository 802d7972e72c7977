"""The long-running processes: ``serve``, ``worker`` and ``simulator``.

``serve`` is the one-machine install (migrations, API, webhooks, dispatcher and, with the
simulator provider, the carrier simulator, in one process); ``worker`` and ``simulator`` run
one part alone, for scale-out and for tests. Each runs until stopped by a signal.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from typing import Annotated, Any

import typer

from clinictext.cli import console, err_console, session_maker
from clinictext.config import get_settings
from clinictext.services import demo
from clinictext.store.db import make_engine, session_factory, transaction, upgrade

# On SIGTERM, requests still running after this long are cut off, so a stop (or a restart)
# takes seconds, well within the dispatch lease.
GRACEFUL_SHUTDOWN_SECONDS = 5


def register(app: typer.Typer) -> None:
    """Add the process runners to ``app``."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("simulator")(simulator)


def _public_url_for(host: str, port: int) -> None:
    """Default the public URL to the address served, unless it was configured."""
    if "CLINICTEXT_PUBLIC_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["CLINICTEXT_PUBLIC_URL"] = f"http://{shown}:{port}"
        get_settings.cache_clear()


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo_data: Annotated[bool, typer.Option("--demo", help="Seed the demo clinic.")] = False,
    dispatch: Annotated[
        bool, typer.Option("--dispatch/--no-dispatch", help="Run the dispatch worker too.")
    ] = True,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log a line per request (path and status only; passing health checks are "
            "left out).",
        ),
    ] = True,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port, each running the dispatcher too unless "
            "--no-dispatch (PostgreSQL only). A Python process uses about one core: one a "
            "core, less the database's share.",
        ),
    ] = 1,
) -> None:
    """Apply migrations and run the API, the webhooks, the dispatcher and (with the
    simulator provider) the carrier simulator, in one process (or several, on PostgreSQL)."""
    import uvicorn

    from clinictext.api.app import PROCESS_APP, PROCESS_DISPATCH_VARIABLE, create_app

    _public_url_for(host, port)
    settings = get_settings()
    refused = settings.several_processes_refused() if processes > 1 else None
    if refused:
        err_console.print(f"[red]Error:[/red] {refused}")
        raise typer.Exit(2)
    if settings.provider == "simulator":
        console.print(
            "[bold black on yellow] SIMULATOR MODE: NO REAL TEXTS ARE SENT. [/] Every text goes "
            f"to the built-in carrier simulator at {settings.public_url.rstrip('/')}/simulator, "
            "never to a phone. To text patients, set CLINICTEXT_PROVIDER=twilio with "
            "CLINICTEXT_TWILIO_ACCOUNT_SID and CLINICTEXT_TWILIO_AUTH_TOKEN."
        )
    upgrade(settings.database_url)
    if demo_data:
        with transaction(session_maker()) as session:
            seed = demo.seed(session)
        console.print(
            f"Demo clinic ready: organization {seed.org_id}, API key [bold]{seed.api_key}[/bold]; "
            f"{demo.SETUP_ORG}: organization {seed.setup_org_id}, key {seed.setup_api_key}."
        )
        for name, pid in sorted(seed.patients.items(), key=lambda kv: kv[1]):
            console.print(f"  patient {pid}: {name}")
        login = settings.public_url.rstrip("/") + "/login"
        console.print(f"Staff web app: [bold]{login}[/bold]")
        for email, password, role in demo.DEMO_USERS:
            console.print(f"  sign in as {email} / {password} ({role})")
        for email, password, role in demo.SETUP_USERS:
            console.print(f"  {demo.SETUP_ORG}: {email} / {password} ({role})")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "access_log": access_log,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if processes > 1:
        # uvicorn's supervisor starts the processes, restarts one that dies, and stops them
        # all on SIGTERM; each builds its own app (its own connections, webhook writer and
        # dispatcher) from the environment, which it inherits.
        os.environ[PROCESS_DISPATCH_VARIABLE] = "1" if dispatch else "0"
        console.print(f"{processes} server processes on port {port}.")
        uvicorn.run(PROCESS_APP, factory=True, workers=processes, **options)
        return
    app = create_app(settings, dispatcher=dispatch)
    # What is loaded now (modules, templates, the app) lives as long as the process: keep it
    # out of the collector's full sweeps, which otherwise walk it again during any request
    # that allocates many objects (measured: a 500-text conversation's p95 halves).
    gc.freeze()
    uvicorn.run(app, **options)


def worker() -> None:
    """Run the dispatch worker alone (scale-out: several workers share one PostgreSQL)."""
    from clinictext.dispatch.worker import DispatchConfig, Dispatcher
    from clinictext.providers.factory import build_provider

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        provider = build_provider(settings)
        engine = make_engine(settings.database_url)
        try:
            config = DispatchConfig.from_settings(settings)
            await Dispatcher(session_factory(engine), provider, config).run(stop)
        finally:
            await provider.close()
            engine.dispose()

    asyncio.run(main())


def simulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8025,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Where patient replies are posted (default: the public URL's "
            "/webhooks/twilio/sms)."
        ),
    ] = None,
) -> None:
    """Run the Twilio-compatible carrier simulator alone."""
    import uvicorn

    from clinictext.providers.factory import credentials, simulator_seed
    from clinictext.simulator.app import SimulatorSettings, create_simulator

    settings = get_settings()
    sid, token = credentials(settings.model_copy(update={"provider": "simulator"}))
    inbound = webhook_url or settings.public_url.rstrip("/") + "/webhooks/twilio/sms"
    console.print(
        f"Carrier simulator on http://{host}:{port} (account {sid}); replies go to {inbound}"
    )
    uvicorn.run(
        create_simulator(
            SimulatorSettings(
                account_sid=sid,
                auth_token=token,
                inbound_webhook_url=inbound,
                seed=simulator_seed(settings),
            )
        ),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
    )
