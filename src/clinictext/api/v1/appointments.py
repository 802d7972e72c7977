"""`/appointments`: placeholder router, filled in by the appointments work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["appointments"])
