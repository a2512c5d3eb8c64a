"""Territories, organisations and awards (the badges issue; ../shared/docs/BADGES.md).

A badge is only attributed to staff of an organisation in a territory whose police force has
concluded its agreement with the DPCP, in force on the award date. Agreements keep their history:
every `lti-tool territory set-agreement` adds a `TerritoryAgreement` row; the newest is current.
Entries the tool ships are unverified until the operator confirms them, and an unverified agreement
makes no one eligible.

`Award`: one per (learner, achievement), enforced by a unique constraint, so two workers handling
two completions of the same learner still give one award; its issuer call goes through the outbox
(topic "badge.award", key = the award id).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import NO_ID_REUSE, Base, utcnow


class Territory(Base):
    __tablename__ = "territory"
    __table_args__ = (UniqueConstraint("code"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    police_force: Mapped[str] = mapped_column(String(255))
    # Where the operator (or the shipped starter list) got it from.
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TerritoryAgreement(Base):
    """One recorded state of a territory's police–DPCP agreement; the newest row is current."""

    __tablename__ = "territory_agreement"
    __table_args__ = (Index("ix_territory_agreement_territory_id", "territory_id", "recorded_at"),
                      NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # concluded | suspended | none
    concluded_on: Mapped[date | None] = mapped_column(Date, default=None)
    verified: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Organisation(Base):
    """A school service centre, school board or private school."""

    __tablename__ = "organisation"
    __table_args__ = (UniqueConstraint("code"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), default="css")  # css | school_board | private_school
    territory_id: Mapped[int | None] = mapped_column(
        ForeignKey("territory.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Award(Base):
    __tablename__ = "award"
    __table_args__ = (UniqueConstraint("learner_id", "achievement"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    achievement: Mapped[str] = mapped_column(String(64))  # "architecte"
    organisation_code: Mapped[str | None] = mapped_column(String(64), default=None)
    # pending (waiting for the issuer) | awarded | failed | revoked
    status: Mapped[str] = mapped_column(String(16), default="pending")
    issuer: Mapped[str] = mapped_column(String(16))  # embedded | badgr | credly | obf | lms
    # The provider's id for the assertion (look-up, revocation); the credential for `embedded`.
    issuer_ref: Mapped[str | None] = mapped_column(String(255), default=None)
    credential: Mapped[str | None] = mapped_column(Text, default=None)
    eligible_at: Mapped[datetime] = mapped_column(default=utcnow)
    awarded_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revocation_reason: Mapped[str | None] = mapped_column(Text, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
