"""``POST /lint``: the deliverability lint (``domain.lint``) with the caller's own settings."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import Request, SendKindName
from clinictext.domain.content import MAX_BODY_CHARS
from clinictext.domain.links import LinkPolicy
from clinictext.domain.lint import LintReport, lint
from clinictext.services import orgs

router = APIRouter(tags=["lint"])

# A body over the sending limit is still linted (it gets a "cannot_send" finding that says
# by how much); ten times that limit bounds the work one request can ask for.
MAX_LINT_CHARS = 10 * MAX_BODY_CHARS


class LintIn(Request):
    body: Annotated[str, Field(strict=True, max_length=MAX_LINT_CHARS)]
    kind: SendKindName


class LintFindingOut(BaseModel):
    code: str
    severity: Literal["info", "warning", "block"]
    message: str
    suggestion: str
    matches: list[str] = Field(
        description="The parts of the text the finding is about: links, characters or words."
    )


class LintOut(BaseModel):
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    characters: int
    per_segment: int = Field(description="Characters one part holds for this text.")
    findings: list[LintFindingOut] = Field(description="Block first, then warning, then info.")
    blocked: bool = Field(description="Whether a finding stops the text from being sent.")
    ucs2_characters: list[str] = Field(description="The characters that forced UCS-2.")
    gsm7_rewrite: str | None = Field(
        description="The text with those characters replaced, when every one has a "
        "standard-alphabet equivalent."
    )
    gsm7_rewrite_segments: int | None


def lint_out(report: LintReport) -> LintOut:
    return LintOut(
        encoding=report.encoding,  # type: ignore[arg-type]
        segments=report.segments,
        characters=report.characters,
        per_segment=report.per_segment,
        findings=[
            LintFindingOut(
                code=f.code,
                severity=f.severity.value,
                message=f.message,
                suggestion=f.suggestion,
                matches=list(f.matches),
            )
            for f in report.findings
        ],
        blocked=report.blocked,
        ucs2_characters=list(report.ucs2_characters),
        gsm7_rewrite=report.gsm7_rewrite,
        gsm7_rewrite_segments=report.gsm7_rewrite_segments,
    )


@router.post("/lint", response_model=LintOut)
def lint_text(payload: LintIn, caller: CallerDep, session: SessionDep) -> LintOut:
    """Check a text before sending it: encoding, parts, links and wording carriers filter.

    The organization's link policy and name are the caller's. Nothing is written.
    """
    org = orgs.get_org(session, caller.org_id)
    policy = LinkPolicy(org.url_policy or LinkPolicy.WARN)
    return lint_out(lint(payload.body, payload.kind, policy, org.name))
