"""record_progress on the real database (SQLite, or PostgreSQL with LTI_TEST_BACKEND=postgres): the
Score row and its outbox row are written in the caller's transaction, timestamps strictly increase
per learner and link, scores coalesce into one outbox row, and non-learners are never graded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lti_tool.cases import service as cases
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Level
from lti_tool.grading import service as grading
from lti_tool.models import (
    Course,
    Deployment,
    Learner,
    OutboxMessage,
    Platform,
    ReflectionAnswer,
    ReflectionReview,
    ResourceLink,
    Score,
)
from tests.support.statements import recorded

SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture
def level(app: Any) -> Level:
    return get_level(app.extensions["settings"].content_dir)


@pytest.fixture
def sessions(app: Any) -> Iterator[Any]:
    opened: list[Session] = []

    def make() -> Session:
        session = app.extensions["db_sessionmaker"]()
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


@dataclass(frozen=True)
class World:
    learner: int
    level_link: int
    case_link: int
    bare_link: int  # launched without AGS: nothing can be posted
    course: int
    deployment: int


@pytest.fixture
def world(sessions: Any) -> World:
    db: Session = sessions()
    platform = Platform(issuer="https://lms.test", client_id="c", auth_url="https://lms.test/a",
                        token_url="https://lms.test/t", jwks_url="https://lms.test/k")
    db.add(platform)
    db.flush()
    deployment = Deployment(platform_id=platform.id, deployment_id="d1")
    course = Course(platform_id=platform.id, context_id="course-1")
    learner = Learner(platform_id=platform.id, sub="user-1")
    db.add_all([deployment, course, learner])
    db.flush()

    def link(rl: str, activity: str, ags: bool) -> int:
        row = ResourceLink(
            platform_id=platform.id, deployment_id=deployment.id, course_id=course.id,
            resource_link_id=rl, activity=activity,
            lineitem_url=f"https://lms.test/lineitems/{rl}" if ags else None,
            ags_scopes=[SCORE, LINEITEM] if ags else None)
        db.add(row)
        db.flush()
        return row.id

    world = World(learner.id, link("rl-level", "level", True), link("rl-case", "case-2", True),
                  link("rl-bare", "level", False), course.id, deployment.id)
    db.commit()
    return world


def finish(db: Session, level: Level, learner: int, case_id: str, pick: str = "best") -> None:
    """Play a whole attempt in the session's transaction (no commit), as the player stores it."""
    case = level.cases[case_id]
    attempt = cases.start_attempt(db, learner, case)
    state = cases.state_of(attempt, case)
    while not state.finished:
        decision = case.decision(state.node)
        if pick == "best":
            choice = decision.best.id
        else:
            choice = min((c for c in decision.choices if not c.critical), key=lambda c: c.points).id
        state = cases.choose(db, case, attempt, choice, attempt.version).state
        cases.acknowledge(db, attempt, attempt.version)


def record(db: Session, world: World, level: Level, reason: str, *, link: int | None = None,
           role: str = "learner", now: datetime | None = None, locale: str = "fr") -> Score | None:
    return grading.record_progress(
        db, learner_id=world.learner, resource_link_id=link or world.level_link, reason=reason,
        locale=locale, role=role, level=level, now=now)


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def scores_of(db: Session, link: int) -> list[Score]:
    return list(db.scalars(select(Score).where(Score.resource_link_id == link)
                           .order_by(Score.timestamp)))


def outbox(db: Session) -> list[OutboxMessage]:
    return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# --- same transaction ---------------------------------------------------------------------------


def test_score_and_outbox_row_commit_with_the_progress(sessions: Any, world: World,
                                                        level: Level) -> None:
    db = sessions()
    finish(db, level, world.learner, "case-1")
    score = record(db, world, level, "case_completed", now=T0)
    assert score is not None
    db.commit()

    check = sessions()
    (row,) = scores_of(check, world.level_link)
    assert (row.reason, row.activity, row.activity_progress, row.grading_progress) == (
        "case_completed", "level", "InProgress", "FullyGraded")
    assert (row.score_given, row.score_maximum, row.delivery) == (33.33, 100.0, None)
    assert row.comment == "SEXTO — Niveau Architecte\u00a0: 1 cas réussi sur 3."
    assert row.timestamp == T0.replace(microsecond=0)  # whole seconds (Moodle compares them)
    (message,) = outbox(check)
    assert (message.topic, message.key, message.ref_id, message.status, message.attempts) == (
        "ags.score", f"{world.learner}:{world.level_link}", row.id, "pending", 0)


def test_the_returned_score_is_the_stored_row_and_a_worker_hears_of_it_at_commit(
        sessions: Any, world: World, level: Level) -> None:
    """The score comes back as the session's own row (on PostgreSQL it is written with its outbox
    message in one statement, never read back): its values are the stored ones, reading them
    costs no query, and an update to it is flushed. On PostgreSQL the worker's LISTEN hears of
    it at commit, not before."""
    db = sessions()
    postgres = db.get_bind().dialect.name == "postgresql"
    listener = None
    if postgres:
        import psycopg

        url = db.get_bind().url.set(drivername="postgresql").render_as_string(hide_password=False)
        listener = psycopg.connect(url, autocommit=True)
        listener.execute("LISTEN lti_outbox")
    try:
        finish(db, level, world.learner, "case-1")
        score = record(db, world, level, "case_completed", now=T0)
        assert score is not None and score in db and score.id is not None
        with recorded(db.get_bind()) as statements:
            seen = (score.reason, score.score_given, score.delivery, score.lms_message,
                    score.created_at, score.timestamp)
        assert statements == [], "the returned score's attributes are loaded"
        if listener is not None:
            assert sum(1 for _ in listener.notifies(timeout=0.3, stop_after=1)) == 0
        db.commit()
        if listener is not None:
            assert sum(1 for _ in listener.notifies(timeout=2, stop_after=1)) == 1
        check = sessions()
        stored = check.get(Score, score.id)
        assert stored is not None
        assert seen == (stored.reason, stored.score_given, stored.delivery, stored.lms_message,
                        stored.created_at, stored.timestamp)
        (message,) = outbox(check)
        assert message.ref_id == score.id
        score.delivery = "sent"  # the session's own row: a change is written
        db.commit()
        check.expire_all()
        assert check.get(Score, score.id).delivery == "sent"  # type: ignore[union-attr]
    finally:
        if listener is not None:
            listener.close()


def test_a_rolled_back_request_leaves_neither_progress_nor_score(sessions: Any, world: World,
                                                                   level: Level) -> None:
    db = sessions()
    finish(db, level, world.learner, "case-1")
    assert record(db, world, level, "case_completed") is not None
    db.rollback()  # the request failed after grading: nothing of it may remain

    check = sessions()
    assert count(check, Score) == 0 and count(check, OutboxMessage) == 0
    assert cases.learner_attempts(check, world.learner) == []


# --- who and what is graded ---------------------------------------------------------------------


def test_instructors_never_produce_a_score(sessions: Any, world: World, level: Level) -> None:
    db = sessions()
    finish(db, level, world.learner, "case-1")
    for reason in ("started", "case_completed", "reflections_submitted"):
        assert record(db, world, level, reason, role="instructor") is None
        assert record(db, world, level, reason, role="administrator") is None
    db.commit()
    assert count(db, Score) == 0 and count(db, OutboxMessage) == 0


def test_a_link_without_ags_gets_no_score(sessions: Any, world: World, level: Level) -> None:
    db = sessions()
    finish(db, level, world.learner, "case-1")
    assert record(db, world, level, "case_completed", link=world.bare_link) is None
    assert record(db, world, level, "case_completed", link=999_999) is None  # unknown link
    db.commit()
    assert count(db, Score) == 0 and count(db, OutboxMessage) == 0


def test_unknown_reason_is_a_bug(sessions: Any, world: World, level: Level) -> None:
    with pytest.raises(ValueError):
        record(sessions(), world, level, "passed")


def test_started_is_sent_once_and_identical_scores_are_not_repeated(sessions: Any, world: World,
                                                                    level: Level) -> None:
    db = sessions()
    cases.start_attempt(db, world.learner, level.cases["case-1"])
    first = record(db, world, level, "started")
    assert first is not None and (first.activity_progress, first.grading_progress,
                                  first.score_given) == ("Started", "NotReady", None)
    assert record(db, world, level, "started") is None
    finish(db, level, world.learner, "case-1")
    assert record(db, world, level, "case_completed") is not None
    finish(db, level, world.learner, "case-1", pick="worst")  # a replay that does not beat the best
    assert record(db, world, level, "case_completed") is None
    db.commit()
    assert [s.reason for s in scores_of(db, world.level_link)] == ["started", "case_completed"]

    # A score the LMS refused for good is sent again when the progress is asked for again.
    db.execute(update(Score).values(delivery="failed"))
    db.commit()
    assert record(db, world, level, "case_completed") is not None


def test_the_finish_that_passes_every_case_is_level_completed_once(sessions: Any, world: World,
                                                                   level: Level) -> None:
    db = sessions()
    reasons = []
    for case_id in level.cases:
        finish(db, level, world.learner, case_id, pick="worst")
        finish(db, level, world.learner, case_id)
        score = record(db, world, level, "case_completed")
        assert score is not None
        reasons.append(score.reason)
    assert reasons == ["case_completed", "case_completed", "level_completed"]
    assert score.score_given == 100.0 and score.activity_progress == "InProgress"


def test_grading_reads_what_this_transaction_has_not_flushed_yet(
        sessions: Any, world: World, level: Level) -> None:
    """The score rules' reads bypass the ORM (rows; on PostgreSQL a pipeline on the driver's
    connection): they must still see this request's pending changes, as an ORM query would."""
    db = sessions()
    for case_id in level.cases:
        finish(db, level, world.learner, case_id)
    for q in level.reflections:
        db.add(ReflectionAnswer(learner_id=world.learner, question_id=q.id, draft="",
                                submitted_text="mot", submitted_at=T0))
    assert db.new  # added, not flushed
    score = record(db, world, level, "reflections_submitted", now=T0 + timedelta(seconds=5))
    assert score is not None
    assert (score.activity_progress, score.grading_progress, score.score_given) == (
        "Completed", "FullyGraded", 100.0)


def test_reflections_and_review(sessions: Any, world: World, level: Level) -> None:
    db = sessions()
    db.execute(update(Deployment).values(reflection_review=True))
    for case_id in level.cases:
        finish(db, level, world.learner, case_id)
    record(db, world, level, "case_completed")
    texts = {q.id: " ".join(["mot"] * q.min_words) for q in level.reflections}
    assert cases.submit_reflections(db, world.learner, level.reflections, texts).ok
    submitted = record(db, world, level, "reflections_submitted", locale="en-CA")
    assert submitted is not None
    assert (submitted.activity_progress, submitted.grading_progress, submitted.score_given) == (
        "Submitted", "PendingManual", 100.0)
    assert submitted.comment.endswith("reflections submitted, awaiting review.")  # in English

    db.add(ReflectionReview(learner_id=world.learner, course_id=world.course, status="returned",
                            comment="Précisez le suivi.",
                            created_at=datetime.now(UTC) + timedelta(seconds=1)))
    db.flush()
    returned = record(db, world, level, "reflections_returned")
    assert returned is not None and returned.activity_progress == "InProgress"
    assert returned.comment.endswith("«\u00a0Précisez le suivi.\u00a0».")

    db.add(ReflectionReview(learner_id=world.learner, course_id=world.course, status="accepted",
                            created_at=datetime.now(UTC) + timedelta(seconds=2)))
    db.flush()
    accepted = record(db, world, level, "reflections_accepted")
    assert accepted is not None
    assert (accepted.activity_progress, accepted.grading_progress) == ("Completed", "FullyGraded")


def test_a_single_case_link_grades_that_case_alone(sessions: Any, world: World,
                                                   level: Level) -> None:
    db = sessions()
    finish(db, level, world.learner, "case-1")  # another case: not this link's business
    cases.start_attempt(db, world.learner, level.cases["case-2"])
    started = record(db, world, level, "started", link=world.case_link)
    assert started is not None and (started.activity, started.activity_progress) == (
        "case-2", "Started")
    finish(db, level, world.learner, "case-2", pick="worst")
    done = record(db, world, level, "case_completed", link=world.case_link)
    assert done is not None
    assert (done.reason, done.activity_progress, done.grading_progress) == (
        "case_completed", "Completed", "FullyGraded")
    worst = cases.learner_attempts(db, world.learner)[-1]
    assert done.score_given == round((worst.score or 0) * 100, 2) < 80
    assert "non réussi" in done.comment


# --- timestamps and coalescing ------------------------------------------------------------------


def test_timestamps_strictly_increase_even_when_the_clock_does_not(sessions: Any, world: World,
                                                                   level: Level) -> None:
    db = sessions()
    stamps = []
    cases.start_attempt(db, world.learner, level.cases["case-1"])
    stamps.append(record(db, world, level, "started", now=T0))
    for case_id in level.cases:
        finish(db, level, world.learner, case_id)
        # the same instant, then a clock that went back a minute
        stamps.append(record(db, world, level, "case_completed",
                             now=T0 if case_id != "case-3" else T0 - timedelta(minutes=1)))
    db.commit()
    times = [s.timestamp for s in scores_of(db, world.level_link)]
    assert len(times) == 4 and all(b - a == timedelta(seconds=1)
                                   for a, b in zip(times, times[1:], strict=False))
    later = T0 + timedelta(hours=1)
    finish(db, level, world.learner, "case-1")  # a replay: same state, nothing new
    db.add(ReflectionReview(learner_id=world.learner, course_id=world.course, status="accepted"))
    texts = {q.id: " ".join(["mot"] * q.min_words) for q in level.reflections}
    cases.submit_reflections(db, world.learner, level.reflections, texts)
    score = record(db, world, level, "reflections_submitted", now=later)
    assert score is not None and score.timestamp == later.replace(microsecond=0)


def test_two_scores_coalesce_into_one_pending_row_for_the_newest(sessions: Any, world: World,
                                                                 level: Level) -> None:
    db = sessions()
    finish(db, level, world.learner, "case-1")
    first = record(db, world, level, "case_completed")
    finish(db, level, world.learner, "case-2")
    second = record(db, world, level, "case_completed")
    db.commit()
    assert first is not None and second is not None
    (message,) = outbox(db)
    assert (message.ref_id, message.status) == (second.id, "pending")
    # A single-case link has its own row.
    record(db, world, level, "case_completed", link=world.case_link)
    db.commit()
    assert len(outbox(db)) == 2


def test_a_new_score_keeps_the_backoff_of_a_pending_row_and_restarts_a_sent_one(
        sessions: Any, world: World, level: Level) -> None:
    db = sessions()
    finish(db, level, world.learner, "case-1")
    record(db, world, level, "case_completed")
    db.commit()
    later = datetime.now(UTC) + timedelta(minutes=10)
    db.execute(update(OutboxMessage).values(attempts=3, available_at=later, last_status=503,
                                            last_error="LMS down"))
    db.commit()
    finish(db, level, world.learner, "case-2")
    newest = record(db, world, level, "case_completed")
    db.commit()
    (message,) = outbox(db)
    db.refresh(message)
    assert newest is not None and message.ref_id == newest.id
    assert (message.status, message.attempts, message.last_status) == ("pending", 3, 503)
    assert abs(message.available_at - later) < timedelta(milliseconds=1), "backoff kept"

    done = datetime.now(UTC)
    db.execute(update(OutboxMessage).values(status="sent", done_at=done, attempts=4,
                                            last_status=200, last_error=None))
    db.commit()
    finish(db, level, world.learner, "case-3")
    third = record(db, world, level, "case_completed")
    db.commit()
    db.refresh(message)
    assert third is not None and message.ref_id == third.id
    assert (message.status, message.attempts, message.done_at, message.last_status) == (
        "pending", 0, None, None)
    assert message.available_at <= datetime.now(UTC)


# --- concurrency --------------------------------------------------------------------------------


def _race(sessions: Any, work: Any) -> list[BaseException]:
    """Run `work(session, i)` in two threads started together; each commits its own session."""
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        db = sessions()
        try:
            work(db, i, barrier)
            db.commit()
        except BaseException as exc:  # noqa: BLE001 — reported to the test thread
            errors.append(exc)
            db.rollback()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_two_concurrent_enqueues_of_one_key_never_collide(sessions: Any, world: World) -> None:
    """The upsert is one statement: the second insert waits for the first and updates its row
    (a SELECT-then-INSERT would fail with a unique violation on PostgreSQL)."""

    def work(db: Session, i: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        grading.enqueue(db, "ags.score", "race:1", 1000 + i, datetime.now(UTC))

    assert _race(sessions, work) == []
    (message,) = outbox(sessions())
    assert message.ref_id in (1000, 1001) and message.status == "pending"


def test_two_concurrent_completions_take_turns(sessions: Any, world: World,
                                               level: Level) -> None:
    """Two requests of one learner finish two cases at the same instant: the later transaction
    reads the earlier one's progress and score, so its timestamp is newer, its grade counts both
    cases, and the outbox row points at it."""
    postgres = sessions().get_bind().dialect.name == "postgresql"

    def work(db: Session, i: int, barrier: threading.Barrier) -> None:
        if not postgres:
            barrier.wait()  # SQLite: one writer at a time; the second waits for the first commit
        finish(db, level, world.learner, f"case-{i + 1}")
        if postgres:
            barrier.wait()  # both transactions hold uncommitted progress when grading starts
        assert record(db, world, level, "case_completed", now=T0) is not None

    assert _race(sessions, work) == []
    db = sessions()
    first, second = scores_of(db, world.level_link)
    assert second.timestamp - first.timestamp == timedelta(seconds=1)
    assert (first.score_given, second.score_given) == (33.33, 66.67)
    (message,) = outbox(db)
    assert message.ref_id == second.id


def test_enqueue_notifies_the_listening_workers_at_commit() -> None:
    """On PostgreSQL the enqueue's upsert carries the NOTIFY that wakes `lti-tool worker`
    (LISTEN lti_outbox): sent at commit, not before, and not for a rolled-back transaction. Run on
    a throw-away PostgreSQL database in both passes of the suite (SQLite has no NOTIFY)."""
    import psycopg
    from sqlalchemy.orm import sessionmaker

    from lti_tool.cli import upgrade_database
    from lti_tool.db import make_engine
    from tests import backends

    with backends.fresh_postgres_database() as url:
        upgrade_database(url)
        engine = make_engine(url)
        listener = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                                   autocommit=True)
        try:
            listener.execute("LISTEN lti_outbox")
            make = sessionmaker(bind=engine)

            def heard() -> int:
                return sum(1 for _ in listener.notifies(timeout=0.5, stop_after=1))

            with make() as session:
                grading.enqueue(session, "ags.score", "1:1", 1, T0)
                session.rollback()
            assert heard() == 0
            with make() as session:
                grading.enqueue(session, "ags.score", "1:1", 1, T0)
                assert heard() == 0  # not before the commit
                session.commit()
            assert heard() == 1
        finally:
            listener.close()
            engine.dispose()
