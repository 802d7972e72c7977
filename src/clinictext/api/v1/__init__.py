"""REST API v1: one router per resource, each route one unit of work (``unit_of_work``)."""

from fastapi import APIRouter
from fastapi.routing import APIRoute

from clinictext.api.deps import unit_of_work
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
    for route in module.router.routes:
        if isinstance(route, APIRoute):
            # include_router builds the final routes from these endpoints.
            route.endpoint = unit_of_work(route.endpoint)
    router.include_router(module.router)
