"""What to do with a report from the provider, given what is recorded: one decision.

The provider speaks about a text in four ways: its answer to the send, status callbacks,
a look-up after a crash (reconciliation) and a look-up on refresh. They arrive late,
twice, out of order or never, and a callback may beat the send answer it follows. Each
report ends here, in ``decide``, and one service applies the action
(``services.status_updates.apply_report``).

- News about an attempt given up for a retry (a superseded provider id), or about
  another attempt than the one recorded, changes nothing.
- A transient failure (e.g. 30003, unreachable handset) of the current attempt starts a
  new attempt, or, past the text's validity, ends it failed.
- Anything else moves the status forward only (``statuses.advance``); the first report
  that names the provider id of the current attempt records it. A signed report about a
  text that has no provider id (even one queued again after a crash found nothing) is
  proof the provider has it: it is adopted, which keeps it from being sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from clinictext.domain.carrier_errors import is_transient
from clinictext.domain.statuses import FINAL, Status, advance


class Verb(StrEnum):
    ADVANCE = "advance"  # move forward to ``status`` (and record the provider id)
    RETRY = "retry"  # start a new attempt (or, past the validity period, end as ``status``)
    IGNORE = "ignore"  # nothing to change; ``why`` says why


@dataclass(frozen=True)
class Recorded:
    status: Status
    provider_id: str | None  # the provider's id of the current attempt, once known
    superseded: bool  # the report's provider id belongs to an attempt given up for a retry


@dataclass(frozen=True)
class Report:
    provider_id: str
    status: Status
    error_code: str | None = None


@dataclass(frozen=True)
class Action:
    verb: Verb
    status: Status | None = None
    why: str = ""


def decide(recorded: Recorded, report: Report) -> Action:
    """The one answer to "given what is recorded and this report, what now"."""
    if recorded.superseded:
        return Action(Verb.IGNORE, why="about an attempt given up for a retry")
    if recorded.provider_id is not None and recorded.provider_id != report.provider_id:
        return Action(Verb.IGNORE, why="about another attempt than the current one")
    if recorded.status in FINAL:
        return Action(Verb.IGNORE, why="the text already has its final status")
    failed = report.status in (Status.UNDELIVERED, Status.FAILED)
    if failed and is_transient(report.error_code):
        return Action(Verb.RETRY, status=report.status, why="a temporary failure")
    new = advance(recorded.status, report.status)
    if new is recorded.status and recorded.provider_id is not None:
        return Action(Verb.IGNORE, why="not news: the status is already this far")
    return Action(Verb.ADVANCE, status=new)


def is_plain(action: Action, report: Report) -> bool:
    """Whether applying ``action`` only moves the status forward and records the provider
    id, or changes nothing: no error to record, no retry, no consequence for the patient
    (such an action can be applied to a text's row alone)."""
    if action.verb is Verb.IGNORE:
        return True
    return (
        action.verb is Verb.ADVANCE
        and report.error_code is None
        and action.status not in (Status.FAILED, Status.UNDELIVERED)
    )


def decide_refusal(reachable: bool, error_code: str | None) -> Action:
    """A send the provider did not accept: try again later, or fail now.

    No answer at all (timeout, connection refused, 5xx, 429) and transient carrier errors
    are retried; any other refusal (an invalid number, an opted-out recipient) is final.
    """
    if not reachable:
        return Action(Verb.RETRY, status=Status.FAILED, why="the SMS provider is unreachable")
    if is_transient(error_code):
        return Action(Verb.RETRY, status=Status.FAILED, why="a temporary error")
    return Action(Verb.ADVANCE, status=Status.FAILED, why="refused by the provider")
