"""Learners, courses (LTI contexts) and resource links, upserted on every launch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import NO_ID_REUSE, Base, utcnow


class Learner(Base):
    """A platform user (the LTI `sub`), learner or instructor; PII only as the platform shares it."""

    __tablename__ = "learner"
    __table_args__ = (UniqueConstraint("platform_id", "sub"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    given_name: Mapped[str | None] = mapped_column(String(255), default=None)
    family_name: Mapped[str | None] = mapped_column(String(255), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    locale: Mapped[str | None] = mapped_column(String(16), default=None)
    # The organisation a launch named (custom parameter, where the registration allows it).
    organisation_code: Mapped[str | None] = mapped_column(String(64), default=None)
    # The Explorer level, when a deployment requires it: when and how it was recorded
    # ("instructor" or "lms").
    explorer_completed_at: Mapped[datetime | None] = mapped_column(default=None)
    explorer_source: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[datetime] = mapped_column(default=utcnow)


class Course(Base):
    """An LTI context (a Moodle course, a Canvas course)."""

    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(512), default=None)
    label: Mapped[str | None] = mapped_column(String(255), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The NRPS roster (https://www.imsglobal.org/spec/lti-nrps/v2p0), cached; refreshed on demand.
    # The service URL comes from the newest launch's claim: services outlive the launch token.
    nrps_url: Mapped[str | None] = mapped_column(String(1024), default=None)
    # `lti-tool organisation map … --course`: the course's organisation, before its deployment's.
    organisation_code: Mapped[str | None] = mapped_column(String(64), default=None)
    roster: Mapped[list[Any] | None] = mapped_column(default=None)
    roster_fetched_at: Mapped[datetime | None] = mapped_column(default=None)


class ResourceLink(Base):
    """The activity in the course; carries what grading needs after the id_token has expired."""

    __tablename__ = "resource_link"
    __table_args__ = (UniqueConstraint("platform_id", "resource_link_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"))
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("course.id", ondelete="SET NULL"), default=None
    )
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(512), default=None)
    # What the instructor picked in deep linking ("level" or a case id), from custom params.
    activity: Mapped[str] = mapped_column(String(64), default="level")
    lineitem_url: Mapped[str | None] = mapped_column(String(1024), default=None)
    lineitems_url: Mapped[str | None] = mapped_column(String(1024), default=None)
    ags_scopes: Mapped[list[Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
