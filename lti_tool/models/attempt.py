"""A learner's work on the level: case attempts with their event log, and reflection answers.

An `Attempt` keeps the engine's `CaseState` (as `to_dict` JSON) so a page renders from one row,
and an `AttemptEvent` per transition (the chosen id and the engine's events) so an instructor can
see the path and `engine.replay` over the choice log rebuilds the stored state (DESIGN.md §4).
`version` is an optimistic lock: every change bumps it, and a form posted for an older version is a
replayed form. `feedback_seq` names the transition whose consequence screen the learner has not
dismissed yet, so a relaunch shows it again.

Reflections (CASES-BRIEF.md, "Decisions taken"): one row per (learner, question) with the current
draft, and every submission kept as a history row; the attestation shows the submitted answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import NO_ID_REUSE, Base, utcnow


class Attempt(Base):
    """One play of one case by one learner; `number` counts from 1 per (learner, case)."""

    __tablename__ = "attempt"
    __table_args__ = (UniqueConstraint("learner_id", "case_id", "number"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int]
    # Where it was started (grading needs a resource link); progress itself is per learner.
    resource_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("resource_link.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[dict[str, Any]]  # engine.CaseState.to_dict()
    version: Mapped[int] = mapped_column(default=1)
    feedback_seq: Mapped[int | None] = mapped_column(default=None)
    # Set once, when the engine finishes the attempt (derived from `state`, kept for queries).
    score: Mapped[float | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    passed: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    __mapper_args__ = {"version_id_col": version}


class AttemptEvent(Base):
    """One transition of an attempt: `seq` is the answer's position in the state (1-based)."""

    __tablename__ = "attempt_event"
    __table_args__ = (UniqueConstraint("attempt_id", "seq"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"))
    seq: Mapped[int]
    node: Mapped[str] = mapped_column(String(64))
    choice: Mapped[str] = mapped_column(String(64))
    events: Mapped[list[Any]]  # [engine.Event.to_dict(), ...]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReflectionAnswer(Base):
    """A learner's answer to one reflection question: the draft being written, and the latest
    submission (a copy of the newest `ReflectionSubmission`, for pages and the attestation)."""

    __tablename__ = "reflection_answer"
    __table_args__ = (UniqueConstraint("learner_id", "question_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(32))
    draft: Mapped[str] = mapped_column(Text, default="")
    draft_saved_at: Mapped[datetime | None] = mapped_column(default=None)
    submitted_text: Mapped[str | None] = mapped_column(Text, default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)


class ReflectionSubmission(Base):
    """Every submitted version of an answer, oldest first: the history is never rewritten."""

    __tablename__ = "reflection_submission"
    __table_args__ = (Index("ix_reflection_submission_answer_id", "answer_id", "submitted_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("reflection_answer.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    word_count: Mapped[int]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReflectionReview(Base):
    """An instructor's decision on a learner's submitted reflections, where the deployment switches
    review on: "accepted" (grading FullyGraded) or "returned" with a comment (the learner revises
    and submits again). The newest row per learner and course is the current one."""

    __tablename__ = "reflection_review"
    __table_args__ = (Index("ix_reflection_review_learner_id", "learner_id", "created_at"),
                      NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), default=None
    )
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("learner.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16))  # accepted | returned
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
