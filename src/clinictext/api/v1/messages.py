from __future__ import annotations

from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import (
    MAX_ID,
    AttemptOut,
    DiagnosisOut,
    HistoryOut,
    MessageIn,
    MessageOut,
)
from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.statuses import Status, attempt_numbers, label
from clinictext.services import cancel, messages, sending
from clinictext.services.clock import utcnow
from clinictext.services.messages import DiagnosisContext, Event, MessageDetail, diagnosis_context
from clinictext.store.models import Message

router = APIRouter(tags=["messages"])

StatusName = Literal[
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "canceled",
    "received",
]


def message_out(session: Session, m: Message, ctx: DiagnosisContext | None = None) -> MessageOut:
    """The answer for one message (GET /messages/{id})."""
    return messages_out(session, [m], ctx)[0]


def messages_out(
    session: Session, rows: list[Message], ctx: DiagnosisContext | None = None
) -> list[MessageOut]:
    """The answers for a page of messages, in a fixed number of queries however many."""
    if not rows:
        return []
    ctx = ctx or diagnosis_context(session, rows[0].organization_id, utcnow())
    return [_out(detail, ctx) for detail in messages.page_details(session, rows)]


JSON = "application/json"


def message_answer(out: MessageOut, status_code: int = 200) -> Response:
    """One message's answer, as the JSON FastAPI would give for ``out``, without FastAPI
    validating it again: returned as a model, ``_out``'s answer (built without validation,
    see there) was validated once more, in another trip to the thread pool, and serialized
    from the validated copy; for a text just sent that was a sixth of the request's CPU.
    The route still declares ``MessageOut``, so the API's description is unchanged."""
    return Response(out.model_dump_json(by_alias=True), status_code, media_type=JSON)


def _out(detail: MessageDetail, ctx: DiagnosisContext) -> MessageOut:
    # Built without validating again (a page holds hundreds): every value comes from a
    # typed column or from code, already of the type the answer declares, and the JSON it
    # gives is the same as a validated model's.
    m = detail.message
    status = Status(m.status)
    diagnosis = messages.diagnosis(detail, ctx)
    events = detail.events
    return MessageOut.model_construct(
        id=m.id,
        patient_id=m.patient_id,
        direction=m.direction,
        kind=m.kind,
        channel=m.channel,
        body=m.body,
        status=status.value,
        label=label(status).value,
        error_code=m.error_code,
        error_message=m.error_message,
        encoding=m.encoding,
        segments=m.segments,
        to=m.to_phone,
        from_=m.from_phone,
        provider_id=m.provider_id,
        created_at=m.created_at,
        due_at=m.due_at if m.direction == "outbound" else None,
        history=[
            HistoryOut.model_construct(
                status=e.status, at=e.at, error_code=e.error_code, detail=e.detail, attempt=n
            )
            for e, n in zip(
                events, attempt_numbers([Status(e.status) for e in events]), strict=True
            )
        ],
        attempts=[
            AttemptOut.model_construct(
                at=a.at,
                operation=a.operation,
                outcome=a.outcome,
                http_status=a.http_status,
                elapsed_ms=a.elapsed_ms,
                error=a.error,
                request=a.request,
                response=a.response,
            )
            for a in detail.attempts
        ],
        diagnosis=DiagnosisOut.model_construct(summary=diagnosis.summary, fix=diagnosis.fix)
        if diagnosis
        else None,
    )


@router.post(
    "/messages",
    response_model=MessageOut,
    response_model_by_alias=True,
    status_code=202,
    responses={422: {"description": "cannot_text: every check, and nothing was written"}},
)
def send_message(body: MessageIn, caller: CallerDep, session: SessionDep) -> Response:
    """Send a staff text: runs the checklist, then queues it (202) or refuses it (422)."""
    queued = sending.queue_text(
        session,
        caller.org_id,
        body.patient_id,
        Channel(body.channel),
        body.body,
        actor=caller.actor,
        send_kind=SendKind(body.kind),
    )
    return message_answer(queued_out(session, queued), 202)


def queued_out(session: Session, queued: sending.Queued) -> MessageOut:
    """The answer for a text just queued, from what the send holds: its one status event,
    no provider call yet, its sender; nothing written is read back."""
    m = queued.message
    first = Event(m.status, m.created_at.astimezone(UTC), None, queued.detail)
    ctx = DiagnosisContext(
        session, m.organization_id, utcnow(), timezone=queued.organization.timezone
    )
    return _out(MessageDetail(m, [first], [], queued.sender), ctx)


@router.get("/messages/{message_id}", response_model=MessageOut, response_model_by_alias=True)
def get_message(
    caller: CallerDep, session: SessionDep, message_id: int = Path(ge=1, le=MAX_ID)
) -> Response:
    """A message with its status history and, unless delivered, why and what to do."""
    message = messages.get_message(session, caller.org_id, message_id)
    return message_answer(message_out(session, message))


@router.post(
    "/messages/{message_id}/cancel",
    response_model=MessageOut,
    response_model_by_alias=True,
    responses={
        404: {"description": "message_not_found: no such message in this organization"},
        409: {"description": "not_cancelable: already handed to the provider, or final"},
    },
)
def cancel_message(
    caller: CallerDep, session: SessionDep, message_id: int = Path(ge=1, le=MAX_ID)
) -> Response:
    """Cancel a text not yet handed to the provider (scheduled or queued)."""
    message = cancel.cancel(session, caller.org_id, message_id, actor=caller.actor)
    return message_answer(message_out(session, message))


@router.get("/messages", response_model=list[MessageOut], response_model_by_alias=True)
def list_messages(
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: StatusName | None = None,
    direction: Literal["outbound", "inbound"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> list[MessageOut]:
    """Newest first; ``X-Next-Cursor`` carries the cursor of the next page, if any."""
    page = messages.list_messages(
        session,
        caller.org_id,
        patient_id=patient_id,
        status=status,
        direction=direction,
        limit=limit,
        cursor=cursor,
    )
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    ctx = diagnosis_context(session, caller.org_id, utcnow())
    return messages_out(session, page.items, ctx)
