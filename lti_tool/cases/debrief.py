"""What the debrief shows after a case (CASES-BRIEF.md, "Endings per case" → debrief), derived from
the engine and progress, never stored: the learner's path set against the ordered method steps, the
grid dimensions documented or missed, the critical errors, the ending, and the weakest learning
objective over the best attempts. Language-neutral: templates pick the language of each Text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lti_tool.cases import engine, progress
from lti_tool.cases.engine import CaseState
from lti_tool.cases.model import Case, Choice, Decision, EndingLabel, Labelled, Level, Outcome, Text


@dataclass(frozen=True)
class DecisionLine:
    """One decision of the path: the final choice, the points it counted, and the best practice."""

    decision: Decision
    choice: Choice
    points: int
    best: Choice
    retried: bool

    @property
    def is_best(self) -> bool:
        return self.choice.id == self.best.id


@dataclass(frozen=True)
class StepBlock:
    step: Labelled
    lines: tuple[DecisionLine, ...]  # in the order the learner met them; empty: not in this case


@dataclass(frozen=True)
class GridLine:
    dimension: Labelled
    expected: bool  # the case's best practices document it
    documented: bool  # the learner's final choices documented it


@dataclass(frozen=True)
class CriticalLine:
    decision: Decision
    choice: Choice
    resolved: bool
    retry_choice: Choice | None


@dataclass(frozen=True)
class Debrief:
    case: Case
    outcome: Outcome
    ending: EndingLabel
    victim_and_file: Text  # what happened to the victim and the file, for this outcome
    score: float
    points: int
    max_points: int
    passed: bool
    steps: tuple[StepBlock, ...]
    grid: tuple[GridLine, ...]
    critical: tuple[CriticalLine, ...]
    weakest: Labelled | None
    weakest_mastery: float | None

    @property
    def grid_missed(self) -> tuple[GridLine, ...]:
        return tuple(g for g in self.grid if g.expected and not g.documented)


def build(level: Level, case: Case, state: CaseState,
          best_states: Mapping[str, CaseState]) -> Debrief:
    """The debrief of one finished attempt; `best_states` (one per case) feed the weakest
    objective, so a replay that improves a case changes it."""
    path = engine.path(case, state)
    lines = [DecisionLine(p.decision, p.choice, p.points, p.decision.best, p.retried) for p in path]
    steps = tuple(StepBlock(step, tuple(ln for ln in lines if ln.decision.step == step.id))
                  for step in level.method_steps)
    documented = engine.grid_documented(case, state)
    expected = engine.grid_expected(case)
    grid = tuple(GridLine(dim, dim.id in expected, dim.id in documented)
                 for dim in level.grid_dimensions)
    critical = tuple(
        CriticalLine(case.decision(e.node), _choice(case, e.node, e.choice), e.resolved,
                     _choice(case, e.node, e.retry_choice) if e.retry_choice else None)
        for e in engine.critical_errors(state))
    mastery = progress.objective_mastery(level.cases, best_states)
    weakest_id = progress.weakest_objective(level.cases, best_states)
    weakest = next((o for o in level.objectives if o.id == weakest_id), None)
    outcome = engine.outcome(case, state)
    return Debrief(
        case=case, outcome=outcome, ending=level.endings[outcome],
        victim_and_file=case.endings[outcome], score=engine.score(case, state),
        points=sum(ln.points for ln in lines), max_points=2 * len(lines),
        passed=engine.passed(case, state), steps=steps, grid=grid, critical=critical,
        weakest=weakest, weakest_mastery=mastery.get(weakest_id) if weakest_id else None,
    )


def _choice(case: Case, node: str, choice_id: str) -> Choice:
    choice = case.decision(node).choice(choice_id)
    if choice is None:
        raise ValueError(f"{choice_id!r} is not a choice of {node!r} in {case.id}")
    return choice
