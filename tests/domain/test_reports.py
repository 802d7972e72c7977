"""Every order of the provider's reports about one attempt ends in the same, true state."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.reports import Recorded, Report, Verb, decide
from clinictext.domain.statuses import RANK, Status


@dataclass
class Text:
    """The recorded text, changed only by applying ``decide``'s actions (as the service does)."""

    status: Status = Status.SENDING
    provider_id: str | None = None
    superseded: set[str] = field(default_factory=set)
    history: list[tuple[int, Status]] = field(default_factory=list)
    attempt: int = 1

    def apply(self, report: Report) -> Verb:
        action = decide(
            Recorded(self.status, self.provider_id, report.provider_id in self.superseded), report
        )
        if action.verb is Verb.RETRY:
            self.superseded.add(report.provider_id)
            self.provider_id = None
            self.status = Status.QUEUED
            self.attempt += 1
            self.history.append((self.attempt, Status.QUEUED))
        elif action.verb is Verb.ADVANCE:
            assert action.status is not None
            self.provider_id = self.provider_id or report.provider_id
            if action.status is not self.status:
                self.status = action.status
                self.history.append((self.attempt, action.status))
        return action.verb


# What the carrier does with attempt 1 (id SM1): its callbacks and what a look-up returns.
OUTCOMES = {
    "delivered": (Report("SM1", Status.DELIVERED), Status.DELIVERED),
    "unreachable": (Report("SM1", Status.UNDELIVERED, "30003"), Status.QUEUED),
    "landline": (Report("SM1", Status.UNDELIVERED, "30006"), Status.UNDELIVERED),
}


def events(outcome: str) -> dict[str, Report]:
    final, _ = OUTCOMES[outcome]
    return {
        "send answer": Report("SM1", Status.SENT),
        "callback sent": Report("SM1", Status.SENT),
        "final callback": final,
        "refresh look-up": final,
    }


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_every_order_of_the_reports_ends_in_the_carriers_outcome(outcome: str) -> None:
    reports = events(outcome)
    expected = OUTCOMES[outcome][1]
    for order in itertools.permutations(reports):
        text = Text()
        for name in order:
            text.apply(reports[name])
        assert text.status is expected, order
        if expected is Status.QUEUED:
            # A retry is a new attempt with no provider id yet; SM1's news is ignored.
            assert text.provider_id is None and text.superseded == {"SM1"}, order
        else:
            assert text.provider_id == "SM1", order


@given(
    outcome=st.sampled_from(sorted(OUTCOMES)),
    sequence=st.lists(
        st.sampled_from(["send answer", "callback sent", "final callback", "refresh look-up"]),
        min_size=1,
        max_size=12,
    ),
)
def test_statuses_only_move_forward_within_an_attempt(outcome: str, sequence: list[str]) -> None:
    reports = events(outcome)
    text = Text()
    for name in sequence:
        text.apply(reports[name])
    for attempt in {a for a, _ in text.history}:
        ranks = [RANK[s] for a, s in text.history if a == attempt]
        assert ranks == sorted(ranks)
        assert len(ranks) == len(set(ranks))


@given(st.lists(st.sampled_from(sorted(OUTCOMES)), min_size=1, max_size=6))
def test_news_about_a_retried_attempt_never_changes_the_next_one(outcomes: list[str]) -> None:
    text = Text()
    text.apply(Report("SM1", Status.UNDELIVERED, "30003"))  # attempt 1 retried
    text.status = Status.SENDING  # attempt 2 claimed
    text.apply(Report("SM2", Status.SENT))
    before = (text.status, text.provider_id)
    for name in outcomes:
        assert text.apply(OUTCOMES[name][0]) is Verb.IGNORE
    assert (text.status, text.provider_id) == before


def test_a_report_about_another_attempt_is_ignored() -> None:
    action = decide(Recorded(Status.SENT, "SM2", False), Report("SM1", Status.DELIVERED))
    assert action.verb is Verb.IGNORE


def test_a_signed_report_about_a_text_queued_again_is_adopted() -> None:
    """A crash found nothing and queued it again, then the carrier's callback proves it went."""
    action = decide(Recorded(Status.QUEUED, None, False), Report("SM1", Status.DELIVERED))
    assert (action.verb, action.status) == (Verb.ADVANCE, Status.DELIVERED)


@pytest.mark.parametrize(
    ("reachable", "code", "verb"),
    [
        (False, None, Verb.RETRY),  # no answer: the provider is down
        (True, "30003", Verb.RETRY),  # a temporary carrier error
        (True, "21211", Verb.ADVANCE),  # an invalid number: failed for good
        (True, "21610", Verb.ADVANCE),  # the recipient opted out at the carrier
    ],
)
def test_a_refused_send_is_retried_only_when_the_failure_is_temporary(
    reachable: bool, code: str | None, verb: Verb
) -> None:
    from clinictext.domain.reports import decide_refusal

    action = decide_refusal(reachable, code)
    assert action.verb is verb
    assert action.status is Status.FAILED
