"""Take the README's screenshots from a fresh demo: ``python docs/screenshots.py``.

Starts ``clinictext serve --demo`` on a temporary SQLite file, signs in as the demo admin
in the distribution's Chromium and saves each page at 1280 px to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).with_name("clinictext")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def _tomorrow_at_the_clinic() -> str:
    """Tomorrow in the demo clinic's time zone: the day its skipped reminders are for."""
    return str((datetime.now(ZoneInfo("America/Los_Angeles")) + timedelta(days=1)).date())


def main() -> int:
    port = 8765
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CLINICTEXT_DATABASE_URL": f"sqlite:///{tmp}/demo.db",
            "CLINICTEXT_PUBLIC_URL": base,
        }
        server = subprocess.Popen(
            [str(BIN), "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the demo server did not start")
                time.sleep(0.2)
            time.sleep(3)  # let the dispatcher deliver the demo's queued texts
            OUT.mkdir(parents=True, exist_ok=True)
            chromium = os.environ.get("CLINICTEXT_CHROMIUM") or shutil.which("chromium")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(base + "/login")
                page.screenshot(path=str(OUT / "login.png"))
                page.get_by_label("Email").fill("admin@demo.example")
                page.get_by_label("Password").fill("demo-admin")
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(re.compile(r"/inbox"))
                shots = {
                    "inbox": "/inbox",
                    "leads": "/leads",
                    "conversation-stopped": "/patients/4",
                    "conversation-closed-lead": "/patients/5",
                    "connector": "/connector",
                    "settings": "/settings",
                    "appointments": f"/appointments?day={_tomorrow_at_the_clinic()}",
                    "templates": "/templates",
                    "campaign-preview": "/campaigns/1",
                }
                for name, path in shots.items():
                    page.goto(base + path)
                    page.wait_for_load_state("load")
                    page.wait_for_timeout(1000)  # htmx fragments that load after the page
                    page.screenshot(path=str(OUT / f"{name}.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"screenshots written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
