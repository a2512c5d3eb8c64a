"""Launch state kept server-side.

`LoginState` holds the nonces of OIDC logins already used by a launch (key `nonce:<nonce>`, kept
until the signed state expires; the insert that finds one there is a replay, refused). The login
state itself is stateless (launch/login_state.py); with REDIS_URL the used nonces live in Redis.
`LaunchRecord` keeps the validated claims server-side rather than in the Flask cookie session,
which pylti1p3 would grow past the 4 KB browser limit (LTI.md, library defects).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import Base, utcnow


class LoginState(Base):
    __tablename__ = "login_state"
    __table_args__ = (Index("ix_login_state_expires_at", "expires_at"),)

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict[str, Any]]
    expires_at: Mapped[datetime]


class LaunchRecord(Base):
    __tablename__ = "launch_record"
    __table_args__ = (Index("ix_launch_record_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    resource_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("resource_link.id", ondelete="CASCADE"), default=None
    )
    message_type: Mapped[str] = mapped_column(String(64))
    claims: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # Set once, atomically, when a deep-linking request is answered (the picker's one response).
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
