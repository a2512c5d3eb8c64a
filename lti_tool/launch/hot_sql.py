"""Hand-written SQL for the launch hot path, run on the request's own DBAPI connection.

Building a SQLAlchemy statement and its cache key costs 0.3–1 ms per upsert in this code path
(profiled: `coercions.expect`, `_generate_cache_key`), more than the database work itself. The
few statements a launch runs are therefore written once here, in the SQL both SQLite (≥ 3.35)
and PostgreSQL accept (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`, `DELETE … RETURNING`),
and executed on the connection of the request's Session, so they commit with everything else.
The tables and their types are the ORM models'; `tests/launch/test_hot_sql.py` checks that rows
written here read back identically through the ORM on both engines.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class HotSQL:
    """Executes named-parameter SQL (`:name`) on the session's DBAPI connection."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.postgres = connection.dialect.name == "postgresql"
        self._cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]

    @classmethod
    def of(cls, session: Session) -> HotSQL:
        """One per request Session (its connection lives as long as the transaction)."""
        hot = session.info.get("hot_sql")
        if hot is None:
            hot = session.info["hot_sql"] = cls(session)
        return hot  # type: ignore[no-any-return]

    def sql(self, text: str) -> str:
        if self.postgres:
            return _convert_pg(text)
        return text

    def json(self, value: Any) -> Any:
        if self.postgres:
            from psycopg.types.json import Json

            return Json(value)
        return json.dumps(value, separators=(",", ":"))

    def now(self) -> Any:
        now = datetime.now(UTC)
        # SQLAlchemy's SQLite DateTime stores naive ISO text; PostgreSQL takes the aware value.
        return now if self.postgres else now.replace(tzinfo=None).isoformat(" ", "microseconds")

    def at(self, moment: datetime) -> Any:
        return (
            moment
            if self.postgres
            else moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        )

    def one(self, text: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        self._cursor.execute(self.sql(text), params)
        return self._cursor.fetchone()  # type: ignore[no-any-return]

    def run(self, text: str, params: dict[str, Any]) -> None:
        self._cursor.execute(self.sql(text), params)

    def rowcount(self) -> int:
        """Rows the last statement inserted, updated or deleted."""
        return int(self._cursor.rowcount)

    def all(self) -> list[tuple[Any, ...]]:
        return list(self._cursor.fetchall())


_pg_cache: dict[str, str] = {}


def _convert_pg(text: str) -> str:
    converted = _pg_cache.get(text)
    if converted is None:
        converted = _NAMED.sub(r"%(\1)s", text.replace("%", "%%"))
        _pg_cache[text] = converted
    return converted
