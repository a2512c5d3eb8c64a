"""Properties of the engine over random valid case graphs and over the real content.

Random graphs follow the rules the loader enforces (content/FORMAT.md): a DAG of decisions with 3–4
choices, exactly one worth 2, critical choices worth 0, every node reachable, one ending.
"""

from __future__ import annotations

import json
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lti_tool.cases import engine
from lti_tool.cases.engine import CaseState, InvalidChoice
from lti_tool.cases.model import FAULT_KINDS, Case, Level
from tests.cases.engine_fixtures import END, Spec, build_case, decision

LOS = tuple(f"lo{i}" for i in range(1, 10))
GRID = ("amorce", "nature", "intentions", "etendue")
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@st.composite
def random_cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(min_value=1, max_value=8))
    ids = [f"d{i}" for i in range(n)]
    decisions = []
    for i, node in enumerate(ids):
        k = draw(st.integers(min_value=3, max_value=4))
        best_index = draw(st.integers(min_value=0, max_value=k - 1))
        later = [*ids[i + 1:], END]  # only forward edges: no cycle, every path reaches the end
        specs = []
        for j in range(k):
            # The first choice always leads to the next decision, so every decision is reachable.
            nxt = later[0] if j == 0 else draw(st.sampled_from(later))
            if j == best_index:
                points, critical = 2, False
            else:
                points = draw(st.sampled_from((0, 1)))
                critical = points == 0 and draw(st.booleans())
            grid = tuple(draw(st.lists(st.sampled_from(GRID), max_size=2, unique=True)))
            faults = tuple(draw(st.lists(st.sampled_from(FAULT_KINDS), max_size=2, unique=True))
                           ) if critical else ()
            specs.append(Spec(f"{node}-c{j}", points, nxt, critical, grid, faults))
        objectives = tuple(draw(st.lists(st.sampled_from(LOS), min_size=1, max_size=3,
                                         unique=True)))
        decisions.append(decision(node, specs, objectives))
    return build_case("random", decisions)


def play_randomly(case: Case, data: st.DataObject) -> list[CaseState]:
    """Play offered choices drawn by hypothesis until the end; check invariants at every step."""
    state = engine.new_state(case)
    states = [state]
    bound = 2 * len(case.decisions)
    while not state.finished:
        assert len(state.answers) < bound, "the attempt did not end within 2 × decisions steps"
        offered = engine.offered_choices(case, state)
        assert offered
        choice = data.draw(st.sampled_from([c.id for c in offered]))
        state, events = engine.step(case, state, choice)
        assert events and events[0].type == "choice_made"
        assert (events[-1].type == "case_finished") == state.finished
        check_invariants(case, state)
        states.append(state)
    assert len(state.answers) <= bound
    assert engine.offered_choices(case, state) == ()
    return states


def check_invariants(case: Case, state: CaseState) -> None:
    s = engine.score(case, state)
    assert 0.0 <= s <= 1.0
    assert engine.decisions_answered(state) <= len(case.decisions)
    assert all(a.points <= 1 for a in state.answers if a.retry)
    assert all(a.points == 0 for a in state.answers if a.critical)
    unresolved = [e for e in engine.critical_errors(state) if not e.resolved]
    if engine.passed(case, state):
        assert state.finished and s >= 0.8 and not unresolved
    if unresolved:
        assert engine.outcome(case, state) == "reprendre"
    if engine.passed(case, state):
        assert not unresolved_faults(case, state)


def unresolved_faults(case: Case, state: CaseState) -> list[tuple[str, str]]:
    """(node, choice) of every faulted choice (delete, view, copy, qualify) that still stands: the
    final answer at a decision, or a faulted first answer whose retry was critical again."""
    def faulted(node: str, choice: str) -> bool:
        found = case.decision(node).choice(choice)
        return found is not None and bool(found.faults)

    standing = [(a.node, a.choice) for a in engine.final_answers(state) if faulted(a.node, a.choice)]
    standing += [(e.node, e.choice) for e in engine.critical_errors(state)
                 if not e.resolved and faulted(e.node, e.choice)]
    return standing
    assert engine.grid_documented(case, state) <= {g for d in case.decisions for c in d.choices
                                                   for g in c.grid}


def check_storage(case: Case, states: list[CaseState]) -> None:
    for state in states:
        stored = json.loads(json.dumps(state.to_dict()))
        assert CaseState.from_dict(stored) == state
        assert engine.replay(case, engine.choice_log(state)) == state


def check_finished_is_frozen(case: Case, state: CaseState) -> None:
    for d in case.decisions:
        for c in d.choices:
            try:
                engine.step(case, state, c.id)
            except InvalidChoice:
                continue
            raise AssertionError(f"{c.id} accepted after the end")


@PROPERTY_SETTINGS
@given(random_cases(), st.data())
def test_random_cases_every_play_ends_with_sound_scores(case: Case, data: st.DataObject) -> None:
    states = play_randomly(case, data)
    check_storage(case, states)
    check_finished_is_frozen(case, states[-1])


@PROPERTY_SETTINGS
@given(random_cases())
def test_random_cases_best_path_is_a_perfect_pass(case: Case) -> None:
    state = best_path(case)
    assert engine.score(case, state) == 1.0 and engine.passed(case, state)


@PROPERTY_SETTINGS
@given(random_cases(), st.data())
def test_random_cases_a_foreign_choice_changes_nothing(case: Case, data: st.DataObject) -> None:
    states = play_randomly(case, data)
    state = data.draw(st.sampled_from([s for s in states if not s.finished]))
    offered = {c.id for c in engine.offered_choices(case, state)}
    foreign = [c.id for d in case.decisions for c in d.choices if c.id not in offered]
    for choice in [*foreign, "not-a-choice"]:
        before = state.to_dict()
        try:
            engine.step(case, state, choice)
        except InvalidChoice as err:
            assert (err.node, err.choice) == (state.node, choice)
        else:
            raise AssertionError(f"{choice} accepted at {state.node}")
        assert state.to_dict() == before


# --- the real content (lti_tool/cases/loader.py and content/) ---


@cache
def real_level() -> Level:
    from lti_tool.cases.loader import get_level

    return get_level()


def test_real_content_has_cases() -> None:
    level = real_level()
    assert level.cases and set(level.cases) == set(level.case_ids)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_real_content_every_play_ends_with_sound_scores(data: st.DataObject) -> None:
    level = real_level()
    case = level.cases[data.draw(st.sampled_from(level.case_ids))]
    states = play_randomly(case, data)
    check_storage(case, states)
    check_finished_is_frozen(case, states[-1])


def test_real_content_best_path_is_a_perfect_pass() -> None:
    for case in real_level().cases.values():
        state = best_path(case)
        assert engine.score(case, state) == 1.0, case.id
        assert engine.outcome(case, state) == "conforme", case.id


def best_path(case: Case) -> CaseState:
    state = engine.new_state(case)
    while not state.finished:
        state, _ = engine.step(case, state, case.decision(state.node).best.id)
    return state


@PROPERTY_SETTINGS
@given(random_cases(), st.data())
def test_random_cases_a_pass_never_keeps_a_fault(case: Case, data: st.DataObject) -> None:
    """A pass never contains an unresolved delete / view / copy / qualify fault (issue 9)."""
    for state in play_randomly(case, data):
        if engine.passed(case, state):
            assert not unresolved_faults(case, state)


@PROPERTY_SETTINGS
@given(st.data())
def test_real_content_a_pass_never_keeps_a_fault(data: st.DataObject) -> None:
    level = real_level()
    case = level.cases[data.draw(st.sampled_from(list(level.case_ids)))]
    assert any(c.faults for d in case.decisions for c in d.choices)
    final = play_randomly(case, data)[-1]
    if unresolved_faults(case, final):
        assert not engine.passed(case, final) and engine.outcome(case, final) == "reprendre"


def test_real_content_a_faulted_choice_on_the_retry_fails_the_case() -> None:
    """Every faulted choice, chosen again on the retry, leaves the case failed whatever else is best."""
    level = real_level()
    for case in level.cases.values():
        for target in case.decisions:
            for choice in (c for c in target.choices if c.faults):
                state = engine.new_state(case)
                while not state.finished:
                    current = case.decision(state.node)
                    pick = choice.id if current.id == target.id else current.best.id
                    state, _ = engine.step(case, state, pick)
                assert (target.id, choice.id) in unresolved_faults(case, state), (case.id, choice.id)
                assert not engine.passed(case, state), (case.id, choice.id)
