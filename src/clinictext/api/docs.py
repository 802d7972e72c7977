"""The API reference pages, /docs (Swagger UI) and /redoc, served whole by this server.

FastAPI's own pages load their scripts from a CDN, so a clinic's server without internet
access (or behind a strict proxy) showed a blank page. The scripts come from the
``fastapi-offline`` package, which vendors current Swagger UI and ReDoc builds.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = files("fastapi_offline") / "static"


def install(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the pages and their assets; the app must be built with ``docs_url=None``."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")
    # Swagger UI would ask validator.swagger.io for a badge: nothing leaves this server.
    parameters = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}

    def _assets(request: Request) -> str:
        return str(request.scope.get("root_path", "")) + ASSETS_PATH

    def _openapi(request: Request) -> str:
        return str(request.scope.get("root_path", "")) + str(app.openapi_url)

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        assets = _assets(request)
        return get_swagger_ui_html(
            openapi_url=_openapi(request),
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            swagger_ui_parameters=parameters,
        )

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        assets = _assets(request)
        return get_redoc_html(
            openapi_url=_openapi(request),
            title=f"{app.title} API",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )
