"""Tests for clinictext.domain.lint: the deliverability findings of SPEC §5."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinictext.domain.checklist import SendKind
from clinictext.domain.links import LinkPolicy
from clinictext.domain.lint import LintReport, Severity, has_opt_out_line, lint, names_org
from clinictext.domain.segments import GSM7, UCS2, count_segments, gsm7_rewrite

ORG = "Smile Dental"
CAMPAIGN_OK = "Smile Dental: whitening appointments are open this month. Reply STOP to opt out."


def found(report: LintReport) -> dict[str, str]:
    return {f.code: f.severity.value for f in report.findings}


@pytest.mark.parametrize(
    ("body", "kind", "policy", "expected"),
    [
        # plain texts a clinic sends: nothing to say
        pytest.param(
            "Hi Ana, your cleaning is tomorrow at 3:00 PM. Reply C to confirm.",
            "manual",
            "warn",
            {},
            id="plain-reminder",
        ),
        pytest.param(
            "Hi [FName], see you on [ApptDate] at [ApptTime]. Reply [ConfirmCode] to confirm.",
            "automated",
            "block",
            {},
            id="template-with-code",
        ),
        pytest.param(
            "Feel free to call. Fragrance free office, pain free fillings, toll-free line. "
            "Cash or card. MRI results are in. COVID shots too.",
            "manual",
            "warn",
            {},
            id="ordinary-clinic-words",
        ),
        pytest.param(
            "Your winning smile awaits, and we won't be late. Urgent care is next door.",
            "manual",
            "warn",
            {},
            id="winning-wont-urgent",
        ),
        pytest.param(CAMPAIGN_OK, "campaign", "warn", {}, id="campaign-complete"),
        # what sending refuses
        pytest.param("   ", "manual", "warn", {"cannot_send": "block"}, id="blank"),
        pytest.param(
            "x\x00y",  # NUL is no GSM-7 character either
            "manual",
            "warn",
            {"cannot_send": "block", "ucs2_characters": "info"},
            id="nul",
        ),
        pytest.param(
            "a" * 1601,
            "manual",
            "warn",
            {"cannot_send": "block", "long_message": "warning"},
            id="over-1600",
        ),
        # encoding and length
        pytest.param(
            "We\u2019re open today \u2014 call us",
            "manual",
            "warn",
            {"ucs2_characters": "info"},
            id="curly-one-part",
        ),
        pytest.param(
            "We\u2019re open " + "a" * 90,
            "manual",
            "warn",
            {"ucs2_characters": "warning", "long_message": "info"},
            id="curly-costs-a-part",
        ),
        pytest.param(
            "See you \U0001f600", "manual", "warn", {"ucs2_characters": "info"}, id="emoji"
        ),
        pytest.param(
            "Hola Ana, su cita en la cl\u00ednica es ma\u00f1ana.",
            "manual",
            "warn",
            {"ucs2_characters": "info"},
            id="spanish-letters",
        ),
        pytest.param("a" * 161, "manual", "warn", {"long_message": "info"}, id="two-parts"),
        pytest.param("a" * 459, "manual", "warn", {"long_message": "info"}, id="three-parts"),
        pytest.param("a" * 460, "manual", "warn", {"long_message": "warning"}, id="four-parts"),
        # links: the policy for staff texts, never a block for templates
        pytest.param(
            "Forms: https://smile.example.com/forms",
            "manual",
            "warn",
            {"link": "warning"},
            id="link-warn",
        ),
        pytest.param(
            "Forms: https://smile.example.com/forms",
            "manual",
            "block",
            {"link": "block"},
            id="link-block",
        ),
        pytest.param(
            "Forms: smile.com/forms", "automated", "block", {"link": "info"}, id="link-automated"
        ),
        pytest.param(
            "Forms: smile.com/forms. " + CAMPAIGN_OK,
            "campaign",
            "block",
            {"link": "info"},
            id="link-campaign",
        ),
        pytest.param(
            "Book: bit.ly/3smile",
            "manual",
            "warn",
            {"link_shortener": "warning"},
            id="shortener-warn",
        ),
        pytest.param(
            "Book: bit.ly/3smile",
            "manual",
            "block",
            {"link_shortener": "block"},
            id="shortener-block",
        ),
        pytest.param(
            "Book: tinyurl.com/smile",
            "automated",
            "warn",
            {"link_shortener": "warning"},
            id="shortener-automated",
        ),
        pytest.param(
            "Confirm: [ConfirmURL]",
            "automated",
            "warn",
            {"confirm_url": "warning"},
            id="confirm-url",
        ),
        # wording
        pytest.param(
            "PLEASE CALL the office TODAY",
            "manual",
            "warn",
            {"all_caps": "warning"},
            id="two-shouted-words",
        ),
        pytest.param(
            "PLS TXT US ON MON AT 3 PM OK IF NOT",
            "manual",
            "warn",
            {"all_caps": "warning"},
            id="mostly-caps",
        ),
        pytest.param(
            "IMPORTANT: your visit moved to 4 PM. Reply STOP to opt out, HELP for help.",
            "manual",
            "warn",
            {},
            id="one-shouted-word-and-keywords",
        ),
        pytest.param("Get a FREE exam", "manual", "warn", {"spam_words": "warning"}, id="free"),
        pytest.param(
            "You have won a prize!", "manual", "warn", {"spam_words": "warning"}, id="won-prize"
        ),
        pytest.param(
            "Act now: limited time offer",
            "manual",
            "warn",
            {"spam_words": "warning"},
            id="act-now",
        ),
        pytest.param("Save $$$ today", "manual", "warn", {"spam_words": "warning"}, id="dollars"),
        pytest.param(
            "Every winner gets a gift card",
            "manual",
            "warn",
            {"spam_words": "warning"},
            id="winner-gift-card",
        ),
        # campaigns
        pytest.param(
            "Whitening is 20% off this month. Reply STOP to opt out.",
            "campaign",
            "warn",
            {"missing_org_name": "warning"},
            id="campaign-no-name",
        ),
        pytest.param(
            "[OfficeName]: whitening is 20% off. Reply STOP to opt out.",
            "campaign",
            "warn",
            {},
            id="campaign-office-name-field",
        ),
        pytest.param(
            "Smile Dental: whitening is 20% off this month.",
            "campaign",
            "warn",
            {"missing_opt_out": "warning"},
            id="campaign-no-opt-out",
        ),
        pytest.param(
            "SMILE  dental: whitening. Text \u201cstop\u201d to end.",
            "campaign",
            "warn",
            {"ucs2_characters": "info"},
            id="campaign-name-any-case-quoted-stop",
        ),
        pytest.param(
            "Whitening is 20% off this month.",
            "manual",
            "warn",
            {},
            id="manual-needs-neither",
        ),
    ],
)
def test_findings(body: str, kind: str, policy: str, expected: dict[str, str]) -> None:
    assert found(lint(body, kind, policy, ORG)) == expected


@pytest.mark.parametrize(
    ("body", "characters", "rewrite"),
    [
        ("We\u2019re \u201copen\u201d", ("\u2019", "\u201c", "\u201d"), 'We\'re "open"'),
        ("9\u201310 \u2014 ok\u2026", ("\u2013", "\u2014", "\u2026"), "9-10 - ok..."),
        ("a\u00a0b\u200bc", ("\u00a0", "\u200b"), "a bc"),
        ("See you \U0001f600", ("\U0001f600",), None),
    ],
)
def test_ucs2_names_the_characters_and_offers_the_rewrite(
    body: str, characters: tuple[str, ...], rewrite: str | None
) -> None:
    report = lint(body, "manual", "warn", ORG)
    assert report.encoding == UCS2
    assert report.ucs2_characters == characters
    assert report.gsm7_rewrite == rewrite
    finding = report.findings[0]
    assert finding.code == "ucs2_characters"
    assert finding.matches == characters
    assert "70 characters instead of 160" in finding.message


def test_the_rewrite_suggestion_says_what_replaces_what() -> None:
    finding = lint("We\u2019re open \u2014 today", "manual", "warn", ORG).findings[0]
    assert "\u2019 (curly apostrophe) → '" in finding.suggestion
    assert "\u2014 (long dash) → -" in finding.suggestion


def test_invisible_characters_are_named_not_printed() -> None:
    finding = lint("a\u200bb\u0301", "manual", "warn", ORG).findings[0]
    assert "invisible space" in finding.message
    assert "combining acute accent" in finding.message


def test_a_rewrite_that_saves_a_part_says_how_many() -> None:
    report = lint("We\u2019re open " + "a" * 90, "manual", "warn", ORG)
    assert (report.segments, report.gsm7_rewrite_segments) == (2, 1)
    assert "2 parts instead of 1" in report.findings[0].message


def test_gsm7_text_has_no_rewrite() -> None:
    report = lint("Hello", "manual", "warn", ORG)
    assert (report.encoding, report.ucs2_characters, report.gsm7_rewrite) == (GSM7, (), None)


def test_block_findings_come_first() -> None:
    report = lint("FREE whitening " + "a" * 1600, "manual", "warn", ORG)
    assert [f.severity for f in report.findings] == [
        Severity.BLOCK,
        Severity.WARNING,
        Severity.WARNING,
    ]
    assert report.blocked
    assert not lint("Hello", "manual", "warn", ORG).blocked


def test_link_finding_lists_the_links() -> None:
    report = lint("See bit.ly/a and https://smile.example.com/x", "manual", "warn", ORG)
    (finding,) = report.findings
    assert finding.code == "link_shortener"
    assert finding.matches == ("bit.ly/a", "https://smile.example.com/x")


def test_templates_are_told_why_the_link_is_allowed() -> None:
    (finding,) = lint("Forms: smile.com/forms", "automated", "block", ORG).findings
    assert "link policy" in finding.message and "will be sent" in finding.message


def test_spam_words_are_listed_once_in_text_order() -> None:
    (finding,) = lint("Win! FREE stuff, free, WIN a prize", "manual", "warn", ORG).findings
    assert finding.matches == ("Win", "FREE", "prize")


def test_missing_org_name_names_the_organization() -> None:
    report = lint("Reply STOP to opt out", "campaign", "warn", "Lakeside Clinic")
    (finding,) = report.findings
    assert "Lakeside Clinic" in finding.message and "Lakeside Clinic" in finding.suggestion


def test_without_an_org_name_there_is_nothing_to_look_for() -> None:
    assert lint("Reply STOP to opt out", "campaign", "warn", "  ").findings == ()


@pytest.mark.parametrize(
    "body",
    [
        "Smile Dental: 20% off. Reply STOP to opt out.",
        "Whitening is 20% off. Reply STOP to opt out.",
        "Smile Dental: 20% off.",
        "20% off.",
        "[OfficeName]: 20% off. Responda STOP para cancelar.",
    ],
)
def test_the_public_checks_are_the_campaign_findings(body: str) -> None:
    codes = lint(body, "campaign", "warn", "Smile Dental").codes
    assert names_org(body, "Smile Dental") is ("missing_org_name" not in codes)
    assert has_opt_out_line(body) is ("missing_opt_out" not in codes)


def test_every_finding_has_words_for_the_front_desk() -> None:
    body = "FREE \u2014 WIN NOW [ConfirmURL] bit.ly/x " + "\U0001f600" * 900
    report = lint(body, SendKind.CAMPAIGN, LinkPolicy.BLOCK, "")
    assert len(report.findings) >= 6
    for finding in report.findings:
        assert finding.code.isidentifier() and finding.code.islower()
        assert finding.message.endswith(".") and finding.suggestion.rstrip("'").endswith(".")


@settings(max_examples=300, deadline=None)
@given(
    body=st.text(max_size=400)
    # what the checks look for, and what sending refuses (a lone surrogate, NUL)
    | st.text(alphabet="aA $[]{}€é\u2019\u2014\U0001f600\ud83d\x00\n.:/", max_size=400)
    | st.lists(st.sampled_from(["FREE ", "win ", "bit.ly/x ", "STOP ", "\t"]), max_size=60).map(
        "".join
    ),
    kind=st.sampled_from(list(SendKind)),
    policy=st.sampled_from(list(LinkPolicy)),
    org_name=st.text(max_size=40),
)
def test_lint_never_raises_and_agrees_with_segments(
    body: str, kind: SendKind, policy: LinkPolicy, org_name: str
) -> None:
    report = lint(body, kind, policy, org_name)
    info = count_segments(body)
    assert (report.encoding, report.segments, report.characters, report.per_segment) == (
        info.encoding,
        info.segments,
        info.characters,
        info.per_segment,
    )
    assert report.ucs2_characters == info.non_gsm_characters
    assert report.gsm7_rewrite == (gsm7_rewrite(body) if info.encoding == UCS2 else None)
    assert ("ucs2_characters" in report.codes) == (info.encoding == UCS2)
    assert ("long_message" in report.codes) == (info.segments > 1)
    ranks = [list(Severity).index(f.severity) for f in report.findings]
    assert ranks == sorted(ranks, reverse=True)
