"""The nonce is single-use across workers: two app instances (two gunicorn workers, or two hosts)
share Redis; a launch completed on one is refused when replayed on the other. Also with the
database store (no REDIS_URL), two instances sharing the database."""

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
            cookie = browser.get_cookie("lti1p3_state_" + auth["state"], path="/lti/")
            assert cookie is not None
            if redis_url:
                assert backends.redis_client().exists("lti:login:" + auth["state"])
            # The launch lands on worker B: the login record is shared.
            on_b = _client(worker_b)
            on_b.set_cookie(cookie.key, cookie.value, path="/lti/")
            first = on_b.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
            assert first.status_code == 303
            # Replayed on worker A with the same cookie, token and state: refused.
            again = _client(worker_a)
            again.set_cookie(cookie.key, cookie.value, path="/lti/")
            replay = again.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
            assert replay.status_code == 400
            assert 'data-error-code="unknown_state"' in replay.get_data(as_text=True)
    finally:
        _truncate(worker_a)
        if redis_url:
            backends.redis_client().flushdb()
        for app in (worker_a, worker_b):
            app.extensions["db_engine"].dispose()


def test_concurrent_consumers_get_the_record_once(
    database_url: str, keys_dir: Any, tmp_path: Any
) -> None:
    """Many threads racing to consume one Redis login record: exactly one wins."""
    import threading

    from lti_tool.launch.login_state import RedisLoginStates

    client = backends.redis_client()
    store = RedisLoginStates(client)
    store.save("race-state", {"nonce": "n"}, 60)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.consume("race-state")))
        for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
