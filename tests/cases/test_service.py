"""The case player's database services on the real database (SQLite, or PostgreSQL with
LTI_TEST_BACKEND=postgres) and the real content: attempts, steps, critical error and retry, finish,
replay and best attempt, resume from the database, event log replay, reflections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.cases import engine, service
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Case, Level
from lti_tool.models import (
    Attempt,
    AttemptEvent,
    Learner,
    Platform,
    ReflectionAnswer,
    ReflectionSubmission,
)


@pytest.fixture
def level(app: Any) -> Level:
    return get_level(app.extensions["settings"].content_dir)


@pytest.fixture
def sessions(app: Any) -> Iterator[Any]:
    """Opens sessions on the app's engine; each test commits like a request would."""
    opened: list[Session] = []

    def make() -> Session:
        session = app.extensions["db_sessionmaker"]()
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


@pytest.fixture
def db(sessions: Any) -> Session:
    return sessions()  # type: ignore[no-any-return]


def make_learner(session: Session, sub: str = "user-1") -> int:
    platform = session.scalar(select(Platform).limit(1))
    if platform is None:
        platform = Platform(issuer="https://lms.test", client_id="c", auth_url="https://lms.test/a",
                            token_url="https://lms.test/t", jwks_url="https://lms.test/k")
        session.add(platform)
        session.flush()
    learner = Learner(platform_id=platform.id, sub=sub)
    session.add(learner)
    session.commit()
    return learner.id


def play(session: Session, case: Case, attempt: Attempt, choices: list[str]) -> None:
    """Choose and dismiss the consequence screen, as the pages do; commit each request."""
    for choice in choices:
        service.choose(session, case, attempt, choice, attempt.version)
        session.commit()
        service.acknowledge(session, attempt, attempt.version)
        session.commit()


def best(case: Case) -> list[str]:
    return [d.best.id for d in case.decisions]


def critical_of(case: Case, node: str) -> str:
    return next(c.id for c in case.decision(node).choices if c.critical)


def worst(case: Case) -> list[str]:
    return [min((c for c in d.choices if not c.critical), key=lambda c: c.points).id
            for d in case.decisions]


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- attempts -----------------------------------------------------------------------------------


def test_start_creates_the_first_attempt_and_is_idempotent(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-1"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    assert (attempt.number, attempt.version, attempt.feedback_seq) == (1, 1, None)
    assert attempt.state == engine.new_state(case).to_dict()
    again = service.start_attempt(db, learner, case)
    assert again.id == attempt.id, "an unfinished attempt is resumed, not doubled"
    assert count(db, Attempt) == 1


def test_a_step_stores_the_state_and_one_event(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-1"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    result = service.choose(db, case, attempt, "d1-b", 1)
    db.commit()
    assert result.seq == 1 and attempt.feedback_seq == 1 and attempt.version == 2
    assert attempt.state["node"] == "d2" and attempt.state["answers"][0]["points"] == 2
    (event,) = service.attempt_events(db, attempt.id)
    assert (event.seq, event.node, event.choice) == (1, "d1", "d1-b")
    assert event.events == [e.to_dict() for e in result.events]
    assert event.events[0]["type"] == "choice_made"
    with pytest.raises(service.StaleForm):  # the consequence screen comes first
        service.choose(db, case, attempt, "d2-c", attempt.version)
    service.acknowledge(db, attempt, 2)
    db.commit()
    assert attempt.feedback_seq is None and attempt.version == 3


def test_critical_error_sends_back_once_and_the_retry_is_capped(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-1"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    result = service.choose(db, case, attempt, critical_of(case, "d1"), 1)
    db.commit()
    assert [e.type for e in result.events] == ["choice_made", "critical_error", "retry_offered"]
    assert result.state.pending_retry == "d1" and result.state.node == "d1"
    service.acknowledge(db, attempt, attempt.version)
    retry = service.choose(db, case, attempt, case.decision("d1").best.id, attempt.version)
    db.commit()
    assert retry.state.answers[-1].points == 1 and retry.state.answers[-1].retry
    assert retry.state.node == "d2" and retry.state.pending_retry is None
    (error,) = engine.critical_errors(retry.state)
    assert error.resolved
    assert [e.seq for e in service.attempt_events(db, attempt.id)] == [1, 2]


def test_finishing_records_score_outcome_and_pass(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-2"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    play(db, case, attempt, best(case))
    assert attempt.finished_at is not None
    assert (attempt.score, attempt.outcome, attempt.passed) == (1.0, "conforme", True)
    assert len(service.attempt_events(db, attempt.id)) == len(case.decisions)
    with pytest.raises(service.StaleForm):
        service.choose(db, case, attempt, best(case)[0], attempt.version)


def test_replay_makes_a_new_attempt_and_the_best_one_counts(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-1"]
    first = service.start_attempt(db, learner, case)
    db.commit()
    play(db, case, first, worst(case))
    assert first.outcome == "reprendre" and not first.passed
    second = service.start_attempt(db, learner, case)
    db.commit()
    assert second.number == 2 and second.id != first.id
    item = service.level_progress(level, service.learner_attempts(db, learner))["case-1"]
    assert item.status == "redo" and item.best is first and item.current is second
    play(db, case, second, best(case))
    third = service.start_attempt(db, learner, case)
    db.commit()
    play(db, case, third, worst(case))
    item = service.level_progress(level, service.learner_attempts(db, learner))["case-1"]
    assert item.status == "passed" and item.best is second and item.attempts == 3
    states = service.best_states(level, service.learner_attempts(db, learner))
    assert states["case-1"] == engine.CaseState.from_dict(second.state)


def test_resume_reads_the_exact_place_back_from_the_database(sessions: Any, level: Level) -> None:
    first = sessions()
    learner = make_learner(first)
    case = level.cases["case-3"]
    attempt = service.start_attempt(first, learner, case)
    first.commit()
    play(first, case, attempt, best(case)[:2])
    service.choose(first, case, attempt, critical_of(case, "d3"), attempt.version)
    first.commit()
    attempt_id, expected = attempt.id, engine.CaseState.from_dict(attempt.state)
    first.close()

    later = sessions()  # a relaunch: nothing in memory
    row = service.load_attempt(later, learner, attempt_id)
    state = service.state_of(row, case)
    assert state == expected
    assert state.node == "d3" and state.pending_retry == "d3"
    assert row.feedback_seq == 3, "the consequence screen of the critical error is still unseen"
    service.acknowledge(later, row, row.version)
    later.commit()
    assert service.state_of(service.load_attempt(sessions(), learner, attempt_id), case) == expected


def test_the_event_log_replays_to_the_stored_state(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-2"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    choices = best(case)
    path = [critical_of(case, "d1"), critical_of(case, "d1"), *choices[1:4],
            critical_of(case, "d5"), choices[4], *choices[5:]]
    play(db, case, attempt, path)
    events = service.attempt_events(db, attempt.id)
    assert [e.choice for e in events] == path
    stored = service.state_of(attempt, case)
    assert service.replay_events(case, events) == stored
    assert engine.choice_log(stored) == tuple(path)
    assert stored.finished and attempt.outcome == "reprendre", "d1 stays unresolved"


def test_a_choice_not_offered_changes_nothing(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-1"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    for bad in ("d2-c", "nope", ""):
        with pytest.raises(service.ChoiceNotOffered):
            service.choose(db, case, attempt, bad, 1)
    db.rollback()
    assert attempt.version == 1 and attempt.state == engine.new_state(case).to_dict()
    assert count(db, AttemptEvent) == 0


def test_a_stale_or_missing_version_is_refused(db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-1"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    service.choose(db, case, attempt, "d1-b", 1)
    service.acknowledge(db, attempt, 2)
    db.commit()
    for version in (1, 2, None, 99):
        with pytest.raises(service.StaleForm):
            service.choose(db, case, attempt, "d2-c", version)
    with pytest.raises(service.StaleForm):
        service.acknowledge(db, attempt, attempt.version)  # nothing to dismiss


def test_two_concurrent_answers_one_wins_the_other_is_stale(sessions: Any, level: Level) -> None:
    setup = sessions()
    learner = make_learner(setup)
    case = level.cases["case-1"]
    attempt_id = service.start_attempt(setup, learner, case).id
    setup.commit()
    one, two = sessions(), sessions()
    row_one = service.load_attempt(one, learner, attempt_id)
    row_two = service.load_attempt(two, learner, attempt_id)  # both read version 1
    service.choose(one, case, row_one, "d1-b", 1)
    one.commit()
    with pytest.raises(service.StaleForm):
        service.choose(two, case, row_two, "d1-a", 1)
    two.rollback()
    check = sessions()
    assert [e.choice for e in service.attempt_events(check, attempt_id)] == ["d1-b"]


def test_another_learners_attempt_is_not_found(db: Session, level: Level) -> None:
    owner, other = make_learner(db, "owner"), make_learner(db, "other")
    attempt = service.start_attempt(db, owner, level.cases["case-1"])
    db.commit()
    with pytest.raises(service.AttemptNotFound):
        service.load_attempt(db, other, attempt.id)
    with pytest.raises(service.AttemptNotFound):
        service.load_attempt(db, owner, attempt.id + 1000)


def test_reflections_open_only_when_every_case_passed(db: Session, level: Level) -> None:
    learner = make_learner(db)
    for case_id in level.case_ids:
        assert not service.reflections_open(level, service.learner_attempts(db, learner))
        case = level.cases[case_id]
        attempt = service.start_attempt(db, learner, case)
        db.commit()
        play(db, case, attempt, best(case))
    assert service.reflections_open(level, service.learner_attempts(db, learner))


# --- reflections --------------------------------------------------------------------------------


def long_answer(words: int, tag: str = "") -> str:
    return " ".join(f"mot{i}{tag}" for i in range(words))


def test_word_count_counts_words_as_a_reader_does() -> None:
    assert service.word_count("") == 0
    assert service.word_count("  l'image   porte-parole, 12 élèves — ok!  ") == 5
    assert service.word_count("Je ne regarde jamais l’image.\nJamais.") == 6


def test_a_draft_is_one_row_updated_in_place(db: Session, level: Level) -> None:
    learner = make_learner(db)
    first = service.save_draft(db, learner, "steps", "Premier jet")
    db.commit()
    second = service.save_draft(db, learner, "steps", "Deuxième jet\r\nligne")
    db.commit()
    assert first.id == second.id and second.draft == "Deuxième jet\nligne"
    assert second.draft_saved_at is not None and second.submitted_at is None
    assert count(db, ReflectionAnswer) == 1
    with pytest.raises(service.BadReflection):
        service.save_draft(db, learner, "steps", "x" * (service.MAX_ANSWER_CHARS + 1))


def test_submit_refuses_short_answers_but_keeps_the_drafts(db: Session, level: Level) -> None:
    learner = make_learner(db)
    texts = {"steps": long_answer(40), "learned": "Trop court.", "delicate": long_answer(29)}
    result = service.submit_reflections(db, learner, level.reflections, texts)
    db.commit()
    assert not result.ok and result.too_short == {"learned": 2, "delicate": 29}
    answers = service.reflection_answers(db, learner)
    assert {q: a.draft for q, a in answers.items()} == texts
    assert all(a.submitted_at is None for a in answers.values())
    assert count(db, ReflectionSubmission) == 0


def test_submit_and_resubmit_keep_every_version(db: Session, level: Level) -> None:
    learner = make_learner(db)
    texts = {q.id: long_answer(35, q.id) for q in level.reflections}
    result = service.submit_reflections(db, learner, level.reflections, texts)
    db.commit()
    assert result.ok and set(result.submitted) == {"steps", "learned", "delicate"}
    assert service.reflections_submitted(level, service.reflection_answers(db, learner))
    revised = {**texts, "delicate": long_answer(50, "v2")}
    again = service.submit_reflections(db, learner, level.reflections, revised)
    db.commit()
    assert again.submitted == ("delicate",), "unchanged answers add no version"
    history = service.submission_history(db, learner)
    assert [s.text for s in history["delicate"]] == [texts["delicate"], revised["delicate"]]
    assert [len(history[q]) for q in ("steps", "learned")] == [1, 1]
    answer = service.reflection_answers(db, learner)["delicate"]
    assert answer.submitted_text == revised["delicate"] and history["delicate"][-1].word_count == 50
