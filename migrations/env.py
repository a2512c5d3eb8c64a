"""Alembic environment: the URL comes from the caller (`lti-tool db upgrade`) or DATABASE_URL."""

from __future__ import annotations

from alembic import context

import lti_tool.models  # noqa: F401  (registers every table on Base.metadata)
from lti_tool.config import load_settings
from lti_tool.db import Base, make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Rebuilding a table drops it; with foreign keys on, SQLite would first delete the
            # rows of every child table declared ON DELETE CASCADE. Off for the migration (before
            # any transaction opens: the pragma is a no-op inside one), checked afterwards.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # end the autobegun transaction: alembic must own its own
        # render_as_batch: SQLite can only ALTER tables by copying them.
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
