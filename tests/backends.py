"""Which database and Redis a test run uses.

`make test` runs the suite twice: on SQLite (the embedded default) and with
LTI_TEST_BACKEND=postgres on PostgreSQL + Redis. Under CI=true a missing service is a failure,
never a skip (DEVELOPERS.md).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

PG_ADMIN_URL = os.environ.get(
    "LTI_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("LTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def backend() -> str:
    return os.environ.get("LTI_TEST_BACKEND", "sqlite")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A throw-away database on the local server; dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = "lti_test_" + secrets.token_hex(4)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                )
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def redis_client():  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # raises when Redis is down: the test fails, it does not skip
    return client
