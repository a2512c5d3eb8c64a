"""The eligibility rules alone (pure: no app, no database): each condition alone blocks the badge,
and the verdict is exactly the conjunction of the conditions (property-based)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lti_tool.badges.eligibility import Agreement, Facts, evaluate

ON = date(2026, 3, 12)
IN_FORCE = Agreement("concluded", date(2020, 11, 6), verified=True)
READY = Facts(on=ON, cases_total=3, cases_passed=3, reflections_total=3, reflections_submitted=3,
              review_on=True, review="accepted", organisation_code="css-des-rives",
              organisation_known=True, organisation_name="CSS des Rives", territory_code="sq",
              territory_name="SQ", police_force="Sûreté du Québec", agreement=IN_FORCE,
              require_explorer=True, explorer_completed=True)


def test_everything_met_is_eligible() -> None:
    result = evaluate(READY)
    assert result.eligible and result.territory_status == "in_force"
    assert [c.code for c in result.conditions] == [
        "cases_passed", "reflections_submitted", "reflections_accepted", "organisation",
        "agreement", "explorer"]
    assert all(c.met for c in result.conditions) and result.unmet == ()


# Each change breaks exactly one rule; the condition it breaks and the reason the page words.
BLOCKERS = {
    "two_cases": ({"cases_passed": 2}, "cases_passed", "cases_not_passed"),
    "no_case": ({"cases_passed": 0}, "cases_passed", "cases_not_passed"),
    "two_reflections": ({"reflections_submitted": 2, "review": None}, "reflections_submitted",
                        "reflections_not_submitted"),
    "awaiting_review": ({"review": None}, "reflections_accepted", "reflections_awaiting_review"),
    "returned": ({"review": "returned"}, "reflections_accepted", "reflections_returned"),
    "no_organisation": ({"organisation_code": None, "organisation_known": False},
                        "organisation", "no_organisation"),
    "unknown_organisation": ({"organisation_known": False}, "organisation",
                             "organisation_not_registered"),
    "no_territory": ({"territory_code": None}, "organisation", "organisation_without_territory"),
    "no_agreement": ({"agreement": None}, "agreement", "no_agreement"),
    "agreement_none": ({"agreement": Agreement("none", None, False)}, "agreement", "no_agreement"),
    "unverified": ({"agreement": replace(IN_FORCE, verified=False)}, "agreement",
                   "agreement_unverified"),
    "suspended": ({"agreement": Agreement("suspended", date(2020, 11, 6), True)}, "agreement",
                  "agreement_suspended"),
    "suspended_unverified": ({"agreement": Agreement("suspended", date(2020, 11, 6), False)},
                             "agreement", "agreement_suspended"),
    "not_yet_in_force": ({"agreement": replace(IN_FORCE, concluded_on=ON + timedelta(days=1))},
                         "agreement", "agreement_not_yet_in_force"),
    "concluded_without_date": ({"agreement": replace(IN_FORCE, concluded_on=None)}, "agreement",
                               "no_agreement"),
    "explorer_missing": ({"explorer_completed": False}, "explorer", "explorer_missing"),
}


@pytest.mark.parametrize("name", sorted(BLOCKERS))
def test_each_rule_alone_blocks_the_badge(name: str) -> None:
    change, code, reason = BLOCKERS[name]
    result = evaluate(replace(READY, **change))
    assert not result.eligible
    unmet = [c for c in result.conditions if not c.met]
    if code == "reflections_submitted":  # no submission: nothing to accept either
        assert [c.code for c in unmet] == ["reflections_submitted", "reflections_accepted"]
    elif code == "organisation":  # an unknown organisation: its territory is unknown too
        assert [c.code for c in unmet] == ["organisation", "agreement"]
        assert result.condition("agreement").reason == "territory_unknown"  # type: ignore[union-attr]
    else:
        assert [c.code for c in unmet] == [code]
    assert result.condition(code).reason == reason  # type: ignore[union-attr]


def test_an_agreement_concluded_on_the_award_date_is_in_force() -> None:
    assert evaluate(replace(READY, agreement=replace(IN_FORCE, concluded_on=ON))).eligible


def test_review_and_explorer_count_only_where_the_deployment_asks() -> None:
    relaxed = replace(READY, review_on=False, review=None, require_explorer=False,
                      explorer_completed=False)
    result = evaluate(relaxed)
    assert result.eligible
    assert result.condition("reflections_accepted") is None and result.condition("explorer") is None


def test_territory_status_says_what_the_learner_can_expect() -> None:
    assert evaluate(replace(READY, cases_passed=0)).territory_status == "in_force"
    assert evaluate(replace(READY, agreement=None)).territory_status == "waiting"
    assert evaluate(replace(READY, agreement=replace(IN_FORCE, verified=False))
                    ).territory_status == "waiting"
    assert evaluate(replace(READY, agreement=Agreement("suspended", None, True))
                    ).territory_status == "suspended"
    assert evaluate(replace(READY, organisation_code=None)).territory_status == "no_organisation"


agreements = st.one_of(st.none(), st.builds(
    Agreement, status=st.sampled_from(["concluded", "suspended", "none"]),
    concluded_on=st.one_of(st.none(), st.dates(date(2015, 1, 1), date(2030, 12, 31))),
    verified=st.booleans()))


@st.composite
def facts(draw: st.DrawFn) -> Facts:
    total = draw(st.integers(0, 4))
    questions = draw(st.integers(0, 4))
    code = draw(st.one_of(st.none(), st.sampled_from(["css-a", "css-b"])))
    return Facts(
        on=draw(st.dates(date(2015, 1, 1), date(2030, 12, 31))),
        cases_total=total, cases_passed=draw(st.integers(0, total)),
        reflections_total=questions, reflections_submitted=draw(st.integers(0, questions)),
        review_on=draw(st.booleans()),
        review=draw(st.sampled_from([None, "accepted", "returned"])),
        organisation_code=code, organisation_known=draw(st.booleans()),
        territory_code=draw(st.one_of(st.none(), st.just("sq"))),
        agreement=draw(agreements), require_explorer=draw(st.booleans()),
        explorer_completed=draw(st.booleans()))


@given(facts())
def test_eligible_is_exactly_every_rule(f: Facts) -> None:
    """An oracle written from the issue's words, independently of the module's structure."""
    a = f.agreement
    expected = (
        f.cases_total > 0 and f.cases_passed == f.cases_total
        and f.reflections_total > 0 and f.reflections_submitted == f.reflections_total
        and (not f.review_on or f.review == "accepted")
        and bool(f.organisation_code) and f.organisation_known and bool(f.territory_code)
        and a is not None and a.status == "concluded" and a.verified
        and a.concluded_on is not None and a.concluded_on <= f.on
        and (not f.require_explorer or f.explorer_completed))
    result = evaluate(f)
    assert result.eligible is expected
    assert result.eligible == all(c.met for c in result.conditions)
    assert len({c.code for c in result.conditions}) == len(result.conditions)


@given(facts())
def test_an_unverified_or_suspended_agreement_makes_no_one_eligible(f: Facts) -> None:
    if f.agreement is not None and (not f.agreement.verified or f.agreement.status != "concluded"):
        assert not evaluate(f).eligible
