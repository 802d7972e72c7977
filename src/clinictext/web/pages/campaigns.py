"""The campaigns pages: placeholder, filled in by the campaigns page work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
