"""The outbox worker: `lti-tool worker [--once]`, and the drainer thread that `lti-tool run` and
`lti-tool demo` start in-process (single-process mode).

The loop claims due rows in batches (`outbox.ScoreDelivery`) until none is due, then waits for
work: woken at once after a commit that wrote outbox rows — in-process by a session hook, across
processes on PostgreSQL by `LISTEN lti_outbox` (the enqueue's `NOTIFY` arrives at commit) — and
every `poll` seconds anyway (rows backing off become due by the clock alone). SIGTERM lets the
current row finish, records it, and gives the rest of the batch back; a `kill -9` leaves leases
that expire, after which any worker takes the rows over.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from lti_tool.db import utcnow
from lti_tool.grading import ags
from lti_tool.grading.outbox import NOTIFY_CHANNEL, Backoff, ScoreDelivery
from lti_tool.models import OutboxMessage
from lti_tool.privacy import RetentionSchedule

log = logging.getLogger(__name__)

OUTBOX_TABLE = OutboxMessage.__table__
_WRITTEN = "lti_outbox_written"


class Drainer:
    def __init__(self, app: Flask, *, batch: int = 20, lease: float = 60.0, poll: float = 2.0,
                 backoff: Backoff | None = None, listen: bool = False, concurrency: int = 1) -> None:
        self.app = app
        self.batch = batch
        self.poll = poll
        self.listen = listen
        self.stop = threading.Event()
        self.wake = threading.Event()
        settings = app.extensions["settings"]
        self.executor = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="outbox-post",
            initializer=lambda: app.app_context().push()) if concurrency > 1 else None
        self.delivery = ScoreDelivery(
            app.extensions["db_sessionmaker"],
            client=ags.AgsClient(),
            backoff=backoff or Backoff(),
            lease=lease,
            # One row may take two calls (a 401, then the retry) of the outbound deadline each.
            row_budget=min(lease / 2, 2 * float(settings.outbound_deadline) + 5),
            executor=self.executor,
        )
        self.delivered = 0
        self._listener: Any = None
        # The "badge.award" topic (badges/delivery.py) shares this loop, one row at a time.
        from lti_tool.badges.delivery import from_app as badge_delivery

        self.badges = badge_delivery(app, backoff=backoff, lease=max(lease, 60.0))
        # Law 25: reflections of long-inactive learners are deleted (privacy.py), hourly at most.
        self.retention = RetentionSchedule()

    # -- draining ----------------------------------------------------------------------------
    def drain(self, *, once: bool = False) -> int:
        """Deliver until stopped; with `once`, what is due now, then return. Rows handled."""
        due: datetime | None = utcnow() if once else None
        handled = 0
        with self.app.app_context():
            while not self.stop.is_set():
                try:
                    result = self.delivery.run_batch(self.batch, due=due,
                                                     should_stop=self.stop.is_set)
                    badges = self.badges.run_batch(self.batch, due=due, should_stop=self.stop.is_set)
                except Exception:
                    if once:
                        raise
                    log.exception("outbox batch failed; trying again in %.1f s", self.poll)
                    self.stop.wait(self.poll)
                    continue
                handled += sum(result.outcomes.values()) + sum(badges.outcomes.values())
                self.delivered += result.outcomes.get("Delivered", 0)
                if result.claimed == 0 and badges.claimed == 0:
                    self.retention.run_if_due(self.app)
                    if once:
                        break
                    self._wait()
        self._close_listener()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        return handled

    def _wait(self) -> None:
        listener = self._listen()
        if listener is not None:
            try:
                for _ in listener.notifies(timeout=self.poll, stop_after=1):
                    pass
            except Exception:  # the connection dropped: poll, and listen again next time
                log.warning("outbox LISTEN connection lost; polling", exc_info=True)
                self._close_listener()
                self.stop.wait(self.poll)
            return
        self.wake.wait(self.poll)
        self.wake.clear()

    def _listen(self) -> Any:
        """A dedicated autocommit connection LISTENing on PostgreSQL (None elsewhere)."""
        if not self.listen or self._listener is not None:
            return self._listener
        engine = self.app.extensions["db_engine"]
        if engine.dialect.name != "postgresql":
            self.listen = False
            return None
        import psycopg

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = psycopg.connect(url, autocommit=True)
        self._listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None

    # -- in-process mode -------------------------------------------------------------------
    def start_thread(self) -> threading.Thread:
        install_wakeup(self.app, self.wake)
        thread = threading.Thread(target=self.drain, name="outbox-drainer", daemon=True)
        thread.start()
        return thread

    def stop_on_signals(self) -> None:
        """SIGTERM/SIGINT: finish the current row, give the rest back, exit."""
        def _stop(signum: int, _frame: Any) -> None:
            log.info("worker stopping (signal %s)", signum)
            self.stop.set()
            self.wake.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)


def install_wakeup(app: Flask, wake: threading.Event) -> None:
    """Set `wake` after each commit of the app's sessions that wrote an outbox row (an ORM object
    or a Core INSERT/UPDATE of the table, such as `outbox.enqueue`'s upsert)."""
    maker = app.extensions["db_sessionmaker"]

    @event.listens_for(maker, "do_orm_execute")
    def _statement(state: ORMExecuteState) -> None:
        if (state.is_insert or state.is_update) and getattr(state.statement, "table", None) is OUTBOX_TABLE:
            state.session.info[_WRITTEN] = True

    @event.listens_for(maker, "after_flush")
    def _flush(session: Session, _ctx: UOWTransaction) -> None:
        if any(isinstance(o, OutboxMessage) for o in (*session.new, *session.dirty)):
            session.info[_WRITTEN] = True

    @event.listens_for(maker, "after_commit")
    def _commit(session: Session) -> None:
        if session.info.pop(_WRITTEN, False):
            wake.set()

    @event.listens_for(maker, "after_rollback")
    def _rollback(session: Session) -> None:
        session.info.pop(_WRITTEN, None)


def start_in_process(app: Flask) -> Drainer:
    """Single-process mode (`lti-tool run`, `lti-tool demo`): the server delivers its own scores."""
    drainer = Drainer(app, poll=2.0, concurrency=4)
    drainer.start_thread()
    return drainer
