"""The score rules (grading/scores.py): pure, over the authored level and engine states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lti_tool.cases import engine, progress
from lti_tool.cases.engine import CaseState
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Case, Level
from lti_tool.grading import scores
from lti_tool.grading.scores import LearnerProgress, Review

LEVEL = get_level()
NBSP = "\u00a0"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def play(case: Case, pick: str = "best") -> CaseState:
    """A finished attempt: the best choice everywhere, or the worst non-critical one."""
    state = engine.new_state(case)
    while not state.finished:
        decision = case.decision(state.node)
        if pick == "best":
            choice = decision.best
        else:
            choice = min((c for c in decision.choices if not c.critical), key=lambda c: c.points)
        state, _ = engine.step(case, state, choice.id)
    return state


def all_best(level: Level = LEVEL) -> dict[str, CaseState]:
    return {cid: play(case) for cid, case in level.cases.items()}


def learner(best: dict[str, CaseState] | None = None, started: set[str] | None = None,
            **kwargs: object) -> LearnerProgress:
    best = best or {}
    return LearnerProgress(best_states=best, started_cases=frozenset(started or set(best)),
                           **kwargs)  # type: ignore[arg-type]


def compute(lp: LearnerProgress, activity: str = "level", reason: str = "case_completed"):  # type: ignore[no-untyped-def]
    return scores.compute(LEVEL, activity, lp, reason)


# --- a level link ---------------------------------------------------------------------------------


def test_started_sends_no_grade() -> None:
    s = compute(learner(started={"case-1"}), reason="started")
    assert (s.activity_progress, s.grading_progress, s.score_given) == ("Started", "NotReady", None)
    assert s.activity == "level" and s.score_maximum == 100 and s.reason == "started"
    assert s.comment("fr").startswith(f"{LEVEL.title.fr}{NBSP}: commencé")
    assert not s.done


def test_nothing_played_is_initialized() -> None:
    s = compute(learner(), reason="started")
    assert (s.activity_progress, s.grading_progress, s.score_given) == ("Initialized", "NotReady",
                                                                         None)


def test_one_case_finished_sends_the_running_grade() -> None:
    best = {"case-1": play(LEVEL.cases["case-1"])}
    s = compute(learner(best, started={"case-1", "case-2"}))
    assert (s.activity_progress, s.grading_progress) == ("InProgress", "FullyGraded")
    assert s.score_given == round(100 / 3, 2) == 33.33
    assert s.comment_fr == f"{LEVEL.title.fr}{NBSP}: 1 cas réussi sur 3."
    assert s.comment_en == f"{LEVEL.title.en}: 1 of 3 cases passed."


def test_all_cases_passed_without_reflections_is_still_in_progress() -> None:
    s = compute(learner(all_best()))
    assert (s.activity_progress, s.grading_progress, s.score_given) == ("InProgress", "FullyGraded",
                                                                         100.0)
    assert "3 cas réussis sur 3" in s.comment_fr and not s.done


def test_reflections_submitted_without_review_complete_the_level() -> None:
    s = compute(learner(all_best(), reflections_submitted_at=T0), reason="reflections_submitted")
    assert (s.activity_progress, s.grading_progress, s.score_given) == ("Completed", "FullyGraded",
                                                                         100.0)
    assert s.done and s.reflections == "submitted"
    assert s.comment_fr == f"{LEVEL.title.fr}{NBSP}: 3 cas réussis sur 3{NBSP}; réflexions soumises."
    assert s.comment_en == f"{LEVEL.title.en}: 3 of 3 cases passed; reflections submitted."


def test_review_on_waits_then_accepts_or_returns() -> None:
    base = {"best": all_best(), "reflections_submitted_at": T0, "review_on": True}
    pending = compute(learner(**base), reason="reflections_submitted")  # type: ignore[arg-type]
    assert (pending.activity_progress, pending.grading_progress) == ("Submitted", "PendingManual")
    assert pending.score_given == 100.0 and not pending.done  # the grade is kept while waiting

    accepted = compute(learner(**base, review=Review("accepted", "", T0 + timedelta(hours=1))),  # type: ignore[arg-type]
                       reason="reflections_accepted")
    assert (accepted.activity_progress, accepted.grading_progress) == ("Completed", "FullyGraded")
    assert accepted.done and "réflexions acceptées" in accepted.comment_fr

    returned = compute(learner(**base, review=Review("returned", "Précisez  le\nsuivi.",  # type: ignore[arg-type]
                                                      T0 + timedelta(hours=1))),
                       reason="reflections_returned")
    assert (returned.activity_progress, returned.grading_progress) == ("InProgress", "FullyGraded")
    assert returned.comment_fr.endswith(f"pour révision{NBSP}: «{NBSP}Précisez le suivi.{NBSP}».")
    assert returned.comment_en.endswith("returned for revision: “Précisez le suivi.”.")

    # A revision submitted after the review waits for a new one.
    resubmitted = compute(learner(**{**base, "reflections_submitted_at": T0 + timedelta(hours=2)},  # type: ignore[arg-type]
                                  review=Review("returned", "x", T0 + timedelta(hours=1))),
                          reason="reflections_submitted")
    assert resubmitted.grading_progress == "PendingManual"


def test_a_review_is_ignored_when_the_deployment_does_not_review() -> None:
    s = compute(learner(all_best(), reflections_submitted_at=T0,
                        review=Review("returned", "no", T0 + timedelta(hours=1))))
    assert s.activity_progress == "Completed" and "no" not in s.comment_en.split(": ")[-1]


def test_reflections_count_only_once_every_case_is_passed() -> None:
    best = all_best()
    best["case-3"] = play(LEVEL.cases["case-3"], pick="worst")
    assert not engine.passed(LEVEL.cases["case-3"], best["case-3"])
    s = compute(learner(best, reflections_submitted_at=T0))
    assert s.activity_progress == "InProgress" and "2 cas réussis sur 3" in s.comment_fr


def test_unknown_reason_is_refused() -> None:
    with pytest.raises(ValueError):
        compute(learner(), reason="badge")


# --- a single-case link -------------------------------------------------------------------------


def test_single_case_link_grades_that_case_alone() -> None:
    case = LEVEL.cases["case-2"]
    started = compute(learner(started={"case-2"}), activity="case-2", reason="started")
    assert (started.activity, started.activity_progress, started.grading_progress,
            started.score_given) == ("case-2", "Started", "NotReady", None)

    worst = play(case, pick="worst")
    s = compute(learner({"case-2": worst}), activity="case-2")
    assert (s.activity_progress, s.grading_progress) == ("Completed", "FullyGraded")
    assert s.score_given == round(engine.score(case, worst) * 100, 2)
    assert "non réussi" in s.comment_fr and f"80{NBSP}%" in s.comment_fr
    assert "not passed" in s.comment_en and s.done

    passed = compute(learner({"case-2": play(case)}), activity="case-2")
    assert passed.score_given == 100.0 and f"réussi, meilleur score 100{NBSP}%" in passed.comment_fr
    assert passed.comment_en == f"Case {case.title.en}: passed, best score 100%."


def test_activity_of_reads_unknown_activities_as_the_level() -> None:
    assert scores.activity_of(LEVEL, "case-1") == "case-1"
    assert scores.activity_of(LEVEL, "level") == "level"
    assert scores.activity_of(LEVEL, "case-99") == "level"
    assert scores.activity_of(LEVEL, None) == "level"


# --- properties ---------------------------------------------------------------------------------


@st.composite
def finished_states(draw: st.DrawFn, case: Case) -> CaseState:
    """A finished attempt with choices drawn among those offered (critical ones included)."""
    state = engine.new_state(case)
    while not state.finished:
        offered = engine.offered_choices(case, state)
        choice = draw(st.sampled_from([c.id for c in offered]))
        state, _ = engine.step(case, state, choice)
    return state


@st.composite
def progresses(draw: st.DrawFn) -> LearnerProgress:
    best = {cid: draw(finished_states(case)) for cid, case in LEVEL.cases.items()
            if draw(st.booleans())}
    started = set(best) | set(draw(st.sets(st.sampled_from(list(LEVEL.cases)))))
    submitted = draw(st.sampled_from([None, T0]))
    review = draw(st.sampled_from([None, Review("accepted", "", T0), Review("returned", "r", T0)]))
    return LearnerProgress(best_states=best, started_cases=frozenset(started),
                           reflections_submitted_at=submitted, review_on=draw(st.booleans()),
                           review=review)


ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING = {"NotReady", "Pending", "PendingManual", "FullyGraded"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(progresses(), st.sampled_from(["level", *LEVEL.cases]), st.sampled_from(scores.REASONS))
def test_grades_are_bounded_and_states_valid(lp: LearnerProgress, activity: str,
                                            reason: str) -> None:
    s = scores.compute(LEVEL, activity, lp, reason)
    assert s.activity_progress in ACTIVITY and s.grading_progress in GRADING
    assert s.score_maximum == 100.0 and s.reason == reason and s.activity == activity
    if s.score_given is None:
        assert s.grading_progress == "NotReady"
    else:
        assert 0.0 <= s.score_given <= 100.0 and round(s.score_given, 2) == s.score_given
    # Moodle ignores scoreGiven unless FullyGraded: a grade always travels with a graded state
    # (PendingManual keeps it while the reviewer decides).
    if s.grading_progress in ("FullyGraded", "PendingManual"):
        assert s.score_given is not None
    for comment in (s.comment_fr, s.comment_en):
        assert comment and comment.endswith(".")
    assert " :" not in s.comment_fr and " ;" not in s.comment_fr  # non-breaking spaces only
    if activity == "level" and s.score_given is not None:
        assert s.score_given == round(progress.level_grade(LEVEL.cases, lp.best_states), 2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(progresses(), progresses(), st.sampled_from(list(LEVEL.cases)))
def test_a_single_case_link_reads_only_its_case(a: LearnerProgress, b: LearnerProgress,
                                                case_id: str) -> None:
    """Whatever happens in the other cases and the reflections, the case's score is the same."""
    mixed = LearnerProgress(
        best_states={**{k: v for k, v in b.best_states.items() if k != case_id},
                     **({case_id: a.best_states[case_id]} if case_id in a.best_states else {})},
        started_cases=frozenset((b.started_cases - {case_id}) | (a.started_cases & {case_id})),
        reflections_submitted_at=b.reflections_submitted_at, review_on=b.review_on,
        review=b.review)
    assert scores.compute(LEVEL, case_id, a, "case_completed") == \
        scores.compute(LEVEL, case_id, mixed, "case_completed")
    s = scores.compute(LEVEL, case_id, a, "case_completed")
    state = a.best_states.get(case_id)
    if state is not None:
        assert s.score_given == round(engine.score(LEVEL.cases[case_id], state) * 100, 2)
        assert s.activity_progress == "Completed"
