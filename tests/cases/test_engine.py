"""Engine rules of content/FORMAT.md on small hand-built cases (tests/cases/engine_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import pytest

from lti_tool.cases import engine, progress
from lti_tool.cases.engine import (
    Answer,
    CaseFinished,
    CaseState,
    ChoiceMade,
    CriticalError,
    CriticalErrorMade,
    InvalidChoice,
    RetryOffered,
)
from lti_tool.cases.model import Case
from tests.cases.engine_fixtures import END, branching_case, linear_case, moves


def play(case: Case, choices: Iterable[str]) -> CaseState:
    return engine.replay(case, choices)


# --- scoring and outcomes ---


def test_best_path_scores_one_and_is_conforme() -> None:
    case = linear_case()
    state = play(case, moves("best", "best", "best", "best", "best"))
    assert state.finished and state.node == END
    assert engine.score(case, state) == 1.0
    assert engine.outcome(case, state) == "conforme"
    assert engine.passed(case, state)
    assert engine.critical_errors(state) == ()
    assert engine.decisions_answered(state) == 5


def test_new_state_starts_at_start_with_nothing_answered() -> None:
    case = linear_case()
    state = engine.new_state(case)
    assert state == CaseState(case_id="lin", node="d1")
    assert engine.score(case, state) == 0.0
    assert engine.decisions_answered(state) == 0
    assert [c.id for c in engine.offered_choices(case, state)] == ["d1-best", "d1-ok", "d1-bad",
                                                                   "d1-ce"]
    assert not engine.passed(case, state)


def test_critical_error_then_best_retry_is_capped_resolved_and_kept() -> None:
    case = linear_case()
    state = play(case, ["d1-best", "d2-ce"])
    assert state.node == "d2" and state.pending_retry == "d2" and not state.finished
    assert engine.decisions_answered(state) == 1  # d2 is not settled while its retry is pending
    assert engine.critical_errors(state) == (CriticalError("d2", "d2-ce", resolved=False),)

    state, events = engine.step(case, state, "d2-best")
    assert events == [ChoiceMade("d2", "d2-best", 1, False, True, "d3")]
    assert state.node == "d3" and state.pending_retry is None
    assert state.answers[1:] == (Answer("d2", "d2-ce", 0, True, False),
                                 Answer("d2", "d2-best", 1, False, True))
    assert engine.critical_errors(state) == (CriticalError("d2", "d2-ce", True, "d2-best"),)

    state = play(case, moves("best", "ce>best", "best", "best", "best"))
    assert engine.score_fraction(case, state) == Fraction(9, 10)
    assert engine.outcome(case, state) == "conforme" and engine.passed(case, state)


def test_retry_with_acceptable_or_wrong_choice_counts_its_own_points() -> None:
    case = linear_case()
    ok = play(case, moves("ce>ok", "best", "best", "best", "best"))
    bad = play(case, moves("ce>bad", "best", "best", "best", "best"))
    assert engine.score_fraction(case, ok) == Fraction(9, 10)
    assert engine.score_fraction(case, bad) == Fraction(8, 10)
    assert engine.critical_errors(bad)[0].resolved  # a non-critical retry resolves it


def test_first_critical_error_events_and_same_decision_offered_again() -> None:
    case = linear_case()
    state, events = engine.step(case, engine.new_state(case), "d1-ce")
    assert events == [ChoiceMade("d1", "d1-ce", 0, True, False, "d1"),
                      CriticalErrorMade("d1", "d1-ce", unresolved=False),
                      RetryOffered("d1")]
    assert [e.type for e in events] == ["choice_made", "critical_error", "retry_offered"]
    assert engine.offered_choices(case, state) == case.decision("d1").choices


def test_critical_error_twice_is_unresolved_and_reprendre_despite_high_score() -> None:
    case = linear_case(n=10)
    choices = moves("ce>ce", *["best"] * 9)
    state = play(case, choices[:2])
    assert state.node == "d2" and state.pending_retry is None
    assert state.answers == (Answer("d1", "d1-ce", 0, True, False),
                             Answer("d1", "d1-ce", 0, True, True))
    state = play(case, choices)
    assert engine.score_fraction(case, state) == Fraction(18, 20)
    assert engine.critical_errors(state) == (CriticalError("d1", "d1-ce", False, "d1-ce"),)
    assert engine.outcome(case, state) == "reprendre"
    assert not engine.passed(case, state)


def test_second_critical_choice_events_move_on_with_zero() -> None:
    case = linear_case()
    state = play(case, ["d1-ce"])
    state, events = engine.step(case, state, "d1-ce")
    assert events == [ChoiceMade("d1", "d1-ce", 0, True, True, "d2"),
                      CriticalErrorMade("d1", "d1-ce", unresolved=True)]


@pytest.mark.parametrize(
    ("per_decision", "expected_score", "expected_outcome"),
    [
        (("best", "best", "best", "ok", "ok"), Fraction(8, 10), "conforme"),  # exactly 0.80
        (("best", "best", "ok", "ok", "ok"), Fraction(7, 10), "consolider"),
        (("best", "best", "bad", "ok", "bad"), Fraction(5, 10), "consolider"),  # exactly 0.50
        (("best", "ok", "ok", "bad", "bad"), Fraction(4, 10), "reprendre"),
        (("bad", "bad", "bad", "bad", "bad"), Fraction(0), "reprendre"),
    ],
)
def test_outcome_boundaries(per_decision: tuple[str, ...], expected_score: Fraction,
                             expected_outcome: str) -> None:
    case = linear_case()
    state = play(case, moves(*per_decision))
    assert engine.score_fraction(case, state) == expected_score
    assert engine.outcome(case, state) == expected_outcome
    assert engine.passed(case, state) == (expected_outcome == "conforme")


def test_exact_point_eight_over_ten_decisions_is_a_pass() -> None:
    # 16/20 and sums of tenths are where float rounding could put S just under 0.80.
    case = linear_case(n=10)
    state = play(case, moves(*["best"] * 6, *["ok"] * 4))
    assert engine.score_fraction(case, state) == Fraction(4, 5)
    assert engine.passed(case, state)
    assert engine.score(case, state) == pytest.approx(0.8)


def test_case_finished_event_carries_score_outcome_and_pass() -> None:
    case = linear_case()
    state = play(case, moves("best", "best", "best", "ok"))
    state, events = engine.step(case, state, "d5-ok")
    assert events == [ChoiceMade("d5", "d5-ok", 1, False, False, END),
                      CaseFinished(END, 0.8, "conforme", True)]
    assert events[-1].to_dict() == {"type": "case_finished", "ending": END, "score": 0.8,
                                    "outcome": "conforme", "passed": True}
    assert state.finished and engine.offered_choices(case, state) == ()


def test_branching_score_divides_by_decisions_answered() -> None:
    case = branching_case()
    short = play(case, ["d1-ok", "d3-best"])
    assert short.finished and engine.decisions_answered(short) == 2
    assert engine.score_fraction(case, short) == Fraction(3, 4)
    long = play(case, ["d1-best", "d2-best", "d3-ok"])
    assert engine.score_fraction(case, long) == Fraction(5, 6)


# --- invalid choices ---


def test_invalid_choice_on_foreign_choice_id_changes_nothing() -> None:
    case = linear_case()
    state = play(case, ["d1-best"])
    snapshot = state.to_dict()
    for foreign in ("d1-best", "d3-best", "nope", ""):
        with pytest.raises(InvalidChoice) as err:
            engine.step(case, state, foreign)
        assert (err.value.node, err.value.choice) == ("d2", foreign)
    assert state.to_dict() == snapshot and state == play(case, ["d1-best"])


def test_invalid_choice_on_finished_state_changes_nothing() -> None:
    case = linear_case()
    state = play(case, moves(*["best"] * 5))
    with pytest.raises(InvalidChoice) as err:
        engine.step(case, state, "d5-best")
    assert err.value.node == END and "finished" in str(err.value)
    assert state == play(case, moves(*["best"] * 5))


def test_replay_rejects_a_log_that_does_not_fit() -> None:
    with pytest.raises(InvalidChoice):
        engine.replay(linear_case(), ["d1-best", "d1-best"])


def test_state_of_another_case_is_refused() -> None:
    state = engine.new_state(linear_case("a"))
    with pytest.raises(ValueError):
        engine.step(linear_case("b"), state, "d1-best")
    with pytest.raises(ValueError):
        engine.score(linear_case("b"), state)


# --- derived debrief values ---


def test_grid_documented_and_expected() -> None:
    case = linear_case()
    assert engine.grid_expected(case) == {"amorce", "nature", "etendue"}
    full = play(case, moves(*["best"] * 5))
    assert engine.grid_documented(case, full) == {"amorce", "nature", "etendue"}
    partial = play(case, moves("bad", "ok", "best", "best", "best"))
    assert engine.grid_documented(case, partial) == {"amorce"}
    retried = play(case, moves("ce>best", "ce>ce", "best"))
    assert engine.grid_documented(case, retried) == {"amorce", "nature"}


def test_path_lists_final_choices_in_order() -> None:
    case = linear_case()
    state = play(case, moves("best", "ce>ok", "bad"))
    got = [(p.decision.id, p.choice.id, p.points, p.retried) for p in engine.path(case, state)]
    assert got == [("d1", "d1-best", 2, False), ("d2", "d2-ok", 1, True),
                   ("d3", "d3-bad", 0, False)]
    assert engine.choice_log(state) == ("d1-best", "d2-ce", "d2-ok", "d3-bad")


def test_provisional_outcome_of_unfinished_attempt_is_not_a_pass() -> None:
    case = linear_case()
    state = play(case, ["d1-best"])
    assert engine.outcome(case, state) == "conforme"
    assert not engine.passed(case, state)


# --- storage ---


def test_to_dict_from_dict_round_trip() -> None:
    case = linear_case()
    for choices in ([], ["d1-ce"], moves("ce>ce", "ce>best", "ok", "bad", "best")):
        state = play(case, choices)
        data = state.to_dict()
        assert CaseState.from_dict(data) == state
        assert CaseState.from_dict(data).to_dict() == data


GOOD: dict[str, Any] = {"case_id": "lin", "node": "d2",
        "answers": [{"node": "d1", "choice": "d1-ce", "points": 0, "critical": True,
                     "retry": False},
                    {"node": "d1", "choice": "d1-best", "points": 1, "critical": False,
                     "retry": True}],
        "pending_retry": None, "finished": False}


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def _answer(**changes: Any) -> dict[str, Any]:
    return _with(answers=[{**GOOD["answers"][0], **changes}])


@pytest.mark.parametrize("garbage", [
    None, [], "state", {}, _with(extra=1), {k: v for k, v in GOOD.items() if k != "finished"},
    _with(case_id=""), _with(case_id=3), _with(node=None), _with(finished="no"),
    _with(finished=0), _with(answers={}), _with(answers=[None]), _with(answers=[[]]),
    _answer(points=3), _answer(points=-1), _answer(points=True), _answer(points=1.0),
    _answer(points="2"), _answer(critical=1), _answer(retry=None), _answer(node=""),
    _answer(extra="x"), _answer(points=1),  # a critical answer counts 0
    _with(answers=[{**GOOD["answers"][1], "points": 2}]),  # a retry is capped at 1
    _with(pending_retry="d1"),  # not the current node
    _with(pending_retry="d2"),  # no critical answer at d2
    _with(pending_retry="d2", node="d2", finished=True),
    _with(pending_retry=5),
])
def test_from_dict_rejects_garbage(garbage: Any) -> None:
    with pytest.raises(ValueError):
        CaseState.from_dict(garbage)


def test_from_dict_accepts_the_reference_shape() -> None:
    assert CaseState.from_dict(GOOD) == play(linear_case(), ["d1-ce", "d1-best"])


# --- level-wide progress ---


def test_best_attempt_prefers_pass_then_score_then_earliest() -> None:
    case = linear_case(n=10)
    unfinished = play(case, ["d1-best"])
    failed_high = play(case, moves("ce>ce", *["best"] * 9))  # 0.90, unresolved CE
    passed_low = play(case, moves(*["best"] * 6, *["ok"] * 4))  # 0.80, passes
    passed_high = play(case, moves(*["best"] * 9, "ok"))  # 0.95
    same_again = play(case, moves(*["best"] * 9, "ok"))
    assert progress.best_attempt(case, []) is None
    assert progress.best_attempt(case, [unfinished]) is None
    lower = play(case, moves(*["bad"] * 10))
    for attempts, expected in [
        ([failed_high, passed_low], passed_low),  # a pass beats a higher score
        ([passed_low, passed_high, failed_high], passed_high),
        ([passed_high, same_again], passed_high),  # ties: the earliest
        ([same_again, passed_high], same_again),
        ([lower, failed_high], failed_high),
    ]:
        assert progress.best_attempt(case, attempts) is expected


def _level() -> dict[str, Case]:
    one = linear_case("c1", n=3, objectives=[("lo1", "lo2"), ("lo2",), ("lo10",)])
    two = branching_case("c2")  # d1: lo1 lo3, d2: lo2, d3: lo3
    three = linear_case("c3", n=5)
    return {"c1": one, "c2": two, "c3": three}


def test_objective_mastery_counts_the_points_the_score_counts() -> None:
    """Points counted / points possible, like the case score (issue 10): a retry capped at 1 and
    an acceptable choice count half, not 0."""
    level = _level()
    best = {
        "c1": play(level["c1"], moves("best", "ce>best", "ok")),  # the retry counts 1 of 2
        "c2": play(level["c2"], ["d1-best", "d2-ok", "d3-best"]),
    }
    assert progress.objective_mastery(level, best) == {
        "lo1": 4 / 4,  # c1 d1 best, c2 d1 best
        "lo2": 4 / 6,  # c1 d1 best (2), c1 d2 retry (1), c2 d2 ok (1)
        "lo3": 4 / 4,  # c2 d1, c2 d3
        "lo10": 1 / 2,  # c1 d3 ok
    }
    assert list(progress.objective_mastery(level, best)) == ["lo1", "lo2", "lo3", "lo10"]
    assert progress.weakest_objective(level, best) == "lo10"
    assert progress.objective_mastery(level, {}) == {}
    assert progress.weakest_objective(level, {}) is None


def test_weakest_objective_ties_go_to_lowest_id() -> None:
    level = _level()
    best = {"c1": play(level["c1"], moves("ok", "ok", "ok"))}  # lo1, lo2, lo10 all at 0.5
    assert progress.weakest_objective(level, best) == "lo1"
    best = {"c1": play(level["c1"], moves("best", "ok", "ok"))}  # lo1 1.0, lo2 .75, lo10 .5
    assert progress.weakest_objective(level, best) == "lo10"


def test_level_grade_and_cases_passed() -> None:
    level = _level()
    best = {
        "c1": play(level["c1"], moves("best", "best", "best")),  # 1.0, passed
        "c2": play(level["c2"], ["d1-ok", "d3-ok"]),  # 0.5, not passed
    }
    assert progress.level_grade(level, best) == pytest.approx(50.0)  # (100 + 50 + 0) / 3
    assert progress.level_cases_passed(level, best) == ("c1",)
    best["c3"] = play(level["c3"], ["d1-best"])  # unfinished counts 0
    assert progress.level_grade(level, best) == pytest.approx(50.0)
    assert progress.level_cases_passed(level, best) == ("c1",)
    best["c3"] = play(level["c3"], moves(*["best"] * 5))
    best["c2"] = play(level["c2"], ["d1-best", "d2-best", "d3-best"])
    assert progress.level_grade(level, best) == 100.0
    assert progress.level_cases_passed(level, best) == ("c1", "c2", "c3")
    assert progress.level_grade({}, {}) == 0.0
