"""``clinictext templates``: placeholder, filled in by the templates work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
