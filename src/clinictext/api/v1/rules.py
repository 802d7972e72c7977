"""`/rules`: reminders and confirmations sent a set time before each appointment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field, StrictBool, StrictInt

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import MAX_ID, Id, NoNul, Request
from clinictext.domain.automation import MINUTES_BEFORE_MAX
from clinictext.services import rules
from clinictext.store.models import Rule

router = APIRouter(tags=["rules"])

RuleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The rule's id.")]
RuleName = Annotated[str, Field(strict=True, min_length=1, max_length=200), NoNul]
PurposeName = Literal["reminder", "confirmation"]
# Only bounded so that any value fits the column; the service says the allowed range.
Minutes = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


class RuleIn(Request):
    name: RuleName
    purpose: PurposeName
    minutes_before: Minutes = Field(
        description=f"How long before the appointment the text is due: 1 to "
        f"{MINUTES_BEFORE_MAX:,} minutes (30 days), e.g. 1440 for a day before."
    )
    do_not_send_within_minutes: Minutes = Field(
        default=0,
        description="Never send within this many minutes of the start (0: no margin). A text "
        "due earlier that could not go out in time is skipped once inside the margin. Must be "
        "less than minutes_before.",
    )
    template_id: Id = Field(
        description="A template of the same purpose; a confirmation's asks for [ConfirmCode]."
    )
    enabled: StrictBool = True


class RulePatch(Request):
    name: RuleName | None = None
    purpose: PurposeName | None = None
    minutes_before: Minutes | None = None
    do_not_send_within_minutes: Minutes | None = None
    template_id: Id | None = None
    enabled: StrictBool | None = None


class RuleOut(BaseModel):
    id: int
    name: str
    purpose: PurposeName
    minutes_before: int
    do_not_send_within_minutes: int
    template_id: int
    enabled: bool
    description: str = Field(description="The rule in one sentence.")
    texts: dict[str, int] = Field(
        description="How many of its appointment texts are planned, queued (written), "
        "skipped and canceled."
    )
    created_at: datetime
    updated_at: datetime


def rule_out(rule: Rule, counts: dict[str, int]) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        purpose=rule.purpose,  # type: ignore[arg-type]
        minutes_before=rule.minutes_before,
        do_not_send_within_minutes=rule.do_not_send_within_minutes,
        template_id=rule.template_id,
        enabled=rule.enabled,
        description=rules.described(rule),
        texts=counts,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def _one(session: SessionDep, rule: Rule) -> RuleOut:
    return rule_out(rule, rules.text_counts(session, rule.organization_id, [rule.id])[rule.id])


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, caller: CallerDep, session: SessionDep) -> RuleOut:
    """Save a rule; an enabled one is planned at once for every upcoming appointment."""
    rule = rules.create(session, caller.org_id, **body.model_dump(), actor=caller.actor)
    return _one(session, rule)


@router.get("/rules", response_model=list[RuleOut])
def list_rules(caller: CallerDep, session: SessionDep) -> list[RuleOut]:
    found = rules.list_rules(session, caller.org_id)
    counts = rules.text_counts(session, caller.org_id, [r.id for r in found])
    return [rule_out(r, counts[r.id]) for r in found]


@router.get("/rules/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: RuleId, caller: CallerDep, session: SessionDep) -> RuleOut:
    return _one(session, rules.get(session, caller.org_id, rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleOut)
def patch_rule(rule_id: RuleId, body: RulePatch, caller: CallerDep, session: SessionDep) -> RuleOut:
    """Change a rule. Turning it off cancels its texts not yet handed to the provider;
    turning it on, or changing its offset, plans every upcoming appointment again."""
    rule = rules.update(
        session, caller.org_id, rule_id, actor=caller.actor, **body.model_dump(exclude_unset=True)
    )
    return _one(session, rule)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: RuleId, caller: CallerDep, session: SessionDep) -> Response:
    """Delete a rule; its texts not yet handed to the provider are canceled."""
    rules.delete(session, caller.org_id, rule_id, actor=caller.actor)
    return Response(status_code=204)
