"""Recording a learner's progress as a score for the LMS (DESIGN.md §4.3, the transactional outbox).

`record_progress` writes the `Score` row (the history of what the tool decided to send) and points
the outbox row of the (learner, resource link) pair at it, in the caller's transaction: the score
exists if and only if the progress that caused it was committed. It flushes, never commits.

- Only learners are posted: an instructor previewing the cases, an administrator, is never graded.
- Timestamps are strictly increasing per learner and resource link (line item): Moodle refuses a
  score whose timestamp is not newer than the previous one with 409 (LTI.md). On PostgreSQL a
  transaction-scoped advisory lock on the pair makes two concurrent requests of one learner take
  turns, so the later one reads the earlier one's score and progress; SQLite has a single writer,
  and every caller has already written (the attempt, the reflections, the review) when it calls.
- The outbox row is upserted in one statement (`INSERT … ON CONFLICT (topic, key) DO UPDATE`), so
  two requests cannot race into a unique violation, and only the newest score needs delivering.
- A score identical to the newest one is not written again (a replay that does not beat the best
  attempt changes nothing in the gradebook), unless that one was refused for good.
- A link whose launch granted no way to post scores (no AGS claim, or no score scope) gets no
  score: nothing could deliver it. A later launch that grants AGS stores the endpoints on the link,
  and the next progress sends the whole state (scores are computed from the progress, not deltas).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from typing import cast as typed

from sqlalchemy import Integer, bindparam, case, cast, func, literal, select
from sqlalchemy.orm import Session, make_transient_to_detached

from lti_tool.cases import progress
from lti_tool.cases import service as cases
from lti_tool.cases.model import Level
from lti_tool.db import core_execute, flush_pending, utcnow
from lti_tool.grading import scores
from lti_tool.grading.scores import LearnerProgress, Review, ScoreToSend
from lti_tool.models import (
    Attempt,
    Deployment,
    OutboxMessage,
    ReflectionAnswer,
    ReflectionReview,
    ResourceLink,
    Score,
)
from lti_tool.models.outbox import PENDING

LEARNER = "learner"  # page_token.Viewer.role of a gradable user
TOPIC = "ags.score"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
# Delivery states written on Score.delivery by the outbox worker (grading/outbox.py).
SENT, SUPERSEDED, FAILED = "sent", "superseded", "failed"
# Moodle refuses (409) a score unless its timestamp is newer, in whole seconds, than the grade's
# (mod/lti/service/gradebookservices/classes/local/resources/scores.php: `timemodified >=
# strtotime(timestamp)`): two scores within one second would lose the second. Whole seconds, each
# at least one second after the previous one for that learner and link.
_TICK = timedelta(seconds=1)


def outbox_key(learner_id: int, resource_link_id: int) -> str:
    return f"{learner_id}:{resource_link_id}"


@dataclass(frozen=True)
class LinkInfo:
    """What grading needs to know about a resource link (stored at each launch)."""

    id: int
    activity: str
    course_id: int | None
    review_on: bool  # the deployment has instructors review reflections
    gradable: bool  # the launch granted a way to post scores


# Built once: read on every level home and every recorded progress.
_LINK_INFO = (
    select(ResourceLink.activity, ResourceLink.course_id, ResourceLink.lineitem_url,
           ResourceLink.lineitems_url, ResourceLink.ags_scopes, Deployment.reflection_review)
    .join(Deployment, Deployment.id == ResourceLink.deployment_id)
    .where(ResourceLink.id == bindparam("resource_link_id")))


# PostgreSQL, for a score about to be written: the link, and the (learner, link) pair's turn
# taken in the same round trip — an advisory lock held until the transaction ends, which
# serialises the score writes of the pair so that timestamps read and written by concurrent
# requests stay strictly increasing. The link's read does not depend on the turn; the scores do,
# and they are read in later statements, whose snapshots come after the lock.
_LINK_INFO_TAKING_TURN = _LINK_INFO.add_columns(func.pg_advisory_xact_lock(
    cast(bindparam("learner_id"), Integer), cast(bindparam("resource_link_id"), Integer)))


def link_info(session: Session, resource_link_id: int) -> LinkInfo | None:
    return _link_info(core_execute(session, _LINK_INFO,
                                   {"resource_link_id": resource_link_id}).first(), resource_link_id)


def _reads_taking_turn(
    session: Session, learner_id: int, resource_link_id: int
) -> tuple[LinkInfo | None, Score | None, Sequence[Attempt], dict[str, ReflectionAnswer]]:
    """What `record_progress` reads: the link, the pair's turn (`_LINK_INFO_TAKING_TURN`), then
    the newest score, the learner's attempts and reflection answers, as read-only rows.

    PostgreSQL: the four statements in one pipeline, one round trip instead of four (issue 11).
    The server still runs each after the one before has finished, with its own snapshot, so the
    three reads come after the lock exactly as they would in four round trips. SQLite has one
    writer at a time: the turn is the database's, and the link is read first (a link that takes
    no grade needs nothing more); the pipeline reads all four at once, in one round trip."""
    if session.get_bind().dialect.name != "postgresql":
        link = link_info(session, resource_link_id)
        if link is None or not link.gradable:
            return link, None, (), {}  # nothing will be written: nothing more to read
        return (link, _newest_score_row(session, learner_id, resource_link_id),
                cases.learner_attempt_rows(session, learner_id),
                cases.reflection_answer_rows(session, learner_id))
    from psycopg.rows import namedtuple_row

    params = {"learner_id": learner_id, "resource_link_id": resource_link_id,
              "learner": learner_id, "link": resource_link_id}
    flush_pending(session)  # e.g. reflections just submitted: the reads must see them
    driver: Any = session.connection().connection.driver_connection
    cursors = []
    with driver.pipeline():
        for sql, defaults in _pipelined_reads(session.get_bind().dialect):
            cursor = driver.cursor(row_factory=namedtuple_row)
            cursor.execute(sql, {**defaults, **params})
            cursors.append(cursor)
    link_row, score, attempt_rows, answer_rows = (cursor.fetchall() for cursor in cursors)
    link = _link_info(link_row[0][:-1] if link_row else None, resource_link_id)
    return (link, score[0] if score else None, attempt_rows,
            {row.question_id: row for row in answer_rows})


@functools.cache
def _pipelined_reads(dialect: Any) -> list[tuple[str, dict[str, Any]]]:
    """The four statements of `_reads_taking_turn`, compiled once for the driver."""
    statements = (_LINK_INFO_TAKING_TURN, _NEWEST_SCORE_ROW, cases.ATTEMPT_ROWS,
                  cases.ANSWER_ROWS)
    compiled = [statement.compile(dialect=dialect) for statement in statements]
    return [(str(c), dict(c.params)) for c in compiled]


def _link_info(row: Any, resource_link_id: int) -> LinkInfo | None:
    if row is None:
        return None
    activity, course_id, lineitem, lineitems, ags_scopes, review_on = row
    granted = set(ags_scopes or ())
    # A score goes to the launch's line item, or to one the tool creates where it may.
    gradable = SCORE_SCOPE in granted and bool(lineitem or (lineitems and LINEITEM_SCOPE in granted))
    return LinkInfo(resource_link_id, activity, course_id, bool(review_on), gradable)


def learner_progress(session: Session, level: Level, learner_id: int, link: LinkInfo, *,
                     attempts: Sequence[Attempt] | None = None,
                     answers: Mapping[str, ReflectionAnswer] | None = None) -> LearnerProgress:
    """The inputs of the score rules, from the stored attempts, reflections and review. A caller
    that has already loaded attempts or answers passes them (no second query); else they are
    read as rows (cases.learner_attempt_rows: the rules only read them)."""
    if attempts is None:
        attempts = cases.learner_attempt_rows(session, learner_id)
    submitted_at: datetime | None = None
    review: Review | None = None
    if scores.activity_of(level, link.activity) == scores.LEVEL:
        if answers is None:
            answers = cases.reflection_answer_rows(session, learner_id)
        if cases.reflections_submitted(level, answers):
            submitted_at = max(a.submitted_at for q in level.reflections
                               if (a := answers[q.id]).submitted_at is not None)
            if link.review_on:
                review = newest_review(session, learner_id, link.course_id)
    return LearnerProgress(
        best_states=cases.best_states(level, attempts),
        started_cases=frozenset(a.case_id for a in attempts),
        reflections_submitted_at=submitted_at, review_on=link.review_on, review=review)


def newest_review(session: Session, learner_id: int, course_id: int | None) -> Review | None:
    if course_id is None:
        return None
    row = session.scalars(
        select(ReflectionReview)
        .where(ReflectionReview.learner_id == learner_id, ReflectionReview.course_id == course_id)
        .order_by(ReflectionReview.created_at.desc(), ReflectionReview.id.desc()).limit(1)).first()
    if row is None or row.status not in ("accepted", "returned"):
        return None
    return Review(row.status, row.comment, row.created_at)  # type: ignore[arg-type]


def current_score(session: Session, level: Level, learner_id: int, link: LinkInfo,
                  reason: str = "started", *, attempts: Sequence[Attempt] | None = None,
                  answers: Mapping[str, ReflectionAnswer] | None = None) -> ScoreToSend:
    """The score the link's rules give the learner's progress now (sent or not)."""
    learner = learner_progress(session, level, learner_id, link, attempts=attempts,
                               answers=answers)
    return scores.compute(level, scores.activity_of(level, link.activity), learner, reason)


def record_progress(session: Session, *, learner_id: int, resource_link_id: int, reason: str,
                    locale: str, role: str, level: Level,
                    now: datetime | None = None) -> Score | None:
    """Write the score the learner's progress now gives under the resource link, and make its
    delivery pending. Returns the new Score, or None when nothing is to be sent: a non-learner
    (`role` is page_token.Viewer.role: "learner" or "instructor"), an unknown or non-gradable
    link, "started" when the pair already has a score, or a score identical to the newest one.

    `reason` is one of scores.REASONS; the player passes "case_completed" for every finished
    attempt, recorded as "level_completed" the first time every case of a level link is passed.
    `locale` the learner's language for the comment ("fr" or
    "en"; a BCP 47 tag such as "en-CA" is read by its language); `level` the loaded content
    (cases.loader.get_level). Flushes, never commits.
    """
    if reason not in scores.REASONS:
        raise ValueError(f"unknown score reason {reason!r}")
    if role != LEARNER:
        return None
    link, previous, attempts, answers = _reads_taking_turn(session, learner_id, resource_link_id)
    if link is None or not link.gradable:
        return None
    if reason == "started" and previous is not None:
        return None  # "started" is the first score of the pair, once
    learner = learner_progress(session, level, learner_id, link, attempts=attempts,
                               answers=answers)
    activity = scores.activity_of(level, link.activity)
    if reason == "case_completed" and activity == scores.LEVEL and _cases_done(level, learner) \
            and not _has_reason(session, learner_id, resource_link_id, "level_completed"):
        reason = "level_completed"  # the finish that completes the level's cases, once per link
    to_send = scores.compute(level, activity, learner, reason)
    language = "en" if locale.lower().startswith("en") else "fr"
    comment = to_send.comment(language)
    if previous is not None and previous.delivery != FAILED and _same(previous, to_send, comment):
        return None
    now = now or utcnow()
    stamp = now.replace(microsecond=0)
    if previous is not None and stamp < previous.timestamp + _TICK:
        stamp = previous.timestamp + _TICK
    values = dict(
        learner_id=learner_id, resource_link_id=resource_link_id, reason=reason,
        activity=to_send.activity, score_given=to_send.score_given,
        score_maximum=to_send.score_maximum, activity_progress=to_send.activity_progress,
        grading_progress=to_send.grading_progress, comment=comment, timestamp=stamp,
        created_at=now)
    key = outbox_key(learner_id, resource_link_id)
    if session.get_bind().dialect.name == "postgresql":
        # The score and its outbox message in one statement (one round trip fewer for every
        # completion, issue 11); the row becomes the session's without being read back.
        score_id = session.execute(_score_and_enqueue_statement(),
                                   {**values, "topic": TOPIC, "key": key, "now": now}).scalar_one()
        score = Score(id=score_id, **values, delivery=None, delivered_at=None, lms_status=None,
                      lms_message=None)
        make_transient_to_detached(score)
        session.add(score)
        return score
    score = Score(**values)
    session.add(score)
    session.flush()
    enqueue(session, TOPIC, key, score.id, now)
    return score


# Built once (issue 11: building the statement cost as much as running it, on every completion).
_NEWEST_SCORE = (
    select(Score).where(Score.learner_id == bindparam("learner"),
                        Score.resource_link_id == bindparam("link"))
    .order_by(Score.timestamp.desc(), Score.id.desc()).limit(1))


def newest_score(session: Session, learner_id: int, resource_link_id: int) -> Score | None:
    return session.scalars(_NEWEST_SCORE, {"learner": learner_id, "link": resource_link_id}).first()


_NEWEST_SCORE_ROW = select(Score.__table__).where(
    Score.learner_id == bindparam("learner"), Score.resource_link_id == bindparam("link")
).order_by(Score.timestamp.desc(), Score.id.desc()).limit(1)


def _newest_score_row(session: Session, learner_id: int, resource_link_id: int) -> Score | None:
    """`newest_score` as a read-only row (record_progress only compares it), without the ORM's
    instance state (issue 11)."""
    row = core_execute(session, _NEWEST_SCORE_ROW,
                       {"learner": learner_id, "link": resource_link_id}).first()
    return typed("Score | None", row)


def newest_sent(session: Session, learner_id: int, resource_link_id: int) -> Score | None:
    """The newest score the LMS accepted (what its gradebook shows)."""
    return session.scalars(
        select(Score).where(Score.learner_id == learner_id,
                            Score.resource_link_id == resource_link_id, Score.delivery == SENT)
        .order_by(Score.timestamp.desc(), Score.id.desc()).limit(1)).first()


def enqueue(session: Session, topic: str, key: str, ref_id: int, now: datetime) -> None:
    """Point the (topic, key) outbox row at `ref_id` and make it pending, in one statement.

    A row already pending keeps its attempts and `available_at`: when it is backing off, the
    receiver is still down, and a new score must not reset the backoff. A row that was sent or had
    failed starts over (attempts 0, due now, the previous error cleared).
    """
    session.execute(_enqueue_statement(session.get_bind().dialect.name), {
        "topic": topic, "key": key, "ref_id": ref_id, "now": now})


@functools.cache
def _enqueue_statement(dialect: str) -> Any:
    """The upsert of `enqueue`, built once per dialect: building it (its `excluded` columns) cost
    more than running it, on every completion (issue 11)."""
    table: Any = OutboxMessage.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    now: Any = bindparam("now")
    upsert = _outbox_upsert(insert(table).values(
        topic=bindparam("topic"), key=bindparam("key"), ref_id=bindparam("ref_id"),
        status=PENDING, attempts=0, available_at=now, created_at=now, updated_at=now))
    if dialect == "postgresql":
        # The NOTIFY rides on the upsert (one round trip, not two). Delivered at commit: separate
        # `lti-tool worker` processes LISTEN and pick the row up at once.
        return upsert.returning(func.pg_notify("lti_outbox", ""))
    return upsert


@functools.cache
def _score_and_enqueue_statement() -> Any:
    """PostgreSQL: a new score's INSERT and `enqueue` of it as one statement (a data-modifying
    WITH), returning the score's id; the NOTIFY rides on it as on `enqueue`'s."""
    from sqlalchemy.dialects.postgresql import insert

    scores: Any = Score.__table__
    outbox: Any = OutboxMessage.__table__
    new_score = insert(scores).values({name: bindparam(name) for name in _SCORE_VALUES}).returning(
        scores.c.id).cte("new_score")
    now: Any = bindparam("now", type_=outbox.c.created_at.type)
    rows = select(bindparam("topic", type_=outbox.c.topic.type),
                  bindparam("key", type_=outbox.c.key.type), new_score.c.id, literal(PENDING),
                  literal(0), now, now, now)
    upsert = _outbox_upsert(insert(outbox).from_select(
        ["topic", "key", "ref_id", "status", "attempts", "available_at", "created_at",
         "updated_at"], rows))
    return upsert.returning(outbox.c.ref_id, func.pg_notify("lti_outbox", ""))


_SCORE_VALUES = ("learner_id", "resource_link_id", "reason", "activity", "score_given",
                 "score_maximum", "activity_progress", "grading_progress", "comment", "timestamp",
                 "created_at")


def _outbox_upsert(stmt: Any) -> Any:
    """`enqueue`'s conflict rule on an outbox INSERT (of values, or of a SELECT)."""
    table: Any = OutboxMessage.__table__
    was_pending = table.c.status == PENDING

    def keep(column: str) -> Any:
        return case((was_pending, table.c[column]), else_=stmt.excluded[column])

    return stmt.on_conflict_do_update(
        index_elements=["topic", "key"],
        set_={"ref_id": stmt.excluded.ref_id, "status": PENDING, "attempts": keep("attempts"),
              "available_at": keep("available_at"),
              "last_status": case((was_pending, table.c.last_status), else_=None),
              "last_error": case((was_pending, table.c.last_error), else_=None),
              "done_at": None, "updated_at": stmt.excluded.updated_at})


def _cases_done(level: Level, learner: LearnerProgress) -> bool:
    return len(progress.level_cases_passed(level.cases, learner.best_states)) == len(level.cases)


def _has_reason(session: Session, learner_id: int, resource_link_id: int, reason: str) -> bool:
    return session.scalars(
        select(Score.id).where(Score.learner_id == learner_id,
                               Score.resource_link_id == resource_link_id, Score.reason == reason)
        .limit(1)).first() is not None


def _same(previous: Score, to_send: ScoreToSend, comment: str) -> bool:
    return (previous.activity, previous.score_given, previous.score_maximum,
            previous.activity_progress, previous.grading_progress, previous.comment) == (
        to_send.activity, to_send.score_given, to_send.score_maximum,
        to_send.activity_progress, to_send.grading_progress, comment)
