"""The SQL an engine sends through SQLAlchemy while a block runs (raw driver cursors aside: the
page token's check and the launch's hot SQL do not pass through SQLAlchemy's events)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def recorded(engine: Any) -> Iterator[list[str]]:
    """Each statement, its whitespace collapsed, in the order sent."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(str(statement).split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
