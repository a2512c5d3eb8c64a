"""The request path's database connections (lti_tool/db.py, issue 11): no ping when a connection
leaves the pool, a connection the server dropped recovered by running the request again once, and
views marked `@read_only` served without a transaction (no BEGIN, no COMMIT) and unable to write.

The dead-connection tests kill the app's PostgreSQL backends with `pg_terminate_backend`, as a
server restart or an administrator would; SQLite has no server connection to lose.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, insert, select, text

from lti_tool import create_app, db
from lti_tool.models import AttemptEvent, Platform
from tests import backends
from tests.cases.player_support import Player
from tests.conftest import _truncate, make_settings
from tests.support.minted import minted_platform


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """PostgreSQL in both passes of the suite (SQLite has no server connection to lose): a
    throw-away database, migrated once for this module."""
    from lti_tool.cli import upgrade_database

    with backends.fresh_postgres_database() as url:
        upgrade_database(url)
        yield url


@pytest.fixture
def pg_app(pg_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(make_settings(pg_url, None, keys_dir, tmp_path))
    yield app
    _truncate(app)
    app.extensions["db_engine"].dispose()


@pytest.fixture
def pg_client(pg_app: Flask) -> Any:
    client = pg_app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_HOST"] = "tool.test"
    return client


def kill_app_connections(app: Flask) -> int:
    """Terminates every server connection to the app's database, and waits until they are gone
    (pg_terminate_backend only signals the backend)."""
    name = app.extensions["db_engine"].url.database
    admin = create_engine(backends.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # In the select list, so it runs for the filtered rows only (in WHERE, the planner
            # could call it on other databases' backends).
            killed = len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name}).all())
            for _ in range(100):
                left = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name}).scalar_one()
                if left == 0:
                    break
                time.sleep(0.05)
            assert left == 0, "backends still alive"
    finally:
        admin.dispose()
    return int(killed)


def events(app: Flask) -> int:
    with app.extensions["db_engine"].connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AttemptEvent)).scalar_one())


def test_a_step_after_the_server_dropped_the_connections_goes_through(
        pg_app: Any, pg_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    app, client = pg_app, pg_client
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    choice = player.page.choices()[0]
    assert kill_app_connections(app) >= 1  # the pool's idle connections are now dead

    page = player.choose(choice)

    assert page.status == 200 and page.tree.find("h1")  # the consequence screen
    assert events(app) == 1, "the step is stored once"
    # It went through the retry: without a ping, the dead connection was met and replaced.
    assert "database connection lost during POST /attempts/" in caplog.text


def test_a_launch_after_the_server_dropped_the_connections_goes_through(
        pg_app: Any, pg_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The launch is answered by the hot path (launch/hot_path.py), outside Flask's dispatch: it
    recovers the same way, and the learner gets their page."""
    app, client = pg_app, pg_client
    with minted_platform(app) as platform:
        Player.launch(client, platform)
        kill_app_connections(app)
        player = Player.launch(client, platform)

    assert player.page.status == 200 and player.page.tree.find(**{"data-testid": "level-state"})
    assert "database connection lost during POST /lti/launch" in caplog.text


def test_a_page_after_the_server_dropped_the_connections_is_shown(
        pg_app: Any, pg_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    app, client = pg_app, pg_client
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    url = player.page.response.request.url
    kill_app_connections(app)

    page = player.get(url)  # the first statement is page_token's raw driver cursor

    assert page.status == 200 and page.choices()
    assert "database connection lost during GET /attempts/" in caplog.text


def test_a_request_is_run_again_once_only(pg_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    app = pg_app
    runs: list[int] = []

    def loses_its_connection() -> str:
        runs.append(1)
        db.get_session().execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return "unreachable"

    app.add_url_rule("/test/loses-connection", view_func=loses_its_connection)
    response = app.test_client().get("/test/loses-connection")

    assert len(runs) == 2, "one run, then one retry, and no more"
    assert response.status_code == 500
    assert app.test_client().get("/healthz").status_code == 200  # the pool recovered


def test_a_read_only_view_runs_without_a_transaction_and_cannot_write(app: Flask) -> None:
    @db.read_only
    def reads() -> str:
        conn = db.get_session().connection()
        count = conn.execute(select(func.count()).select_from(Platform)).scalar_one()
        return f"{count} {in_transaction(conn.connection.dbapi_connection)}"

    @db.read_only
    def writes() -> str:
        db.get_session().execute(insert(Platform).values(
            issuer="https://x.test", client_id="c", auth_url="https://x.test/a",
            token_url="https://x.test/t", jwks_url="https://x.test/k"))
        return "written"

    def writes_in_a_transaction() -> str:
        session = db.get_session()
        session.execute(insert(Platform).values(
            issuer="https://y.test", client_id="c", auth_url="https://y.test/a",
            token_url="https://y.test/t", jwks_url="https://y.test/k"))
        return str(in_transaction(session.connection().connection.dbapi_connection))

    app.add_url_rule("/test/reads", view_func=reads)
    app.add_url_rule("/test/writes", view_func=writes)
    app.add_url_rule("/test/writes-in-a-transaction", view_func=writes_in_a_transaction,
                     methods=["POST"])
    client = app.test_client()

    assert client.get("/test/reads").get_data(as_text=True) == "0 False"  # no BEGIN was sent
    assert client.get("/test/writes").status_code == 500  # refused before the database
    # The next request on the same pooled connection is in a transaction again, and commits.
    assert client.post("/test/writes-in-a-transaction").get_data(as_text=True) == "True"
    with app.extensions["db_engine"].connect() as conn:
        issuers = conn.execute(select(Platform.issuer)).scalars().all()
    assert issuers == ["https://y.test"]


def in_transaction(driver_connection: Any) -> bool:
    if backends.backend() == "postgres":
        from psycopg.pq import TransactionStatus

        return bool(driver_connection.info.transaction_status != TransactionStatus.IDLE)
    return bool(driver_connection.in_transaction)  # sqlite3
