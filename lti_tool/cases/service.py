"""Attempts, steps, resume and reflections: the database side of the case player.

Pure services in the house style (DESIGN.md §3): they take the session as an argument, flush and
never commit (the request commits once), and refuse with ToolError subclasses whose bilingual
messages errors.py renders. The engine decides what a choice does; these functions store what it
decided (the state, one event row per transition) and refuse what it refuses, so a refused request
changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from lti_tool.cases import engine, progress
from lti_tool.cases.engine import CaseState, Event, InvalidChoice
from lti_tool.cases.model import Case, Level, Reflection
from lti_tool.db import core_execute, upsert, utcnow
from lti_tool.errors import AccessDenied, Action, Bilingual, ToolError
from lti_tool.models import (
    Attempt,
    AttemptEvent,
    ReflectionAnswer,
    ReflectionSubmission,
    Score,
)

MAX_ANSWER_CHARS = 20_000  # a reflection is a few paragraphs; this bounds a row, not a learner


# --- refusals -----------------------------------------------------------------------------------


class AttemptNotFound(ToolError):
    """Unknown attempt, or another learner's: the same answer, so ids reveal nothing."""

    status = 404
    code = "attempt_not_found"
    title = Bilingual("Tentative introuvable", "Attempt not found")


class UnknownCase(ToolError):
    status = 404
    code = "unknown_case"
    title = Bilingual("Cas introuvable", "Case not found")


class ChoiceNotOffered(ToolError):
    status = 400
    code = "choice_not_offered"
    title = Bilingual("Choix refusé", "Choice refused")


class StaleForm(ToolError):
    """A form posted for an older version of the attempt: a double click, Back, a replay."""

    status = 409
    code = "already_answered"
    title = Bilingual("Étape déjà franchie", "Step already answered")
    # The attempt's page (the request's attempt_id), where the learner continues.
    action = Action(Bilingual("Retour au cas", "Back to the case"), endpoint="cases.attempt")


class ContentChanged(ToolError):
    status = 409
    code = "content_changed"
    title = Bilingual("Cas modifié", "Case changed")


class NotInActivity(AccessDenied):
    code = "not_in_activity"


class ReflectionsLocked(AccessDenied):
    code = "reflections_locked"
    title = Bilingual("Questions de réflexion verrouillées", "Reflection questions locked")


class BadReflection(ToolError):
    status = 400
    code = "bad_reflection"


STALE = Bilingual(
    "Cette étape a déjà reçu une réponse (double clic, bouton Précédent ou formulaire renvoyé). "
    "Rien n'a été modifié : rouvrez la page du cas pour continuer là où vous êtes.",
    "This step was already answered (a double click, the Back button or a form sent again). "
    "Nothing was changed: open the case page again to continue where you are.")


# --- attempts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepResult:
    attempt: Attempt
    state: CaseState
    events: tuple[Event, ...]
    seq: int


def case_of(level: Level, case_id: str) -> Case:
    case = level.cases.get(case_id)
    if case is None:
        raise UnknownCase(Bilingual("Ce cas n'existe pas dans le niveau.",
                                    "This case does not exist in the level."),
                          detail=f"unknown case {case_id!r}")
    return case


def start_attempt(session: Session, learner_id: int, case: Case,
                  resource_link_id: int | None = None) -> Attempt:
    """The learner's unfinished attempt at the case, or a new one numbered after the last.

    Idempotent, so a double click on "Start" or "Replay" never makes two attempts: the insert is
    `ON CONFLICT DO NOTHING` on (learner, case, number) and a lost race returns the winner's row.
    """
    latest = latest_attempt(session, learner_id, case.id)
    if latest is not None and latest.finished_at is None:
        return latest
    number = latest.number + 1 if latest is not None else 1
    now = utcnow()
    stmt = _insert(session, Attempt).values(
        learner_id=learner_id, case_id=case.id, number=number, resource_link_id=resource_link_id,
        state=engine.new_state(case).to_dict(), version=1, feedback_seq=None, score=None,
        outcome=None, passed=False, started_at=now, updated_at=now, finished_at=None,
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["learner_id", "case_id", "number"])
    new_id = session.execute(stmt.returning(Attempt.id)).scalar_one_or_none()
    if new_id is None:  # a concurrent request inserted this number first
        winner = latest_attempt(session, learner_id, case.id)
        assert winner is not None
        return winner
    attempt = session.get(Attempt, new_id)
    assert attempt is not None
    return attempt


def latest_attempt(session: Session, learner_id: int, case_id: str) -> Attempt | None:
    return session.scalars(
        select(Attempt).where(Attempt.learner_id == learner_id, Attempt.case_id == case_id)
        .order_by(Attempt.number.desc()).limit(1)
    ).first()


def load_attempt(session: Session, learner_id: int, attempt_id: int) -> Attempt:
    """The attempt if it is the learner's own; 404 otherwise (another learner's looks unknown)."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.learner_id != learner_id:
        raise AttemptNotFound(
            Bilingual("Cette tentative n'existe pas ou ne vous appartient pas.",
                      "This attempt does not exist or is not yours."),
            detail=f"attempt {attempt_id} for learner {learner_id}")
    return attempt


_ATTEMPT_ROW = select(Attempt.__table__).where(Attempt.id == bindparam("attempt_id"))


def load_attempt_row(session: Session, learner_id: int, attempt_id: int) -> Attempt:
    """`load_attempt` for a page that only reads it (the attempt's screen, shown after every
    step): a Core row with the model's attribute names, without the ORM's instance state (issue
    11: a third of the ORM load's CPU). Nothing may be changed through it."""
    row = core_execute(session, _ATTEMPT_ROW, {"attempt_id": attempt_id}).first()
    if row is None or row.learner_id != learner_id:
        raise AttemptNotFound(
            Bilingual("Cette tentative n'existe pas ou ne vous appartient pas.",
                      "This attempt does not exist or is not yours."),
            detail=f"attempt {attempt_id} for learner {learner_id}")
    return cast(Attempt, row)


def state_of(attempt: Attempt, case: Case) -> CaseState:
    """The stored state, checked against the content it is played with."""
    try:
        state = CaseState.from_dict(attempt.state)
    except ValueError as exc:
        raise _content_changed(attempt, f"stored state unreadable: {exc}") from exc
    decisions = {d.id for d in case.decisions}
    node_ok = state.node in case.nodes and all(a.node in decisions for a in state.answers)
    if state.case_id != case.id or not node_ok:
        raise _content_changed(attempt, "stored state does not fit the case content")
    return state


def choose(session: Session, case: Case, attempt: Attempt, choice_id: str,
           version: int | None) -> StepResult:
    """Apply one choice. Refusals change nothing: a stale version → 409, a choice not offered at
    the current node → 400. Stores the new state and one AttemptEvent, and marks the consequence
    screen of this transition as not yet seen."""
    if version is None or attempt.version != version or attempt.feedback_seq is not None:
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: form v{version}, "
                                      f"row v{attempt.version} feedback {attempt.feedback_seq}")
    state = state_of(attempt, case)
    try:
        new, events = engine.step(case, state, choice_id)
    except InvalidChoice as exc:
        if state.finished:
            raise StaleForm(STALE, detail=str(exc)) from exc
        raise ChoiceNotOffered(
            Bilingual("Ce choix n'est pas offert à cette décision. Rien n'a été enregistré : "
                      "choisissez une des options affichées.",
                      "This choice is not offered at this decision. Nothing was recorded: pick "
                      "one of the options shown."),
            detail=str(exc)) from exc
    now = utcnow()
    seq = len(new.answers)
    finished = new.finished
    _store_step(session, attempt, {
        "state": new.to_dict(), "feedback_seq": seq, "updated_at": now,
        "score": engine.score(case, new) if finished else None,
        "outcome": engine.outcome(case, new) if finished else None,
        "passed": engine.passed(case, new) if finished else False,
        "finished_at": now if finished else None,
    }, {"seq": seq, "node": state.node, "choice": choice_id,
        "events": [e.to_dict() for e in events], "created_at": now})
    return StepResult(attempt, new, tuple(events), seq)


def acknowledge(session: Session, attempt: Attempt, version: int | None) -> None:
    """The learner leaves the consequence screen (to the next decision, the same decision for a
    retry, or the ending)."""
    if version is None or attempt.version != version or attempt.feedback_seq is None:
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: continue v{version}, "
                                      f"row v{attempt.version} feedback {attempt.feedback_seq}")
    _versioned_update(session, attempt, _ACKNOWLEDGE, {"feedback_seq": None,
                                                       "updated_at": utcnow()})


def attempt_events(session: Session, attempt_id: int) -> list[AttemptEvent]:
    return list(session.scalars(
        select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id)
        .order_by(AttemptEvent.seq)))


def replay_events(case: Case, events: Iterable[AttemptEvent]) -> CaseState:
    """The state the stored choice log leads to (must equal the stored state)."""
    return engine.replay(case, (e.choice for e in sorted(events, key=lambda e: e.seq)))


# Built once (read on every level home and every badge check; building costs more than running).
_LEARNER_ATTEMPTS = (select(Attempt).where(Attempt.learner_id == bindparam("learner_id"))
                     .order_by(Attempt.case_id, Attempt.number))


# Built once: the launch asks it for every learner it did not just create (views.shared_level_home).
_HAS_SOMETHING = select(
    exists().where(Attempt.learner_id == bindparam("learner_id"))
    | exists().where(ReflectionAnswer.learner_id == bindparam("learner_id"))
    | exists().where(Score.learner_id == bindparam("learner_id"),
                     Score.resource_link_id == bindparam("link_id")))


def has_nothing(session: Session, learner_id: int, resource_link_id: int | None) -> bool:
    """No attempt, no reflection answer (a draft counts) and no score on this link: the level
    home shows nothing of the learner's (cases/blank_home.py). One statement."""
    found = core_execute(session, _HAS_SOMETHING,
                         {"learner_id": learner_id, "link_id": resource_link_id}).scalar()
    return not found


# Read-only views of a learner's attempts and reflection answers, for the score rules
# (grading/service.py): Core rows, with the models' attribute names, loaded without the ORM's
# identity map and instance state — about three times cheaper, on every finished case (issue 11).
# Nothing may be changed through them.
ATTEMPT_ROWS = (select(Attempt.__table__).where(Attempt.learner_id == bindparam("learner_id"))
                 .order_by(Attempt.case_id, Attempt.number))
ANSWER_ROWS = select(ReflectionAnswer.__table__).where(
    ReflectionAnswer.learner_id == bindparam("learner_id"))


def learner_attempt_rows(session: Session, learner_id: int) -> Sequence[Attempt]:
    rows = core_execute(session, ATTEMPT_ROWS, {"learner_id": learner_id}).all()
    return cast("Sequence[Attempt]", rows)


def reflection_answer_rows(session: Session, learner_id: int) -> dict[str, ReflectionAnswer]:
    rows = core_execute(session, ANSWER_ROWS, {"learner_id": learner_id}).all()
    return {r.question_id: cast(ReflectionAnswer, r) for r in rows}


def learner_attempts(session: Session, learner_id: int) -> list[Attempt]:
    return list(session.scalars(_LEARNER_ATTEMPTS, {"learner_id": learner_id}))


# --- level-wide progress ------------------------------------------------------------------------

Status = Literal["not_started", "in_progress", "passed", "redo"]


@dataclass(frozen=True)
class CaseProgress:
    """Where a learner is on one case: `best` is the attempt that counts, `current` an unfinished
    one. The status is that of the best attempt, or "in progress" when nothing is finished yet."""

    case_id: str
    status: Status
    best: Attempt | None
    current: Attempt | None
    latest: Attempt | None
    attempts: int


def level_progress(level: Level, attempts: Sequence[Attempt]) -> dict[str, CaseProgress]:
    result: dict[str, CaseProgress] = {}
    for case_id, case in level.cases.items():
        mine = sorted((a for a in attempts if a.case_id == case_id), key=lambda a: a.number)
        best = _best(case, mine)
        current = next((a for a in reversed(mine) if a.finished_at is None), None)
        if best is not None:
            status: Status = "passed" if best.passed else "redo"
        else:
            status = "in_progress" if current is not None else "not_started"
        result[case_id] = CaseProgress(case_id, status, best, current,
                                       mine[-1] if mine else None, len(mine))
    return result


def best_states(level: Level, attempts: Sequence[Attempt]) -> dict[str, CaseState]:
    """The state of the attempt that counts, per case (progress.best_attempt's rule)."""
    states: dict[str, CaseState] = {}
    for case_id, item in level_progress(level, attempts).items():
        if item.best is not None:
            states[case_id] = CaseState.from_dict(item.best.state)
    return states


def reflections_open(level: Level, attempts: Sequence[Attempt]) -> bool:
    """The reflection questions open once every case of the level has passed."""
    passed = progress.level_cases_passed(level.cases, best_states(level, attempts))
    return len(passed) == len(level.cases)


def _best(case: Case, attempts: Sequence[Attempt]) -> Attempt | None:
    finished = [a for a in attempts if a.finished_at is not None]
    states = [CaseState.from_dict(a.state) for a in finished]
    chosen = progress.best_attempt(case, states)
    return next((a for a, s in zip(finished, states, strict=True) if s is chosen), None)


# --- reflections --------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


def word_count(text: str) -> int:
    """Words as a reader counts them: "l'image" and "porte-parole" are one word each."""
    return len(_WORD.findall(text))


def normalise_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_REFLECTION_ANSWERS = select(ReflectionAnswer).where(
    ReflectionAnswer.learner_id == bindparam("learner_id"))


def reflection_answers(session: Session, learner_id: int) -> dict[str, ReflectionAnswer]:
    rows = session.scalars(_REFLECTION_ANSWERS, {"learner_id": learner_id})
    return {r.question_id: r for r in rows}


def submission_history(session: Session, learner_id: int) -> dict[str, list[ReflectionSubmission]]:
    """Every submitted version per question, oldest first."""
    rows = session.execute(
        select(ReflectionAnswer.question_id, ReflectionSubmission)
        .join(ReflectionSubmission, ReflectionSubmission.answer_id == ReflectionAnswer.id)
        .where(ReflectionAnswer.learner_id == learner_id)
        .order_by(ReflectionSubmission.submitted_at, ReflectionSubmission.id))
    history: dict[str, list[ReflectionSubmission]] = {}
    for question_id, submission in rows:
        history.setdefault(question_id, []).append(submission)
    return history


def save_draft(session: Session, learner_id: int, question_id: str, text: str,
               *, now: datetime | None = None) -> ReflectionAnswer:
    """Keep what the learner is typing (one row per learner and question; last write wins)."""
    text = _checked_text(text)
    now = now or utcnow()
    answer_id = upsert(session, ReflectionAnswer, {
        "learner_id": learner_id, "question_id": question_id, "draft": text,
        "draft_saved_at": now,
    }, keys=("learner_id", "question_id"), update=("draft", "draft_saved_at"))
    answer = session.get(ReflectionAnswer, answer_id, populate_existing=True)
    assert answer is not None
    return answer


@dataclass(frozen=True)
class SubmitResult:
    """`too_short` maps a question to its word count when it is under `min_words`; when it is not
    empty nothing was submitted (the drafts were saved all the same)."""

    too_short: Mapping[str, int]
    submitted: tuple[str, ...]  # questions with a new version in the history
    answers: Mapping[str, ReflectionAnswer]

    @property
    def ok(self) -> bool:
        return not self.too_short


def submit_reflections(session: Session, learner_id: int, questions: Sequence[Reflection],
                       texts: Mapping[str, str]) -> SubmitResult:
    """Save every answer as a draft, then, if each has at least `min_words` words, submit them:
    a history row for each answer that differs from its last submission."""
    now = utcnow()
    answers = {q.id: save_draft(session, learner_id, q.id, texts.get(q.id, ""), now=now)
               for q in questions}
    too_short = {q.id: n for q in questions
                 if (n := word_count(answers[q.id].draft)) < q.min_words}
    if too_short:
        return SubmitResult(too_short, (), answers)
    submitted: list[str] = []
    for q in questions:
        answer = answers[q.id]
        text = answer.draft.strip()
        if text == (answer.submitted_text or ""):
            continue
        session.add(ReflectionSubmission(answer_id=answer.id, text=text,
                                         word_count=word_count(text), submitted_at=now))
        answer.submitted_text = text
        answer.submitted_at = now
        submitted.append(q.id)
    session.flush()
    return SubmitResult({}, tuple(submitted), answers)


def reflections_submitted(level: Level, answers: Mapping[str, ReflectionAnswer]) -> bool:
    return all(answers.get(q.id) is not None and answers[q.id].submitted_at is not None
               for q in level.reflections)


# --- helpers ------------------------------------------------------------------------------------


def _checked_text(text: str) -> str:
    text = normalise_text(text)
    if len(text) > MAX_ANSWER_CHARS:
        raise BadReflection(
            Bilingual(f"Une réponse ne peut dépasser {MAX_ANSWER_CHARS} caractères.",
                      f"An answer cannot exceed {MAX_ANSWER_CHARS} characters."),
            detail=f"answer of {len(text)} characters")
    return text


# The step's hot path uses prepared Core statements: the ORM unit of work and building a statement
# per request cost more than the rest of a step. Only an unfinished attempt takes a step, so writing
# the finish columns on every step leaves them as they were until the last one.
_attempt = cast(Table, Attempt.__table__)
_event = cast(Table, AttemptEvent.__table__)
_LOCK = (_attempt.c.id == bindparam("b_id")) & (_attempt.c.version == bindparam("b_version"))
_STEP = update(_attempt).where(_LOCK).values(
    version=bindparam("b_next"), **{c: bindparam(c) for c in (
        "state", "feedback_seq", "updated_at", "score", "outcome", "passed", "finished_at")})
_ACKNOWLEDGE = update(_attempt).where(_LOCK).values(
    version=bindparam("b_next"), feedback_seq=bindparam("feedback_seq"),
    updated_at=bindparam("updated_at"))
_INSERT_EVENT = insert(_event)
_EVENT_COLUMNS = ("seq", "node", "choice", "events", "created_at")
# PostgreSQL: the step's UPDATE in a CTE feeds the event's INSERT, one statement and one round trip
#   WITH step AS (UPDATE attempt SET … WHERE id = :b_id AND version = :b_version RETURNING id)
#   INSERT INTO attempt_event (attempt_id, seq, …) SELECT step.id, :seq, … FROM step RETURNING id
# A stale version updates no row, so nothing is inserted and nothing is returned.
_step_cte = _STEP.returning(_attempt.c.id).cte("step")
_STEP_WITH_EVENT = insert(_event).from_select(
    ["attempt_id", *_EVENT_COLUMNS],
    select(_step_cte.c.id, *(bindparam(c, type_=_event.c[c].type) for c in _EVENT_COLUMNS)),
).returning(_event.c.id)


def _store_step(session: Session, attempt: Attempt, values: dict[str, Any],
                event: dict[str, Any]) -> None:
    """The step's versioned UPDATE (`_versioned_update`) and its event row, or neither.

    On PostgreSQL one statement (`_STEP_WITH_EVENT`); SQLite has no UPDATE in a CTE, and runs in
    the process (no round trip to save), so it runs the two statements."""
    if session.get_bind().dialect.name != "postgresql":
        _versioned_update(session, attempt, _STEP, values)
        _insert_event(session, attempt, event)
        return
    version = attempt.version
    try:
        inserted = session.execute(_STEP_WITH_EVENT, {
            "b_id": attempt.id, "b_version": version, "b_next": version + 1, **values, **event,
        }).first()
    except IntegrityError as exc:  # the same seq written by a concurrent request
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: seq {event['seq']} exists") from exc
    if inserted is None:
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: concurrent update of v{version}")
    _loaded(attempt, {**values, "version": version + 1})


def _insert_event(session: Session, attempt: Attempt, event: dict[str, Any]) -> None:
    try:
        session.execute(_INSERT_EVENT, {"attempt_id": attempt.id, **event})
    except IntegrityError as exc:  # the same seq written by a concurrent request
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: seq {event['seq']} exists") from exc


def _versioned_update(session: Session, attempt: Attempt, statement: Any,
                      values: dict[str, Any]) -> None:
    """`UPDATE attempt SET …, version = v + 1 WHERE id = … AND version = v`: the optimistic lock.
    No row matched means a concurrent request changed the attempt first: a stale form. The loaded
    object is then brought up to date as if it had been reloaded."""
    version = attempt.version
    result = session.execute(statement, {"b_id": attempt.id, "b_version": version,
                                         "b_next": version + 1, **values})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: concurrent update of v{version}")
    _loaded(attempt, {**values, "version": version + 1})


def _loaded(attempt: Attempt, values: dict[str, Any]) -> None:
    """The written values become the object's loaded state (no reload, nothing left to flush)."""
    for name, value in values.items():
        set_committed_value(attempt, name, value)


def _content_changed(attempt: Attempt, detail: str) -> ContentChanged:
    return ContentChanged(
        Bilingual("Ce cas a été modifié depuis le début de cette tentative. Retournez à l'accueil "
                  "du niveau et reprenez le cas.",
                  "This case was changed since this attempt began. Go back to the level home and "
                  "start the case again."),
        detail=f"attempt {attempt.id}: {detail}")


def _insert(session: Session, model: type[Attempt]) -> Any:
    """The dialect's INSERT (both offer ON CONFLICT DO NOTHING … RETURNING)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model)


# --- restart a lost attempt (issue 10) ----------------------------------------------------------

RESTARTED = "restarted"  # Attempt.outcome of an attempt the learner left to start the case again


class RestartRefused(ToolError):
    """"Restart this case now" on an attempt that can still pass, or that is over."""

    status = 409
    code = "restart_refused"
    title = Bilingual("Reprise refusée", "Restart refused")


def is_restarted(attempt: Attempt) -> bool:
    """Closed by "restart this case now": finished in the database, never by the engine."""
    return attempt.outcome == RESTARTED and attempt.finished_at is not None


def restart_attempt(session: Session, learner_id: int, case: Case, attempt: Attempt,
                    version: int | None, resource_link_id: int | None = None) -> Attempt:
    """Close an attempt that can no longer pass (engine.can_still_pass) and start the case again.

    The closed attempt keeps its state and event log; it is marked finished with outcome
    `restarted` and not passed, so it is never "the attempt in progress" again, and the best
    attempt, which only counts attempts the engine finished, ignores it. A second post of the same
    form (a double click) lands on the attempt the first one started; any other stale form, or an
    attempt that can still pass, changes nothing (409)."""
    if is_restarted(attempt):
        latest = latest_attempt(session, learner_id, case.id)
        if latest is not None and latest.finished_at is None:
            return latest
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: restarted already")
    if version is None or attempt.version != version:
        raise StaleForm(STALE, detail=f"attempt {attempt.id}: restart v{version}, "
                                      f"row v{attempt.version}")
    state = state_of(attempt, case)
    if state.finished or engine.can_still_pass(case, state):
        raise RestartRefused(
            Bilingual("Cette tentative peut encore réussir, ou elle est terminée : rien n'a été "
                      "modifié. Rouvrez la page du cas pour continuer.",
                      "This attempt can still pass, or it is over: nothing was changed. Open the "
                      "case page again to continue."),
            detail=f"attempt {attempt.id}: restart refused (finished={state.finished})")
    now = utcnow()
    _versioned_update(session, attempt, _RESTART, {
        "feedback_seq": None, "updated_at": now, "score": engine.score(case, state),
        "outcome": RESTARTED, "passed": False, "finished_at": now})
    return start_attempt(session, learner_id, case, resource_link_id)


_RESTART = update(_attempt).where(_LOCK).values(
    version=bindparam("b_next"), **{c: bindparam(c) for c in (
        "feedback_seq", "updated_at", "score", "outcome", "passed", "finished_at")})
