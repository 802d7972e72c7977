"""REST API v1: one router per resource."""

from fastapi import APIRouter

from clinictext.api.v1 import audit, commlogs, connector, messages, numbers, org, patients

router = APIRouter(prefix="/api/v1")
for module in (org, numbers, patients, messages, commlogs, connector, audit):
    router.include_router(module.router)
