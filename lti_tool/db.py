"""Database: declarative Base with a naming convention, engine and session per app.

Services flush but never commit; the request commits once in `after_request` (so a failing commit
becomes an error page rather than a half-sent success), and rolls back on error.

Round trips are what a request waits for on PostgreSQL (issue 11), so the request path spends none
it does not need:
- no ping when a connection leaves the pool: a connection the server dropped is found when it is
  used, and the view runs again once on a fresh connection (`_dispatch_retrying_once`);
- a view marked `@read_only` runs without a transaction: no BEGIN, no COMMIT.
The naming convention keeps constraint names identical on SQLite and PostgreSQL, which makes
Alembic migrations stable (https://alembic.sqlalchemy.org/en/latest/naming.html).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLite reuses the largest rowid after a delete; a token or log line naming a deleted row would
# then point at someone else's (https://www.sqlite.org/autoinc.html). PostgreSQL sequences never
# go back. Every table with an integer primary key carries this in its __table_args__.
NO_ID_REUSE: dict[str, Any] = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the one writer; NORMAL sync is safe with WAL.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # No pool_pre_ping: it is one more round trip on every checkout (one of a case step's seven).
    # A dropped connection is rare (a server restart, a proxy's idle timeout); a request that meets
    # one runs again on a fresh connection (`_dispatch_retrying_once`), and the workers' loops
    # retry their batch.
    return create_engine(url, pool_size=5, max_overflow=10)


log = logging.getLogger("lti_tool.db")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class WriteInReadOnlyRequest(RuntimeError):
    """A view marked `@read_only` tried to write: a bug (without a transaction, its writes would
    not be atomic), refused before anything reaches the database."""


def read_only(view: F) -> F:
    """Marks a view that only reads the database. Its request runs on a connection in autocommit
    mode, so PostgreSQL sees no BEGIN and no COMMIT: two round trips fewer. Each statement then
    reads what was committed when it started, which is what the default READ COMMITTED isolation
    gives inside a transaction too. A write through the session is refused
    (`WriteInReadOnlyRequest`); a raw driver cursor is not checked, so such a view must not write
    through one either."""
    view.db_read_only = True  # type: ignore[attr-defined]
    return view


def _request_is_read_only() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "db_read_only", False)


def _refuse_writes(maker: sessionmaker[Session]) -> None:
    @event.listens_for(maker, "do_orm_execute")
    def _statement(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            raise WriteInReadOnlyRequest(f"{request.endpoint}: {state.statement}")

    @event.listens_for(maker, "before_flush")
    def _flush(session: Session, _ctx: Any, _instances: Any) -> None:
        if session.new or session.dirty or session.deleted:
            raise WriteInReadOnlyRequest(f"{request.endpoint}: flush of changed objects")


def init_app(app: Flask, url: str) -> None:
    engine = make_engine(url)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    # The same pool; on PostgreSQL the connection is put in autocommit mode while the request
    # holds it (a client-side switch in psycopg, no round trip) and reset when it goes back. On
    # SQLite (in-process, no round trip to save) the switch costs more than it saves (measured
    # +0.2 ms a page): there the read-only session keeps the default mode and only refuses writes.
    read_bind = (engine if engine.dialect.name == "sqlite"
                 else engine.execution_options(isolation_level="AUTOCOMMIT"))
    read_maker = sessionmaker(bind=read_bind, expire_on_commit=False)
    _refuse_writes(read_maker)
    app.extensions["db_read_sessionmaker"] = read_maker
    app.dispatch_request = _dispatch_retrying_once(app.dispatch_request)  # type: ignore[method-assign]

    @app.after_request
    def _commit(response: Any) -> Any:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        return response

    @app.teardown_request
    @app.teardown_appcontext  # CLI commands and workers: an app context with no request
    def _close(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()  # whatever was not committed explicitly is not kept
            session.close()


def core_execute(session: Session, statement: Any, params: dict[str, Any]) -> Any:
    """A prebuilt Core SELECT on the session's connection and transaction, without the ORM's
    execution layer (issue 11: ~35 µs against ~100 µs for the level home's context reads).
    Pending ORM changes are flushed first, as `session.execute` would (autoflush)."""
    flush_pending(session)
    return session.connection().execute(statement, params)


def flush_pending(session: Session) -> None:
    """What the ORM's autoflush does before a query: for reads that bypass it (`core_execute`,
    statements run on the driver's own connection), so they see this transaction's changes."""
    if session.new or session.dirty or session.deleted:
        session.flush()


def get_session() -> Session:
    """The request's session (one per request, committed once by the app; without a transaction
    for a `@read_only` view)."""
    if "db_session" not in g:
        read = has_request_context() and _request_is_read_only()
        g.db_session = current_app.extensions["db_read_sessionmaker" if read else "db_sessionmaker"]()
    return g.db_session  # type: ignore[no-any-return]


def _dispatch_retrying_once(dispatch: Callable[[], Any]) -> Callable[[], Any]:
    """Runs the view; if the database connection turns out to be dead, runs it once more.

    Safe because nothing is committed before the view returns (`after_request` commits): the server
    rolled back whatever the first run wrote when it lost the connection. A server restart or an
    idle timeout kills every pooled connection alike, so the pool is emptied, not just this one.
    """

    def dispatch_request() -> Any:
        return run_retrying_once(dispatch, lambda: f"{request.method} {request.path}")

    return dispatch_request


def run_retrying_once(run: Callable[[], T], what: Callable[[], str]) -> T:
    """`run()`, and once more on a fresh connection if the database connection turned out to be
    dead (see `_dispatch_retrying_once`; also used by the launch's hot path, launch/hot_path.py).
    Needs an app context: the session is the context's (`get_session`)."""
    try:
        return run()
    except Exception as exc:
        session: Session | None = g.get("db_session")
        if session is None or not _connection_lost(session, exc):
            raise
        log.warning("database connection lost during %s; running the request again: %s",
                    what(), exc)
        g.pop("db_session", None)
        if session.in_transaction():
            session.connection().invalidate()  # never back into the pool
        session.close()
        get_engine().dispose()
        return run()


def _connection_lost(session: Session, exc: Exception) -> bool:
    if isinstance(exc, DBAPIError):  # through SQLAlchemy, which has classified it already
        return bool(exc.connection_invalidated)
    # The hot paths' raw driver cursors (page_token.check_live, launch/hot_sql.py) raise the
    # driver's own error: ask the dialect about the session's connection.
    dialect = get_engine().dialect
    if not session.in_transaction() or not isinstance(exc, dialect.loaded_dbapi.Error):
        return False
    driver = session.connection().connection.dbapi_connection
    return bool(dialect.is_disconnect(exc, driver, None))


def get_engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions["db_engine"]  # type: ignore[no-any-return]


def upsert(
    session: Session,
    model: Any,
    values: dict[str, Any],
    keys: tuple[str, ...],
    update: tuple[str, ...],
) -> int:
    """INSERT … ON CONFLICT (keys) DO UPDATE … RETURNING id, on SQLite and PostgreSQL alike.

    One statement instead of SELECT-then-INSERT, so two concurrent launches of the same learner
    never race into a unique-constraint error.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
    stmt = stmt.values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}
    ).returning(model.id)
    return int(session.execute(stmt).scalar_one())
