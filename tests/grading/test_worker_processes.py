"""`lti-tool worker` processes against the live demo LMS: killed with SIGKILL in the middle of a
delivery, then restarted (nothing lost, nothing stored twice); two workers draining one backlog
(no row delivered twice). The demo LMS answers score posts 20-100 ms after storing them, like a
distant LMS, so a kill lands between "stored" and "answer received"."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.grading.delivery_support import (
    SlowLive,
    add_link,
    add_score,
    launch_both,
    make_line_item,
    received,
    rows,
    scores,
    slow_live,
    start,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slow(database_url: str, redis_url: str | None, keys_dir: Path, tmp_path: Path,
         request: pytest.FixtureRequest) -> Iterator[SlowLive]:
    with slow_live(database_url, redis_url, keys_dir, tmp_path, delay=request.param) as live:
        yield live


def _backlog(live: SlowLive, count: int) -> None:
    ids = launch_both(live)
    t0 = start()
    for i in range(count):
        link = add_link(live, f"activity-{i}", make_line_item(live, f"Activité {i}"))
        add_score(live.app, ids.learner, link, at=t0, given=float(i))


def _worker(live: SlowLive, log: Path, *args: str) -> subprocess.Popen[bytes]:
    settings = make_settings(live.database_url, live.redis_url, live.keys_dir, live.instance_dir)
    env = {
        **os.environ,
        "LTI_TOOL_ENV": "test",
        "SECRET_KEY": settings.secret_key,
        "DATABASE_URL": live.database_url,
        "LTI_TOOL_KEYS_DIR": str(live.keys_dir),
        "LTI_TOOL_INSTANCE_DIR": str(live.instance_dir),
        "LTI_TOOL_BASE_URL": live.tool_url,
        "LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS": "any",  # the demo LMS listens on loopback
        "LTI_TOOL_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    if live.redis_url:
        env["REDIS_URL"] = live.redis_url
    with log.open("wb") as stderr:  # the child keeps its own descriptor
        return subprocess.Popen(  # noqa: S603 (our own command)
            [sys.executable, "-m", "lti_tool.cli", "worker", "--poll", "0.2", *args],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def _wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _stop(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM, then the number of deliveries the worker says it handled."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, log.read_text()
    match = re.search(r"worker stopped: (\d+) deliveries handled", log.read_text())
    assert match, log.read_text()
    return int(match.group(1))


def _pending(live: SlowLive) -> int:
    return sum(1 for r in rows(live.app) if r.status == "pending")


@pytest.mark.parametrize("slow", [0.1], indirect=True)
def test_a_killed_worker_loses_nothing_and_duplicates_nothing(slow: SlowLive, tmp_path: Path) -> None:
    total = 40
    _backlog(slow, total)
    first = _worker(slow, tmp_path / "first.log", "--batch", "5", "--lease", "5")
    try:
        # Kill while the LMS has stored a score and the worker waits for the answer.
        _wait(lambda: len(received(slow)) >= 8 and slow.scores_endpoint.answering > 0)
        first.kill()
    finally:
        first.kill()
        first.wait(timeout=10)
    stored_before = len(received(slow))
    assert stored_before < total
    leased = [r for r in rows(slow.app) if r.status == "pending" and r.lease_token is not None]
    assert leased, "the kill should have left leased rows"

    second = _worker(slow, tmp_path / "second.log", "--batch", "5", "--lease", "5")
    try:
        _wait(lambda: _pending(slow) == 0)
    finally:
        handled = _stop(second, tmp_path / "second.log")
    assert handled >= total - stored_before

    got = received(slow)
    assert len(got) == total  # nothing lost …
    assert len({s["line_item_id"] for s in got}) == total  # … nothing stored twice
    assert {r.status for r in rows(slow.app)} == {"sent"}
    # The score stored by the LMS but never acknowledged was sent again and answered 409.
    resent = [r for r in rows(slow.app) if r.last_status == 409]
    assert resent
    by_id = {s.id: s for s in scores(slow.app)}
    assert {by_id[r.ref_id].delivery for r in resent} == {"superseded"}


@pytest.mark.parametrize("slow", [0.02], indirect=True)
def test_two_workers_share_a_backlog_and_deliver_each_row_once(slow: SlowLive, tmp_path: Path) -> None:
    total = 120
    _backlog(slow, total)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    workers = [_worker(slow, log, "--batch", "5") for log in logs]
    try:
        _wait(lambda: _pending(slow) == 0)
    finally:
        handled = [_stop(w, log) for w, log in zip(workers, logs, strict=True)]
    assert sum(handled) == total and min(handled) > 0, handled  # both worked, each row once

    got = received(slow)
    assert len(got) == total
    assert len({s["line_item_id"] for s in got}) == total
    outbox = rows(slow.app)
    # One attempt each, answered 200: no row was posted twice (a second post would get 409).
    assert {(r.status, r.attempts, r.last_status) for r in outbox} == {("sent", 1, 200)}
