"""The OIDC login record (state → nonce, registration, target, browser binding), single use.

Redis when REDIS_URL is set (`GETDEL` is atomic across every worker and host), the database
otherwise (`DELETE … RETURNING`: the row lock makes a second consumer find nothing). pylti1p3 never
consumes the nonce, so a captured id_token + state would replay until `exp` (LTI.md).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.launch.hot_sql import HotSQL


class LoginStateStore(Protocol):
    def save(self, state: str, data: dict[str, Any], ttl: int) -> None: ...
    def peek(self, state: str) -> dict[str, Any] | None: ...
    def consume(self, state: str) -> dict[str, Any] | None: ...


PURGE_ONE_IN = 200


class DatabaseLoginStates:
    def __init__(self, session: Session) -> None:
        self.sql = HotSQL.of(session)

    def save(self, state: str, data: dict[str, Any], ttl: int) -> None:
        if secrets.randbelow(PURGE_ONE_IN) == 0:
            self.purge_expired()
        self.sql.run(
            "INSERT INTO login_state (state, data, expires_at) VALUES (:state, :data, :exp)",
            {
                "state": state,
                "data": self.sql.json(data),
                "exp": self.sql.at(utcnow() + timedelta(seconds=ttl)),
            },
        )

    def peek(self, state: str) -> dict[str, Any] | None:
        row = self.sql.one(
            "SELECT data FROM login_state WHERE state = :state AND expires_at > :now",
            {"state": state, "now": self.sql.now()},
        )
        return _decode(row[0]) if row else None

    def consume(self, state: str) -> dict[str, Any] | None:
        row = self.sql.one(
            "DELETE FROM login_state WHERE state = :state AND expires_at > :now RETURNING data",
            {"state": state, "now": self.sql.now()},
        )
        return _decode(row[0]) if row else None


    def purge_expired(self) -> None:
        """Logins never completed and launch data past its lifetime. Done now and then during a
        login (about one in PURGE_ONE_IN), so no separate housekeeping process is needed."""
        now = {"now": self.sql.now()}
        self.sql.run("DELETE FROM login_state WHERE expires_at <= :now", now)
        self.sql.run("DELETE FROM launch_record WHERE expires_at <= :now", now)


def _decode(value: Any) -> dict[str, Any]:
    # SQLite hands back the JSON text, psycopg the decoded object.
    return json.loads(value) if isinstance(value, str | bytes) else value  # type: ignore[no-any-return]


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
