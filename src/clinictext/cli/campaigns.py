"""``clinictext campaigns``: placeholder, filled in by the campaigns work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
