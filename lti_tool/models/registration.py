"""Platform registrations: one row per (issuer, client_id), several deployments each.

Canvas uses one issuer for every customer, so a registration is found by (issuer, client_id)
(LTI.md, checklist item 2); Moodle's deployment_id is its tool type id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import NO_ID_REUSE, Base, utcnow


class Platform(Base):
    __tablename__ = "platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_url: Mapped[str] = mapped_column(String(1024))
    token_url: Mapped[str] = mapped_column(String(1024))
    jwks_url: Mapped[str] = mapped_column(String(1024))
    # Some platforms want another `aud` in client assertions than the token URL (Moodle: none).
    auth_audience: Mapped[str | None] = mapped_column(String(1024), default=None)
    # moodle | canvas | generic — picks the per-LMS quirks class (launch/platforms.py).
    family: Mapped[str] = mapped_column(String(32), default="generic")
    name: Mapped[str] = mapped_column(String(255), default="")
    organisation_code: Mapped[str | None] = mapped_column(String(64), default=None)
    # "active" launches and calls services; "pending" (dynamic registration without an
    # invitation, LTI_TOOL_REGISTRATION=approval) does neither until `lti-tool platform approve`.
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Whether a launch's custom parameter `sexto_organisation` may name the learner's organisation
    # (off by default: the operator trusts that platform's administrators to set it right).
    organisation_from_launch: Mapped[bool] = mapped_column(default=False)
    # How it came: "cli" (operator), "invitation", "dynamic" (uninvited, then approved or not).
    origin: Mapped[str] = mapped_column(String(16), default="cli")
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("registration_invitation.id", ondelete="SET NULL"), default=None
    )
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    # The registration's own signing key (keys/registrations/<key_set>/), published at
    # /lti/keys/<key_set>.json; None: the tool's shared key (/.well-known/jwks.json).
    key_set: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", lazy="selectin"
    )


class RegistrationInvitation(Base):
    """A one-time dynamic-registration URL (`lti-tool platform invite`). Only a hash of the secret
    is stored; the organisation it names is recorded on the registration it creates."""

    __tablename__ = "registration_invitation"
    __table_args__ = (UniqueConstraint("token_hash"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    organisation_code: Mapped[str | None] = mapped_column(String(64), default=None)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class Deployment(Base):
    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    # The school board / organisation this deployment belongs to (badges: territory lookup).
    organisation_code: Mapped[str | None] = mapped_column(String(64), default=None)
    # Instructors accept or return reflections before they count (grading PendingManual).
    reflection_review: Mapped[bool] = mapped_column(default=False)
    # The badge also needs the program's first level (Explorer), recorded by the instructor or
    # sent by the LMS as a custom parameter.
    require_explorer: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[Platform] = relationship(back_populates="deployments")
