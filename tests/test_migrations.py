"""The migrations build exactly the models' schema, on the run's database (SQLite or PostgreSQL),
and on SQLite every integer-keyed table keeps AUTOINCREMENT through every later table rebuild
(SQLite reuses a deleted row's id otherwise: a page token naming it would reach someone else's data).
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Integer, create_engine, text

import lti_tool.models  # noqa: F401  (registers every table)
from lti_tool.db import Base, make_engine


def test_migrated_schema_equals_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def _integer_keyed() -> list[str]:
    return sorted(t.name for t in Base.metadata.sorted_tables
                  if len(t.primary_key.columns) == 1
                  and isinstance(next(iter(t.primary_key.columns)).type, Integer))


def test_every_integer_keyed_table_never_reuses_ids_on_sqlite(tmp_path: Any) -> None:
    from lti_tool.cli import upgrade_database

    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade_database(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            sql = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
    finally:
        engine.dispose()
    tables = _integer_keyed()
    assert len(tables) >= 15
    missing = [name for name in tables if "AUTOINCREMENT" not in sql[name].upper()]
    assert missing == []
