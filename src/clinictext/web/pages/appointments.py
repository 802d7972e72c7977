"""The appointments pages: placeholder, filled in by the appointments page work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
