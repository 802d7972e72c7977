"""FastAPI's native OpenTelemetry is off unless ``CLINICTEXT_OPENTELEMETRY`` asks for it:
otherwise every request looked up three global providers for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinictext.api.app import create_app
from clinictext.config import Settings

SIGNALS = ("tracing", "metrics", "logs")


def test_telemetry_is_off_by_default(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db"), simulator=False)
    assert [app._telemetry[s] for s in SIGNALS] == [False, False, False]
    assert not app._native_telemetry.enabled()
    app.state.engine.dispose()


def test_the_setting_turns_it_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINICTEXT_OPENTELEMETRY", "true")
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db"), simulator=False)
    assert [app._telemetry[s] for s in SIGNALS] == [True, True, True]
    app.state.engine.dispose()
