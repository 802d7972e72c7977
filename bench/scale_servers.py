"""The two trivial servers the scale measures are taken against, each run in a subprocess.

* ``minimal``: one Starlette route, ``GET /healthz`` answering a small JSON object, under
  uvicorn with the options ``clinictext serve`` uses (uvicorn's defaults: uvloop and
  httptools when installed). What the machine can answer at all: the ceiling ``/healthz``
  is compared with.
* ``sink``: answers every POST with 200 and counts status callbacks by ``MessageStatus``
  (``GET /count``, with the wall-clock time of the last of each under ``last``). The
  carrier simulator posts its callbacks here when its raw capacity is measured, so the
  simulator itself, not a receiver, is the limit.

Run: ``python -m bench.scale_servers minimal|sink --port PORT``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def minimal_app() -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/healthz", healthz)])


def sink_app() -> Starlette:
    counts: Counter[str] = Counter()
    last: dict[str, float] = {}

    async def receive(request: Request) -> Response:
        form = await request.form()
        status = str(form.get("MessageStatus") or form.get("SmsStatus") or "other")
        counts[status] += 1
        last[status] = time.time()
        return Response(status_code=200)

    async def count(request: Request) -> Response:
        return JSONResponse({**counts, "last": last})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/count", count),
            Route("/healthz", healthz),
            Route("/{path:path}", receive, methods=["POST"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["minimal", "sink"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = minimal_app() if args.kind == "minimal" else sink_app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
