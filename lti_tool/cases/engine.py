"""Pure case engine: `step(case, state, choice_id) -> (state, events)`.

Implements the engine rules of content/FORMAT.md and the "Decisions taken" of
docs/domain/CASES-BRIEF.md. No Flask, no database, no I/O: the web layer stores the chosen ids (the
attempt's event log) and rebuilds the state with `replay`; everything shown in the debrief (score,
outcome, critical errors, grid, path) is derived from the state, never stored beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, ClassVar

from .model import Case, Choice, Decision, Ending, Outcome

PASS_THRESHOLD = Fraction(4, 5)  # S >= 0.80 (lenient pass rule)
CONSOLIDATE_THRESHOLD = Fraction(1, 2)  # 0.50 <= S
RETRY_CAP = 1  # a retried decision is worth at most 1 point


class InvalidChoice(ValueError):
    """The choice is not offered at the current node, or the attempt is over: nothing changed."""

    def __init__(self, node: str, choice: str, reason: str) -> None:
        super().__init__(f"choice {choice!r} at node {node!r}: {reason}")
        self.node, self.choice, self.reason = node, choice, reason


@dataclass(frozen=True)
class Answer:
    """One choice made; `points` are the points *counted* (0 if critical, capped on a retry)."""

    node: str
    choice: str
    points: int
    critical: bool
    retry: bool


@dataclass(frozen=True)
class CaseState:
    case_id: str
    node: str  # current node id; the ending's id once finished
    answers: tuple[Answer, ...] = ()  # every choice made, critical ones and retries included
    pending_retry: str | None = None  # node re-offered after a first critical error
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "node": self.node,
            "answers": [asdict(a) for a in self.answers],
            "pending_retry": self.pending_retry,
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CaseState:
        """Rebuild a stored state; raises ValueError on anything `to_dict` cannot have produced."""
        d = _record(data, {"case_id", "node", "answers", "pending_retry", "finished"}, "state")
        if not isinstance(d["answers"], list):
            raise ValueError("state.answers must be a list")
        answers = tuple(_answer(a) for a in d["answers"])
        pending = d["pending_retry"]
        state = cls(_id(d["case_id"], "case_id"), _id(d["node"], "node"), answers,
                    None if pending is None else _id(pending, "pending_retry"),
                    _bool(d["finished"], "finished"))
        pending_elsewhere = state.pending_retry not in (None, state.node)
        if state.pending_retry is not None and (state.finished or pending_elsewhere):
            raise ValueError("pending_retry must be the current node of an unfinished state")
        last = answers[-1] if answers else None
        if state.pending_retry is not None and not (
                last and last.node == state.node and last.critical and not last.retry):
            raise ValueError("pending_retry without the critical answer that caused it")
        return state


# --- events: what the player shows after a step (texts are looked up in the case by ids) ---


@dataclass(frozen=True)
class Event:
    type: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class ChoiceMade(Event):
    type: ClassVar[str] = "choice_made"
    node: str
    choice: str
    points: int  # counted points
    critical: bool
    retry: bool
    next: str  # where the learner goes: the same node after a first critical error


@dataclass(frozen=True)
class CriticalErrorMade(Event):
    type: ClassVar[str] = "critical_error"
    node: str
    choice: str
    unresolved: bool  # True when it was already the retry: the learner moves on with 0


@dataclass(frozen=True)
class RetryOffered(Event):
    type: ClassVar[str] = "retry_offered"
    node: str


@dataclass(frozen=True)
class CaseFinished(Event):
    type: ClassVar[str] = "case_finished"
    ending: str
    score: float
    outcome: Outcome
    passed: bool


# --- derived values ---


@dataclass(frozen=True)
class CriticalError:
    node: str
    choice: str
    resolved: bool  # the retry was not critical (a pending retry is not resolved yet)
    retry_choice: str | None = None


@dataclass(frozen=True)
class PathStep:
    decision: Decision
    choice: Choice  # final choice at that decision
    points: int  # counted points
    retried: bool  # the learner came back to it after a critical error


def new_state(case: Case) -> CaseState:
    return CaseState(case_id=case.id, node=case.start)


def final_answers(state: CaseState) -> tuple[Answer, ...]:
    """The last answer at each settled decision, in the order the decisions were met."""
    last: dict[str, Answer] = {}
    for a in state.answers:
        last[a.node] = a
    return tuple(a for node, a in last.items() if node != state.pending_retry)


def decisions_answered(state: CaseState) -> int:
    return len(final_answers(state))


def score_fraction(case: Case, state: CaseState) -> Fraction:
    """S = Σ counted points / (2 × decisions answered), exact; 0 before the first decision."""
    _same_case(case, state)
    finals = final_answers(state)
    return Fraction(sum(a.points for a in finals), 2 * len(finals)) if finals else Fraction(0)


def score(case: Case, state: CaseState) -> float:
    return float(score_fraction(case, state))


def critical_errors(state: CaseState) -> tuple[CriticalError, ...]:
    errors: list[CriticalError] = []
    for i, a in enumerate(state.answers):
        if a.critical and not a.retry:
            retry = next((r for r in state.answers[i + 1:] if r.node == a.node and r.retry), None)
            errors.append(CriticalError(a.node, a.choice, retry is not None and not retry.critical,
                                        retry.choice if retry else None))
    return tuple(errors)


def outcome(case: Case, state: CaseState) -> Outcome:
    """Ending of the attempt (provisional while it is not finished)."""
    s = score_fraction(case, state)
    if any(not e.resolved for e in critical_errors(state)):
        return "reprendre"
    if s >= PASS_THRESHOLD:
        return "conforme"
    return "consolider" if s >= CONSOLIDATE_THRESHOLD else "reprendre"


def passed(case: Case, state: CaseState) -> bool:
    """Pass: a finished attempt with S >= 0.80 and no unresolved critical error."""
    return state.finished and outcome(case, state) == "conforme"


def can_still_pass(case: Case, state: CaseState) -> bool:
    """Whether some way to the end still passes: False once a critical error is unresolved, or
    when even the best practice at every decision left cannot bring S up to the pass mark. The
    player offers "restart this case now" from then on (issue 10), so nobody clicks through a
    lost attempt. A pending retry can still be resolved, so it does not count as unresolved."""
    _same_case(case, state)
    if state.finished:
        return passed(case, state)
    if any(not e.resolved and e.retry_choice is not None for e in critical_errors(state)):
        return False
    settled = {a.node: a for a in final_answers(state)}
    points = sum(a.points for a in settled.values())
    reachable = _best_remaining(case, state.node, state.pending_retry == state.node)
    return any(Fraction(points + p, 2 * (len(settled) + n)) >= PASS_THRESHOLD
               for p, n in reachable)


def _best_remaining(case: Case, start: str, on_retry: bool) -> set[tuple[int, int]]:
    """(points, decisions) pairs of the ways from `start` to an ending, each decision answered
    with its best non-critical choice (on a retry the first is capped). Cases are acyclic graphs
    of a few decisions, so the sets stay tiny; memoised per node."""
    memo: dict[str, set[tuple[int, int]]] = {}

    def ways(node_id: str, retry: bool) -> set[tuple[int, int]]:
        node = case.nodes[node_id]
        if not isinstance(node, Decision):
            return {(0, 0)}
        if node_id in memo and not retry:
            return memo[node_id]
        found: set[tuple[int, int]] = set()
        for choice in node.choices:
            if choice.critical:
                continue
            gain = min(choice.points, RETRY_CAP) if retry else choice.points
            found |= {(gain + p, 1 + n) for p, n in ways(choice.next, False)}
        # keep, per count of decisions, only the most points: the rest can never do better
        best: dict[int, int] = {}
        for p, n in found:
            best[n] = max(best.get(n, p), p)
        result = {(p, n) for n, p in best.items()}
        if not retry:
            memo[node_id] = result
        return result

    return ways(start, on_retry)


def offered_choices(case: Case, state: CaseState) -> tuple[Choice, ...]:
    """All choices of the current decision (a retry offers them all again); none once finished."""
    return () if state.finished else _current_decision(case, state).choices


def grid_documented(case: Case, state: CaseState) -> frozenset[str]:
    _same_case(case, state)
    return frozenset(g for a in final_answers(state) for g in _choice(case, a).grid)


def grid_expected(case: Case) -> frozenset[str]:
    return frozenset(g for d in case.decisions for g in d.best.grid)


def path(case: Case, state: CaseState) -> tuple[PathStep, ...]:
    _same_case(case, state)
    return tuple(PathStep(case.decision(a.node), _choice(case, a), a.points, a.retry)
                 for a in final_answers(state))


def choice_log(state: CaseState) -> tuple[str, ...]:
    """The chosen ids in order: what an attempt stores, and what `replay` folds."""
    return tuple(a.choice for a in state.answers)


# --- transitions ---


def step(case: Case, state: CaseState, choice_id: str) -> tuple[CaseState, list[Event]]:
    if state.finished:
        raise InvalidChoice(state.node, choice_id, "the attempt is finished")
    decision = _current_decision(case, state)
    choice = decision.choice(choice_id)
    if choice is None:
        raise InvalidChoice(state.node, choice_id, "not offered at this decision")
    on_retry = state.pending_retry == decision.id
    points = choice.points if not on_retry else min(choice.points, RETRY_CAP)
    points = 0 if choice.critical else points
    answers = state.answers + (Answer(decision.id, choice.id, points, choice.critical, on_retry),)

    if choice.critical and not on_retry:
        new = CaseState(state.case_id, decision.id, answers, pending_retry=decision.id)
        return new, [ChoiceMade(decision.id, choice.id, 0, True, False, decision.id),
                     CriticalErrorMade(decision.id, choice.id, unresolved=False),
                     RetryOffered(decision.id)]

    finished = isinstance(case.nodes[choice.next], Ending)
    new = CaseState(state.case_id, choice.next, answers, None, finished)
    events: list[Event] = [ChoiceMade(decision.id, choice.id, points, choice.critical, on_retry,
                                      choice.next)]
    if choice.critical:
        events.append(CriticalErrorMade(decision.id, choice.id, unresolved=True))
    if finished:
        events.append(CaseFinished(choice.next, score(case, new), outcome(case, new),
                                   passed(case, new)))
    return new, events


def replay(case: Case, choices: Iterable[str]) -> CaseState:
    """Rebuild a state from a stored choice log; raises InvalidChoice if the log does not fit."""
    state = new_state(case)
    for choice_id in choices:
        state, _ = step(case, state, choice_id)
    return state


# --- helpers ---


def _same_case(case: Case, state: CaseState) -> None:
    if state.case_id != case.id:
        raise ValueError(f"state of case {state.case_id!r} used with case {case.id!r}")


def _current_decision(case: Case, state: CaseState) -> Decision:
    _same_case(case, state)
    node = case.nodes.get(state.node)
    if not isinstance(node, Decision):
        raise ValueError(f"unfinished state at {state.node!r}: not a decision of {case.id}")
    return node


def _choice(case: Case, answer: Answer) -> Choice:
    choice = case.decision(answer.node).choice(answer.choice)
    if choice is None:
        raise ValueError(f"{answer.choice!r} is not a choice of {answer.node!r} in {case.id}")
    return choice


def _record(data: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != keys:
        raise ValueError(f"{what} must be an object with exactly the keys {sorted(keys)}")
    return data


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be a boolean")
    return value


def _answer(data: Any) -> Answer:
    d = _record(data, {"node", "choice", "points", "critical", "retry"}, "answer")
    points = d["points"]
    if type(points) is not int or points not in (0, 1, 2):
        raise ValueError("answer.points must be 0, 1 or 2")
    a = Answer(_id(d["node"], "answer.node"), _id(d["choice"], "answer.choice"), points,
               _bool(d["critical"], "answer.critical"), _bool(d["retry"], "answer.retry"))
    if (a.critical and a.points) or (a.retry and a.points > RETRY_CAP):
        raise ValueError("answer.points exceed what a critical or retried answer can count")
    return a
