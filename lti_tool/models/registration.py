"""Platform registrations: one row per (issuer, client_id), several deployments each.

Canvas uses one issuer for every customer, so a registration is found by (issuer, client_id)
(LTI.md, checklist item 2); Moodle's deployment_id is its tool type id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, utcnow


class Platform(Base):
    __tablename__ = "platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", lazy="selectin"
    )


class Deployment(Base):
    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    # The school board / organisation this deployment belongs to (badges: territory lookup).
    organisation_code: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[Platform] = relationship(back_populates="deployments")
