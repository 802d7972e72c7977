"""The ASGI application: REST API v1, with its error mapping and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from clinictext import __version__
from clinictext.api import errors
from clinictext.api.deps import SessionDep
from clinictext.api.v1 import router as v1_router
from clinictext.config import Settings, get_settings
from clinictext.store.db import make_engine, session_factory


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on ``settings`` (default: from the environment). Migrations are not run."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="clinictext",
        version=__version__,
        description="Two-way patient texting that never texts someone who has not consented, "
        "and says why when a text cannot be sent.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    errors.install(app)
    app.include_router(v1_router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/healthz", tags=["health"])
    def health(session: SessionDep) -> dict[str, str]:
        """Liveness and database reachability, for load balancers."""
        session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app
