"""What the debrief shows after a case (CASES-BRIEF.md, "Endings per case" → debrief), derived from
the engine and progress, never stored: a summary first (outcome, score, one line per method step:
done, missed or critical error, each critical error with its reason and note, the one objective to
work on), then the learner's full path set against the ordered method steps and the grid
dimensions documented or missed. Language-neutral: templates pick the language of each Text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from lti_tool.cases import engine, progress
from lti_tool.cases.engine import CaseState
from lti_tool.cases.model import Case, Choice, Decision, EndingLabel, Labelled, Level, Outcome, Text

StepStatus = Literal["done", "missed", "critical", "absent"]


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
        """The best practice, chosen at once. Found on the second try after a critical error it
        counts 1 point and is not called "the best practice" (issue 10)."""
        return self.choice.id == self.best.id and not self.retried

    @property
    def best_on_retry(self) -> bool:
        return self.choice.id == self.best.id and self.retried


@dataclass(frozen=True)
class CriticalLine:
    """A critical error at one decision: the choice that made it and, when the second try was a
    critical error too, that choice as well (it is what left the error unresolved)."""

    decision: Decision
    choice: Choice
    resolved: bool
    retry_choice: Choice | None

    @property
    def unresolved_by(self) -> Choice | None:
        """The second try's choice when it was a critical error again (None while resolved)."""
        retry = self.retry_choice
        return retry if retry is not None and retry.critical else None

    @property
    def faults(self) -> tuple[str, ...]:
        """Why it is critical (model.FAULT_KINDS), over both choices, in order, once each."""
        both = self.choice.faults + (self.unresolved_by.faults if self.unresolved_by else ())
        return tuple(dict.fromkeys(both))


@dataclass(frozen=True)
class StepBlock:
    step: Labelled
    lines: tuple[DecisionLine, ...]  # in the order the learner met them; empty: not in this case
    critical: tuple[CriticalLine, ...] = ()  # the critical errors made at this step

    @property
    def status(self) -> StepStatus:
        """The summary's one word per step: a critical error outweighs everything else."""
        if not self.lines:
            return "absent"
        if self.critical:
            return "critical"
        return "done" if all(ln.is_best for ln in self.lines) else "missed"

    @property
    def best_count(self) -> int:
        return sum(1 for ln in self.lines if ln.is_best)


@dataclass(frozen=True)
class GridLine:
    dimension: Labelled
    expected: bool  # the case's best practices document it
    documented: bool  # the learner's final choices documented it


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

    @property
    def unresolved(self) -> tuple[CriticalLine, ...]:
        return tuple(c for c in self.critical if not c.resolved)

    @property
    def steps_in_case(self) -> tuple[StepBlock, ...]:
        return tuple(s for s in self.steps if s.lines)


def build(level: Level, case: Case, state: CaseState,
          best_states: Mapping[str, CaseState]) -> Debrief:
    """The debrief of one finished attempt. The objective to work on is measured over this
    attempt and the best attempts at the other cases: it speaks of what the learner just did, and
    a replay that improves a case changes it."""
    path = engine.path(case, state)
    lines = [DecisionLine(p.decision, p.choice, p.points, p.decision.best, p.retried) for p in path]
    critical = tuple(
        CriticalLine(case.decision(e.node), _choice(case, e.node, e.choice), e.resolved,
                     _choice(case, e.node, e.retry_choice) if e.retry_choice else None)
        for e in engine.critical_errors(state))
    steps = tuple(StepBlock(step, tuple(ln for ln in lines if ln.decision.step == step.id),
                            tuple(c for c in critical if c.decision.step == step.id))
                  for step in level.method_steps)
    documented = engine.grid_documented(case, state)
    expected = engine.grid_expected(case)
    grid = tuple(GridLine(dim, dim.id in expected, dim.id in documented)
                 for dim in level.grid_dimensions)
    measured = {**best_states, case.id: state}
    mastery = progress.objective_mastery(level.cases, measured)
    weakest_id = progress.weakest_objective(level.cases, measured)
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
