"""Level-wide computations over the best attempt of each case (docs/domain/CASES-BRIEF.md).

Replays count (the best attempt is kept for the grade); per-LO mastery feeds the debrief's "weakest
objective"; the grade sent to the LMS is the mean of the best case scores. Pure functions over the
engine's states, like the engine itself.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from fractions import Fraction

from . import engine
from .engine import CaseState
from .model import Case


def best_attempt(case: Case, states: Iterable[CaseState]) -> CaseState | None:
    """The finished attempt that counts: a pass beats a fail, then higher score, then earlier."""
    best: CaseState | None = None
    best_key: tuple[bool, Fraction] | None = None
    for state in states:
        if not state.finished:
            continue
        key = (engine.passed(case, state), engine.score_fraction(case, state))
        if best_key is None or key > best_key:  # strict: ties keep the earlier attempt
            best, best_key = state, key
    return best


def objective_mastery(
    level_cases: Mapping[str, Case], best_states: Mapping[str, CaseState]
) -> dict[str, float]:
    """Per LO: points counted / points possible (2 per answered decision tagged with it), across
    the level's cases: the same measure as the case score, so a decision the debrief shows at
    "1 of 2" counts half here (issue 10: a retry or an acceptable choice used to count 0 %, and
    the debrief then named an objective at 0 % where the learner had scored).

    Objectives with no answered decision are left out: there is nothing to measure yet.
    """
    possible: Counter[str] = Counter()
    earned: Counter[str] = Counter()
    for case_id, case in level_cases.items():
        state = best_states.get(case_id)
        if state is None:
            continue
        for answer in engine.final_answers(state):
            for lo in case.decision(answer.node).objectives:
                possible[lo] += 2
                earned[lo] += answer.points
    return {lo: earned[lo] / possible[lo] for lo in sorted(possible, key=_natural)}


def weakest_objective(
    level_cases: Mapping[str, Case], best_states: Mapping[str, CaseState]
) -> str | None:
    """Lowest mastery; ties go to the lowest id in natural order (lo2 before lo10)."""
    mastery = objective_mastery(level_cases, best_states)
    return min(mastery, key=lambda lo: (mastery[lo], _natural(lo)), default=None)


def level_grade(level_cases: Mapping[str, Case], best_states: Mapping[str, CaseState]) -> float:
    """Mean of the best case scores × 100 over the level's cases; unplayed or unfinished = 0."""
    if not level_cases:
        return 0.0
    total = sum(
        (engine.score_fraction(case, s) for cid, case in level_cases.items()
         if (s := best_states.get(cid)) is not None and s.finished),
        Fraction(0),
    )
    return float(total * 100 / len(level_cases))


def level_cases_passed(
    level_cases: Mapping[str, Case], best_states: Mapping[str, CaseState]
) -> tuple[str, ...]:
    """Ids of the level's cases whose best attempt passed, in play order."""
    return tuple(cid for cid, case in level_cases.items()
                 if (s := best_states.get(cid)) is not None and engine.passed(case, s))


def _natural(lo_id: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", lo_id))
