"""REST API v1: one router per resource, each route one unit of work (``unit_of_work``)."""

from fastapi import APIRouter

from clinictext.api.deps import each_a_unit_of_work
from clinictext.api.v1 import (
    appointments,
    audit,
    campaigns,
    commlogs,
    connector,
    lint,
    messages,
    numbers,
    org,
    patients,
    rules,
    templates,
)

router = APIRouter(prefix="/api/v1")
for module in (
    org,
    numbers,
    patients,
    messages,
    commlogs,
    connector,
    audit,
    lint,
    templates,
    appointments,
    rules,
    campaigns,
):
    each_a_unit_of_work(module.router)
    router.include_router(module.router)
