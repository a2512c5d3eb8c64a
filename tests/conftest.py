"""Fixtures shared by the whole suite: a tool app on a real database (SQLite or PostgreSQL,
migrated with Alembic), Redis when the run uses it, and the tool's keys."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from lti_tool import create_app
from lti_tool.config import load_settings
from lti_tool.db import Base
from lti_tool.keys import KeyStore
from tests import backends

TOOL_URL = "https://tool.test"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from lti_tool.cli import upgrade_database

    if backends.backend() == "postgres":
        with backends.fresh_postgres_database() as url:
            upgrade_database(url)
            yield url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'tool.db'}"
        upgrade_database(url)
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    if backends.backend() == "postgres":
        backends.redis_client().flushdb()
        return backends.REDIS_URL
    return None


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys")
    KeyStore(path).generate()
    return path


def make_settings(database_url: str, redis_url: str | None, keys_dir: Path, tmp: Path, **extra):  # type: ignore[no-untyped-def]
    values = {
        "secret_key": "test-secret-" + "x" * 32,
        "database_url": database_url,
        "redis_url": redis_url,
        "keys_dir": keys_dir,
        "base_url": TOOL_URL,
        "instance_dir": tmp,
        "outbound_private_networks": ("any",),  # the platforms of the tests run on loopback
        **extra,
    }
    return load_settings({"LTI_TOOL_ENV": "test"}, **values)


@pytest.fixture
def settings(database_url: str, redis_url: str | None, keys_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(database_url, redis_url, keys_dir, tmp_path)


@pytest.fixture
def app(settings):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    yield app
    _truncate(app)
    if settings.redis_url:
        backends.redis_client().flushdb()
    app.extensions["db_engine"].dispose()


def _truncate(app) -> None:  # type: ignore[no-untyped-def]
    engine = app.extensions["db_engine"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    # The tool's URL is https (its cookies are Secure, SameSite=None; Partitioned).
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_HOST"] = "tool.test"
    return client


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lti_tool")
