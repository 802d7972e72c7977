"""Benchmark the async HTTP clients the SMS dispatcher could use: aiohttp vs httpx.

What it measures
    Throughput (requests/s), latency percentiles (p50/p95/p99, in ms) and errors of
    ``aiohttp.ClientSession`` and ``httpx.AsyncClient`` sending many small, form-encoded
    ``POST /2010-04-01/Accounts/AC123/Messages.json`` requests (To, From, Body, StatusCallback,
    HTTP Basic auth) with a bounded number in flight, the way the dispatcher talks to a
    Twilio-compatible provider. Each client runs with one long-lived session/client whose
    connection pool equals the concurrency level, with keep-alive.

Why
    The dispatcher's hot path is exactly this: lots of tiny POSTs to one host, concurrently.
    The per-request overhead of the HTTP client (request building, auth, pooling, response
    parsing) decides how many messages one dispatcher process can push out, so the client is
    chosen by measurement on this workload rather than by taste.

How
    A minimal Starlette app (parses the form, answers 201 with a Twilio-shaped JSON message)
    runs under uvicorn (uvloop if available, httptools, no access log) in a subprocess on a free
    port on 127.0.0.1, so server and client do not share an event loop or a GIL. For every
    repeat, concurrency level and client: open a fresh client, send a warm-up batch, then send
    N requests from ``concurrency`` worker tasks and time them. Every response must be a 201
    with the JSON body; anything else counts as an error. Runs are interleaved (repeat ->
    concurrency -> client, client order rotated per repeat) so background CPU noise hits both
    clients alike, and the median over the repeats is reported.

Run
    python -m bench.http_clients [--requests 5000] [--concurrency 20 50] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "http_clients.json"

HOST = "127.0.0.1"
ACCOUNT_SID = "AC123"
AUTH_TOKEN = "bench-token"  # dummy credential for the local endpoint
PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
FROM_NUMBER = "+15005550006"
STATUS_CALLBACK = "https://clinic.example/hooks/twilio/status"
REQUEST_TIMEOUT_S = 30.0
CLIENTS = ("aiohttp", "httpx")


# --------------------------------------------------------------------------- server (subprocess)


def _build_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    counter = 0

    async def create_message(request: Request) -> Response:
        nonlocal counter
        if not request.headers.get("authorization", "").startswith("Basic "):
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        try:
            form = await request.form()
        except ClientDisconnect:  # the benchmark was interrupted mid-request
            return Response(status_code=499)
        to, from_, body = form.get("To"), form.get("From"), form.get("Body")
        if not (to and from_ and body and form.get("StatusCallback")):
            return JSONResponse({"code": 21602, "message": "Missing field"}, status_code=400)
        counter += 1
        return JSONResponse(
            {
                "sid": f"SM{counter:032x}",
                "status": "queued",
                "to": to,
                "from": from_,
                "body": body,
            },
            status_code=201,
        )

    return Starlette(routes=[Route(PATH, create_message, methods=["POST"])])


def _server_settings() -> dict[str, str]:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        http = "h11"
    return {"loop": loop, "http": http}


def serve() -> None:
    """Subprocess entry point: bind a free port, print it on stdout, serve until SIGTERM."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))  # not listening yet: connections are refused until uvicorn serves
    print(sock.getsockname()[1], flush=True)
    settings = _server_settings()
    config = uvicorn.Config(
        _build_app(),
        loop=settings["loop"],
        http=settings["http"],
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=1024,
    )
    uvicorn.Server(config).run(sockets=[sock])


@contextlib.contextmanager
def running_server(start_timeout: float = 20.0) -> Iterator[str]:
    """Start the endpoint in a subprocess, yield its base URL, always stop it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.http_clients", "--serve"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], start_timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"benchmark server did not report a port (exit code {proc.poll()})")
        port = int(line)
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"benchmark server exited with code {proc.returncode}")
            try:
                socket.create_connection((HOST, port), timeout=1.0).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("benchmark server does not accept connections") from None
                time.sleep(0.05)
        yield f"http://{HOST}:{port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# --------------------------------------------------------------------------- clients

# A sender posts one form and returns the HTTP status; it raises if the body is not the message.
Sender = Callable[[dict[str, str]], Awaitable[int]]


def _check_body(payload: Any) -> None:
    if not (isinstance(payload, dict) and payload.get("status") == "queued" and payload.get("sid")):
        raise ValueError(f"unexpected response body: {payload!r:.200}")


@contextlib.asynccontextmanager
async def aiohttp_sender(base_url: str, concurrency: int) -> Any:
    import aiohttp

    # aiohttp 3.14 deprecates auth=BasicAuth in favour of a precomputed Authorization header.
    if hasattr(aiohttp, "encode_basic_auth"):
        authorization = aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)
    else:  # older aiohttp
        authorization = aiohttp.BasicAuth(ACCOUNT_SID, AUTH_TOKEN).encode()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        base_url=base_url,
        connector=connector,
        headers={"Authorization": authorization},
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    ) as session:

        async def send(form: dict[str, str]) -> int:
            async with session.post(PATH, data=form) as resp:
                if resp.status == 201:
                    _check_body(await resp.json())
                else:
                    await resp.read()
                return resp.status

        yield send


@contextlib.asynccontextmanager
async def httpx_sender(base_url: str, concurrency: int) -> Any:
    import httpx

    limits = httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,  # default 20 would close connections above it
    )
    async with httpx.AsyncClient(
        base_url=base_url,
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        limits=limits,
        timeout=REQUEST_TIMEOUT_S,
    ) as client:

        async def send(form: dict[str, str]) -> int:
            resp = await client.post(PATH, data=form)
            if resp.status_code == 201:
                _check_body(resp.json())
            return resp.status_code

        yield send


SENDERS = {"aiohttp": aiohttp_sender, "httpx": httpx_sender}


# --------------------------------------------------------------------------- load generation


@dataclass
class RunResult:
    client: str
    concurrency: int
    repeat: int
    requests: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)


def _form(i: int) -> dict[str, str]:
    return {
        "To": f"+1555{i % 10_000_000:07d}",
        "From": FROM_NUMBER,
        "Body": f"Reminder: your appointment is tomorrow at 9:30. Reply C to confirm. #{i}",
        "StatusCallback": STATUS_CALLBACK,
    }


async def _drive(
    send: Sender, total: int, concurrency: int
) -> tuple[float, list[float], Counter[str]]:
    """Send `total` requests from `concurrency` workers; return wall time, latencies, errors."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    next_index = iter(range(total))

    async def worker() -> None:
        for i in next_index:
            form = _form(i)
            t0 = time.perf_counter()
            try:
                status = await send(form)
            except Exception as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - t0)
            if status != 201:
                errors[f"HTTP {status}"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list, q in (0, 100]."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


async def _one_run(
    client: str, base_url: str, concurrency: int, requests: int, warmup: int, repeat: int
) -> RunResult:
    async with SENDERS[client](base_url, concurrency) as send:
        if warmup:
            _, _, warm_errors = await _drive(send, warmup, concurrency)
            if warm_errors:
                raise RuntimeError(f"{client}: warm-up failed: {dict(warm_errors)}")
        elapsed, latencies, errors = await _drive(send, requests, concurrency)
    ms = sorted(x * 1000 for x in latencies)
    return RunResult(
        client=client,
        concurrency=concurrency,
        repeat=repeat,
        requests=requests,
        elapsed_s=round(elapsed, 4),
        rps=round(requests / elapsed, 1),
        p50_ms=round(_percentile(ms, 50), 3),
        p95_ms=round(_percentile(ms, 95), 3),
        p99_ms=round(_percentile(ms, 99), 3),
        max_ms=round(ms[-1], 3) if ms else float("nan"),
        errors=sum(errors.values()),
        error_kinds=dict(errors),
    )


def _new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()

    def quiet_interrupts(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # On Ctrl-C the interrupted task keeps its KeyboardInterrupt; don't log it again.
        if not isinstance(context.get("exception"), KeyboardInterrupt):
            loop.default_exception_handler(context)

    loop.set_exception_handler(quiet_interrupts)
    return loop


def run_benchmark(
    base_url: str,
    requests: int,
    concurrencies: list[int],
    warmup: int,
    repeats: int,
    client_loop: str,
    progress: Callable[[str], None],
) -> list[RunResult]:
    results: list[RunResult] = []
    for repeat in range(repeats):
        # Rotate the client order each repeat so slow drift does not favour one client.
        shift = repeat % len(CLIENTS)
        order = CLIENTS[shift:] + CLIENTS[:shift]
        for concurrency in concurrencies:
            for client in order:
                gc.collect()
                with asyncio.Runner(loop_factory=lambda: _new_loop(client_loop)) as runner:
                    result = runner.run(
                        _one_run(client, base_url, concurrency, requests, warmup, repeat)
                    )
                results.append(result)
                progress(
                    f"run {repeat + 1}/{repeats}  {client:<8} c={concurrency:<4}"
                    f" {result.rps:>9.1f} req/s  p95 {result.p95_ms:7.2f} ms"
                    f"  errors {result.errors}"
                )
    return results


def summarize(results: list[RunResult], concurrencies: list[int]) -> list[dict[str, Any]]:
    summary = []
    for concurrency in concurrencies:
        for client in CLIENTS:
            runs = [r for r in results if r.client == client and r.concurrency == concurrency]
            if not runs:
                continue
            summary.append(
                {
                    "client": client,
                    "concurrency": concurrency,
                    "runs": len(runs),
                    "rps_median": round(statistics.median(r.rps for r in runs), 1),
                    "rps_min": min(r.rps for r in runs),
                    "rps_max": max(r.rps for r in runs),
                    "p50_ms_median": round(statistics.median(r.p50_ms for r in runs), 3),
                    "p95_ms_median": round(statistics.median(r.p95_ms for r in runs), 3),
                    "p99_ms_median": round(statistics.median(r.p99_ms for r in runs), 3),
                    "errors_total": sum(r.errors for r in runs),
                }
            )
    return summary


# --------------------------------------------------------------------------- reporting


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "aiohttp": _version("aiohttp"),
        "httpx": _version("httpx"),
        "httpcore": _version("httpcore"),
        "anyio": _version("anyio"),
        "sniffio": _version("sniffio"),
        "uvicorn": _version("uvicorn"),
        "starlette": _version("starlette"),
        "uvloop": _version("uvloop"),
        "httptools": _version("httptools"),
    }
    with contextlib.suppress(AttributeError, OSError):
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    return info


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _winners(summary: list[dict[str, Any]]) -> list[str]:
    lines = []
    for concurrency in sorted({row["concurrency"] for row in summary}):
        rows = sorted(
            (row for row in summary if row["concurrency"] == concurrency),
            key=lambda row: row["rps_median"],
            reverse=True,
        )
        if len(rows) < 2:
            continue
        best, other = rows[0], rows[1]
        ratio = best["rps_median"] / other["rps_median"] if other["rps_median"] else float("inf")
        lines.append(
            f"c={concurrency}: {best['client']} is {ratio:.2f}x {other['client']} on median req/s"
            f" (p95 {best['p95_ms_median']:.2f} vs {other['p95_ms_median']:.2f} ms)"
        )
    return lines


def print_table(summary: list[dict[str, Any]], title: str) -> None:
    headers = ["client", "conc", "req/s", "req/s min-max", "p50 ms", "p95 ms", "p99 ms", "errors"]
    rows = [
        [
            row["client"],
            str(row["concurrency"]),
            f"{row['rps_median']:.0f}",
            f"{row['rps_min']:.0f}-{row['rps_max']:.0f}",
            f"{row['p50_ms_median']:.2f}",
            f"{row['p95_ms_median']:.2f}",
            f"{row['p99_ms_median']:.2f}",
            str(row["errors_total"]),
        ]
        for row in summary
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
        for r in rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    else:
        table = Table(title=title)
        for i, h in enumerate(headers):
            table.add_column(h, justify="left" if i == 0 else "right")
        for r in rows:
            table.add_row(*r)
        Console().print(table)
    for line in _winners(summary):
        print(line)
    if _version("sniffio") is None and any(row["client"] == "httpx" for row in summary):
        print(
            "note: sniffio is not installed, so httpcore retries a failing `import sniffio` on"
            " every pool lock/event it creates (anyio>=4.11 no longer pulls sniffio in; see"
            " encode/httpcore#1103). httpx numbers include that cost."
        )


# --------------------------------------------------------------------------- CLI


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http_clients",
        description="Compare aiohttp and httpx sending small form POSTs to a local "
        "Twilio-like endpoint.",
    )
    parser.add_argument(
        "--requests", type=_positive_int, default=5000, help="measured requests per run"
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        nargs="+",
        default=[20, 50],
        help="requests in flight (= connection pool size); one or more levels",
    )
    parser.add_argument(
        "--warmup", type=_non_negative_int, default=200, help="unmeasured requests per run"
    )
    parser.add_argument(
        "--repeats", type=_positive_int, default=3, help="runs per client and level"
    )
    parser.add_argument(
        "--client-loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop the clients run on (default: the stdlib loop, as asyncio.run uses)",
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"result file (default: {DEFAULT_JSON})"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: Any) -> None:
    # Raise at once on SIGINT/SIGTERM so the `finally` that stops the server runs. (asyncio's
    # own SIGINT handling only cancels the running task, and httpcore/anyio can absorb that.)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve()
        return 0
    if args.client_loop == "uvloop":
        import uvloop  # noqa: F401 - fail early if it is missing

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    concurrencies = list(dict.fromkeys(args.concurrency))
    started_at = datetime.now(UTC)
    load_before = _loadavg()
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with running_server() as base_url:
        progress(f"server up at {base_url}")
        results = run_benchmark(
            base_url,
            args.requests,
            concurrencies,
            args.warmup,
            args.repeats,
            args.client_loop,
            progress,
        )

    summary = summarize(results, concurrencies)
    report = {
        "benchmark": "http_clients",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - t0, 1),
        "machine": {**machine_info(), "loadavg_before": load_before, "loadavg_after": _loadavg()},
        "parameters": {
            "requests": args.requests,
            "warmup": args.warmup,
            "concurrency": concurrencies,
            "repeats": args.repeats,
            "client_loop": args.client_loop,
            "server": {"app": "starlette", "server": "uvicorn", **_server_settings()},
            "endpoint": f"POST {PATH}",
            "request_timeout_s": REQUEST_TIMEOUT_S,
        },
        "runs": [asdict(r) for r in results],
        "summary": summary,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")

    print_table(
        summary,
        f"HTTP clients: {args.requests} POSTs/run, median of {args.repeats} runs, "
        f"client loop {args.client_loop}",
    )
    print(f"results written to {args.json}")
    return 1 if any(row["errors_total"] for row in summary) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; benchmark server stopped", file=sys.stderr)
        sys.exit(130)
