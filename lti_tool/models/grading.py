"""Grades for the LMS (LTI Assignment and Grade Services 2.0, https://www.imsglobal.org/spec/lti-ags/v2p0).

`LineItem`: the gradebook column a resource link reports to — the one of the launch's AGS claim
(deep linking created it, or the platform did), or one the tool created when it may manage them.
`Score`: every score the tool decided to send, kept as history (what was sent, when, and the LMS's
answer). Only the newest per (learner, resource link) needs to reach the LMS; its delivery is the
`OutboxMessage` keyed on that pair (models/outbox.py), written in the same transaction as the
progress that caused the score. `timestamp` is strictly increasing per learner and line item:
Moodle refuses a score whose timestamp is not newer than the previous one with 409 (LTI.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import NO_ID_REUSE, Base, utcnow


class LineItem(Base):
    __tablename__ = "line_item"
    __table_args__ = (UniqueConstraint("platform_id", "url"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    resource_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("resource_link.id", ondelete="CASCADE"), default=None
    )
    url: Mapped[str] = mapped_column(String(1024))
    label: Mapped[str] = mapped_column(String(255), default="")
    score_maximum: Mapped[float] = mapped_column(default=100.0)
    resource_id: Mapped[str | None] = mapped_column(String(255), default=None)
    tag: Mapped[str | None] = mapped_column(String(255), default=None)
    # True when the tool created it (the launch had none and the platform grants lineitem scope).
    created_by_tool: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Score(Base):
    __tablename__ = "score"
    __table_args__ = (
        Index("ix_score_learner_id_resource_link_id", "learner_id", "resource_link_id", "timestamp"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    resource_link_id: Mapped[int] = mapped_column(
        ForeignKey("resource_link.id", ondelete="CASCADE")
    )
    # What caused it: started | case_completed | level_completed | reflections_submitted |
    # reflections_accepted | reflections_returned
    reason: Mapped[str] = mapped_column(String(32))
    activity: Mapped[str] = mapped_column(String(64), default="level")
    score_given: Mapped[float | None] = mapped_column(default=None)
    score_maximum: Mapped[float] = mapped_column(default=100.0)
    # AGS §3.4.4 / §3.4.5 vocabularies.
    activity_progress: Mapped[str] = mapped_column(String(16))
    grading_progress: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    timestamp: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Filled by the delivery: sent | superseded (a newer score was sent instead) | failed.
    delivery: Mapped[str | None] = mapped_column(String(16), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    lms_status: Mapped[int | None] = mapped_column(default=None)
    lms_message: Mapped[str | None] = mapped_column(Text, default=None)
