"""Platform JWKS fetches (issue 6, finding 4): locked per platform, so a slow `jwks_uri` of tenant A
never delays tenant B's launch; one download per platform however many launches wait for it; the
download goes through the guarded outbound path with the app's policy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lti_tool import create_app
from lti_tool.launch.platform_keys import KeySetUnavailable, PlatformKeyCache, UnknownKey
from tests.conftest import make_settings
from tests.support.minted import JwksServer, MintedPlatform, platform_key, public_jwk


class GatedJwks(JwksServer):
    """A JWKS server that holds every /jwks request until `release` is set (a slow platform)."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.status = status

    def _app(self, environ: Any, start_response: Any) -> Any:
        self.arrived.set()
        self.release.wait(10)
        if self.status != 200:
            self.hits += 1
            start_response(f"{self.status} Error", [("Content-Type", "text/plain")])
            return [b"down"]
        return super()._app(environ, start_response)


@contextmanager
def jwks_server(server: JwksServer, kid: str = "k1") -> Iterator[JwksServer]:
    server.keys.append(public_jwk(platform_key(), kid))
    with server:
        try:
            yield server
        finally:
            if isinstance(server, GatedJwks):
                server.release.set()


def in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:  # the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_slow_jwks_of_tenant_a_does_not_delay_tenant_b_key_fetch(app: Any) -> None:
    cache: PlatformKeyCache = app.extensions["platform_keys"]
    with jwks_server(GatedJwks()) as slow, jwks_server(JwksServer()) as fast:
        thread_a, outcome_a = in_thread(lambda: cache.get(slow.url, "k1"))
        assert slow.arrived.wait(10)  # A's download is in flight, held by its platform
        started = time.monotonic()
        assert cache.get(fast.url, "k1") is not None
        assert time.monotonic() - started < 3  # generous: B's own download only
        assert thread_a.is_alive() and outcome_a == []  # B got its key while A was still waiting
        slow.release.set()
        thread_a.join(15)
        assert len(outcome_a) == 1 and not isinstance(outcome_a[0], Exception)
        assert (slow.hits, fast.hits, cache.fetches) == (1, 1, 2)


def test_a_slow_jwks_of_tenant_a_does_not_delay_tenant_b_launch(app: Any) -> None:
    with jwks_server(GatedJwks()) as slow, jwks_server(JwksServer()) as fast:
        tenant_a = MintedPlatform(slow, issuer="https://a.example.test", client_id="client-A",
                                  kid="k1")
        tenant_b = MintedPlatform(fast, issuer="https://b.example.test", client_id="client-B",
                                  kid="k1")
        tenant_a.register(app)
        tenant_b.register(app)
        thread_a, outcome_a = in_thread(lambda: tenant_a.launch(app.test_client()).status_code)
        assert slow.arrived.wait(10)  # A's key download is in flight, held by its platform
        started = time.monotonic()
        assert tenant_b.launch(app.test_client()).status_code in (200, 303)
        assert time.monotonic() - started < 5  # generous: B's own download and launch only
        assert thread_a.is_alive() and outcome_a == []  # B finished while A was still waiting
        slow.release.set()
        thread_a.join(15)
        assert outcome_a == [200]  # and A's launch then completes too
        assert (slow.hits, fast.hits) == (1, 1)


def test_launches_waiting_for_one_platform_share_one_download(app: Any) -> None:
    cache: PlatformKeyCache = app.extensions["platform_keys"]
    with jwks_server(GatedJwks()) as slow, app.app_context():
        threads = [in_thread(lambda: cache.get(slow.url, "k1")) for _ in range(4)]
        assert slow.arrived.wait(10)
        time.sleep(0.2)  # let the others queue on the platform's lock
        slow.release.set()
        for thread, _ in threads:
            thread.join(15)
        assert all(not isinstance(outcome[0], Exception) for _, outcome in threads)
        assert slow.hits == 1 and cache.fetches == 1


def test_launches_waiting_for_a_failing_download_share_its_failure(app: Any) -> None:
    cache: PlatformKeyCache = app.extensions["platform_keys"]
    with jwks_server(GatedJwks(status=503)) as down:
        threads = [in_thread(lambda: cache.get(down.url, "k1")) for _ in range(3)]
        assert down.arrived.wait(10)
        time.sleep(0.2)
        down.release.set()
        for thread, _ in threads:
            thread.join(15)
        assert all(isinstance(outcome[0], KeySetUnavailable) for _, outcome in threads)
        assert down.hits == 1  # not one slow retry per waiting launch


def test_cache_ttl_and_one_refetch_per_interval_for_an_unknown_kid(app: Any) -> None:
    cache = PlatformKeyCache(ttl=3600, refetch_interval=30,
                             fetch=app.extensions["platform_keys"]._get_json)
    with jwks_server(JwksServer()) as server:
        assert cache.get(server.url, "k1") is cache.get(server.url, "k1")
        assert (server.hits, cache.fetches) == (1, 1)
        with pytest.raises(UnknownKey):
            cache.get(server.url, "rotated")  # one re-fetch
        with pytest.raises(UnknownKey, match="rate-limited"):
            cache.get(server.url, "rotated")  # none within the interval
        assert (server.hits, cache.fetches) == (2, 2)
        expired = PlatformKeyCache(ttl=0, fetch=cache._get_json)
        expired.get(server.url, "k1")
        expired.get(server.url, "k1")
        assert expired.fetches == 2


def test_the_jwks_download_follows_the_apps_outbound_policy(
        database_url: str, redis_url: str | None, keys_dir: Any, tmp_path: Any) -> None:
    """With production's address rules (no private network opened), a JWKS on loopback is never
    fetched."""
    strict = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path,
                                      outbound_private_networks=()))
    try:
        cache: PlatformKeyCache = strict.extensions["platform_keys"]
        with jwks_server(JwksServer()) as server:
            with pytest.raises(KeySetUnavailable, match="refused by the outbound policy"):
                cache.get(server.url, "k1")
            assert server.hits == 0
    finally:
        strict.extensions["db_engine"].dispose()
