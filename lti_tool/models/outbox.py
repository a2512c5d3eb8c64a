"""The transactional outbox (DESIGN.md §2, §4): work for the LMS or a badge issuer, written in the
same transaction as the change that caused it, delivered by `lti-tool worker` (or the server itself
in single-process mode) with retries, so nothing is lost between commit and delivery.

One row per `(topic, key)`, reused: a new score for a learner and resource link points the row at
the newest score (`ref_id`) and makes it pending again, so only the newest reaches the LMS. Workers
claim due rows by leasing them (`leased_until`, `lease_token`; `FOR UPDATE SKIP LOCKED` on
PostgreSQL); a worker that dies leaves a lease that expires, and another worker takes the row over.
A delivery counts only if the row still has the lease and the `ref_id` it delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import NO_ID_REUSE, Base, utcnow

PENDING, SENT, FAILED = "pending", "sent", "failed"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("topic", "key"),
        Index("ix_outbox_status_available_at", "status", "available_at"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))  # "ags.score"; later "badge.award"
    key: Mapped[str] = mapped_column(String(255))  # e.g. "<learner id>:<resource link id>"
    ref_id: Mapped[int]  # the row to deliver (a score id for "ags.score")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(default=None)
    lease_token: Mapped[str | None] = mapped_column(String(64), default=None)
    last_status: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
