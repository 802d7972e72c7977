"""`/rules`: placeholder router, filled in by the rules work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["rules"])
