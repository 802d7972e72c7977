"""The templates pages: placeholder, filled in by the templates page work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
