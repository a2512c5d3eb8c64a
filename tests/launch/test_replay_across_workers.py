"""The nonce is single-use across workers: two app instances (two gunicorn workers, or two hosts)
share Redis; a launch completed on one is refused when replayed on the other. Also with the
database ledger (no REDIS_URL), two instances sharing the database. The login state itself is
stateless (signed), so any worker can serve the launch of a login served by another."""

from __future__ import annotations

from typing import Any

import pytest

from lti_tool import create_app
from tests import backends
from tests.conftest import _truncate, make_settings
from tests.support.minted import minted_platform


def _client(app: Any) -> Any:
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "tool.test"})
    return client


@pytest.mark.parametrize("store", ["redis", "database"])
def test_replay_on_another_worker_is_refused(
    database_url: str, keys_dir: Any, tmp_path: Any, store: str
) -> None:
    redis_url = backends.REDIS_URL if store == "redis" else None
    if redis_url:
        backends.redis_client().flushdb()
    worker_a = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path))
    worker_b = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path))
    try:
        with minted_platform(worker_a) as platform:
            browser = _client(worker_a)
            auth = platform.login(browser)  # login served by worker A
            token = platform.sign(platform.claims(auth))
            cookie = browser.get_cookie("lti1p3_state_" + auth["nonce"], path="/lti/")
            assert cookie is not None
            # The launch lands on worker B: it needs nothing worker A stored.
            on_b = _client(worker_b)
            on_b.set_cookie(cookie.key, cookie.value, path="/lti/")
            first = on_b.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
            assert first.status_code in (200, 303)
            # Replayed on worker A with the same cookie, token and state: refused.
            again = _client(worker_a)
            again.set_cookie(cookie.key, cookie.value, path="/lti/")
            replay = again.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
            assert replay.status_code == 400
            assert 'data-error-code="nonce_used"' in replay.get_data(as_text=True)
            if redis_url:
                assert backends.redis_client().exists("lti:nonce:" + auth["nonce"])
    finally:
        _truncate(worker_a)
        if redis_url:
            backends.redis_client().flushdb()
        for app in (worker_a, worker_b):
            app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("store", ["redis", "database"])
def test_concurrent_consumers_get_the_nonce_once(
    database_url: str, keys_dir: Any, tmp_path: Any, store: str
) -> None:
    """Two processes racing to consume one nonce, many times over: exactly one wins each time."""
    import multiprocessing
    import time

    redis_url = backends.REDIS_URL if store == "redis" else None
    if redis_url:
        backends.redis_client().flushdb()
    app = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path))
    nonces = [f"race-{i}" for i in range(20)]
    try:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(2) as pool:
            args = [(database_url, redis_url, str(keys_dir), str(tmp_path), nonces, int(time.time()) + 60)]
            results = pool.starmap(_consume_all, args * 2)
        for i in range(len(nonces)):
            assert results[0][i] + results[1][i] == 1, (i, results)
    finally:
        _truncate(app)
        app.extensions["db_engine"].dispose()
        if redis_url:
            backends.redis_client().flushdb()


def _consume_all(database_url: str, redis_url: str | None, keys_dir: str, tmp_path: str,
                 nonces: list[str], expires_at: int) -> list[int]:
    """In another process: consume each nonce in its own transaction, as a launch does."""
    from pathlib import Path

    from lti_tool.db import get_session
    from lti_tool.launch.wiring import nonces as ledger

    app = create_app(make_settings(database_url, redis_url, Path(keys_dir), Path(tmp_path)))
    won = []
    for nonce in nonces:
        with app.test_request_context():
            won.append(int(ledger().consume(nonce, expires_at)))
            get_session().commit()
    app.extensions["db_engine"].dispose()
    return won
