"""The OIDC login record (state → nonce, registration, target, browser binding), single use.

Redis when REDIS_URL is set (`GETDEL` is atomic across every worker and host), the database
otherwise (`DELETE … RETURNING`: the row lock makes a second consumer find nothing). pylti1p3 never
consumes the nonce, so a captured id_token + state would replay until `exp` (LTI.md).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.models import LoginState


class LoginStateStore(Protocol):
    def save(self, state: str, data: dict[str, Any], ttl: int) -> None: ...
    def peek(self, state: str) -> dict[str, Any] | None: ...
    def consume(self, state: str) -> dict[str, Any] | None: ...


class DatabaseLoginStates:
    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, state: str, data: dict[str, Any], ttl: int) -> None:
        self.session.execute(insert(LoginState).values(
            state=state, data=data, expires_at=utcnow() + timedelta(seconds=ttl)))

    def peek(self, state: str) -> dict[str, Any] | None:
        row = self.session.execute(
            select(LoginState.data).where(LoginState.state == state,
                                          LoginState.expires_at > utcnow())).first()
        return row[0] if row else None

    def consume(self, state: str) -> dict[str, Any] | None:
        row = self.session.execute(
            delete(LoginState).where(LoginState.state == state, LoginState.expires_at > utcnow())
            .returning(LoginState.data)).first()
        return row[0] if row else None


class RedisLoginStates:
    prefix = "lti:login:"

    def __init__(self, client: Any) -> None:
        self.client = client

    def save(self, state: str, data: dict[str, Any], ttl: int) -> None:
        self.client.set(self.prefix + state, json.dumps(data), ex=ttl)

    def peek(self, state: str) -> dict[str, Any] | None:
        raw = self.client.get(self.prefix + state)
        return json.loads(raw) if raw else None

    def consume(self, state: str) -> dict[str, Any] | None:
        raw = self.client.getdel(self.prefix + state)
        return json.loads(raw) if raw else None


def purge_expired(session: Session) -> int:
    """Housekeeping for the database store (the worker runs it); Redis expires keys itself."""
    result = session.execute(delete(LoginState).where(LoginState.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
