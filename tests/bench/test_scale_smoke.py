"""The scale benchmark runs end to end at a tiny size and reports every measure.

Only the shape of the report is checked (every measure, each with its goal, its verdict and
its baseline where it has one): how fast anything was is for the benchmark to report, not
for a test to assert.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.scale import MEASURES

ROOT = Path(__file__).resolve().parents[2]
WITH_BASELINE = {"healthz", "e2e", "workers", "pacing"}


def run_scale(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--tiny", "--json", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def check_rows(report: dict, backend: str, expected: set[str]) -> None:
    rows = [r for r in report["rows"] if r["backend"] == backend]
    assert {r["measure"] for r in rows} == expected
    for row in rows:
        assert row["value"] and row["goal"], row
        assert row["met"] in (True, False), row
        if row["measure"] in WITH_BASELINE:
            assert row["ratio"] is not None and row["baseline"], row
    assert len(report["machine"]["load_before"]) == 3
    assert len(report["machine"]["load_after"]) == 3


@pytest.mark.timeout(1800)
def test_every_measure_on_sqlite(tmp_path: Path) -> None:
    report = run_scale(tmp_path, "--backends", "sqlite")
    check_rows(report, "sqlite", set(MEASURES) - {"workers"})  # workers: PostgreSQL only
    (results,) = report["results"]
    keys = ("healthz", "raw_simulator", "e2e_worker", "e2e_serve", "e2e_worker_standalone")
    for key in (*keys, "memory", "pacing"):
        assert key in results, key
    assert results["webhook_inbound"]["healthz_after"] is True
    # The send path was measured at both sizes of history.
    assert len([k for k in results if k.startswith("send_one_at_")]) == 2


@pytest.mark.timeout(1800)
def test_postgresql_measures(tmp_path: Path) -> None:
    report = run_scale(tmp_path, "--backends", "postgresql", "--only", "workers", "send", "lists")
    check_rows(report, "postgresql", {"workers", "send", "lists"})
    (results,) = report["results"]
    assert set(results["workers"]) == {"1", "2"}
