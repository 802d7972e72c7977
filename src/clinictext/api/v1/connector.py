from __future__ import annotations

from fastapi import APIRouter, Request

from clinictext.api.deps import CallerDep, CallerNowDep, SessionDep
from clinictext.api.schemas import ConnectorErrorOut, ConnectorOut, RefreshOut
from clinictext.services import connector
from clinictext.services.clock import utcnow
from clinictext.services.refresh import refresh

router = APIRouter(tags=["connector"])


def connector_out(state: connector.ConnectorStatus) -> ConnectorOut:
    return ConnectorOut(
        state=state.view.state.value,
        since=state.view.since,
        last_success_at=state.view.last_success_at,
        pending=state.pending,
        errors=[
            ConnectorErrorOut(
                id=e.id,
                at=e.first_at,
                last_at=e.last_at,
                occurrences=e.occurrences,
                message=e.message,
                acknowledged=e.acknowledged_at is not None,
            )
            for e in state.errors
        ],
    )


@router.get("/connector", response_model=ConnectorOut)
def get_connector(caller: CallerDep, session: SessionDep) -> ConnectorOut:
    """The link to the SMS provider: up, degraded or down, and errors to acknowledge."""
    return connector_out(connector.status(session, caller.org_id, utcnow()))


@router.post("/connector/acknowledge")
def acknowledge(caller: CallerDep, session: SessionDep) -> dict[str, int]:
    """Acknowledge every open connector error."""
    return {"acknowledged": connector.acknowledge(session, caller.org_id, caller.actor, utcnow())}


@router.post("/connector/refresh", response_model=RefreshOut)
async def refresh_connector(request: Request, caller: CallerNowDep) -> RefreshOut:
    """Re-check the provider and re-drive every pending text of the organization."""
    result = await refresh(
        request.app.state.session_factory,
        request.app.state.provider,
        caller.org_id,
        caller.actor,
        request.app.state.retry_policy,
    )
    return RefreshOut(
        state=result.status.view.state.value, redriven=result.redriven, checked=result.checked
    )
