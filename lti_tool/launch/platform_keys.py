"""Platform public keys, cached per process as loaded key objects.

pylti1p3 fetches the platform JWKS on every launch unless told otherwise, and converts the JWK to
PEM each time (~40 µs). Here a JWKS is fetched once, its RSA keys loaded once, and an unknown `kid`
triggers at most one re-fetch per interval (a platform rotating its keys; LTI.md checklist item 1).

Fetches are locked per JWKS URL, not per process (issue 6, finding 4): a slow `jwks_uri` of one
platform never delays another tenant's launch, while concurrent launches of one platform wait
for a single download (and share its failure rather than each retrying a dead server in turn).
The download goes through the guarded outbound path (`lti_tool.http`: address checks, deadline,
size cap), with the app's policy passed in by `launch.wiring`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from lti_tool import http

log = logging.getLogger(__name__)

FETCH_TIMEOUT = (3.0, 5.0)  # per socket operation; the outbound policy's deadline bounds the call


class UnknownKey(Exception):
    pass


class KeySetUnavailable(Exception):
    pass


@dataclass
class _Entry:
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    fetched_at: float = -1e9
    last_refetch: float = -1e9
    failed_at: float = -1e9
    failure: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_jwks(jwks: Any) -> dict[str, rsa.RSAPublicKey]:
    keys: dict[str, rsa.RSAPublicKey] = {}
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise KeySetUnavailable("the JWKS is not an object with a `keys` list")
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not jwk.get("kid"):
            continue
        if jwk.get("alg", "RS256") != "RS256" or jwk.get("use", "sig") != "sig":
            continue
        try:
            key = RSAAlgorithm.from_jwk(jwk)
        except Exception:  # a malformed key in the set must not hide the good ones
            log.warning("skipping malformed JWK %s", jwk.get("kid"))
            continue
        if isinstance(key, rsa.RSAPublicKey):
            keys[jwk["kid"]] = key
    return keys


class PlatformKeyCache:
    def __init__(
        self,
        *,
        ttl: float = 3600,
        refetch_interval: float = 30,
        fetch: Callable[[str], Any] | None = None,
    ) -> None:
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self._get_json = fetch or (lambda url: http.get_json(url, timeout=FETCH_TIMEOUT))
        self._entries: dict[str, _Entry] = {}
        self._entries_lock = threading.Lock()  # held only to find or create an entry
        self.fetches = 0  # observable by tests and the benchmark

    def get(self, jwks_url: str, kid: str) -> rsa.RSAPublicKey:
        entry = self._entries.get(jwks_url)
        if entry is not None and time.monotonic() - entry.fetched_at < self.ttl:
            key = entry.keys.get(kid)
            if key is not None:
                return key
            return self._fetch(jwks_url, kid, refetch=True)
        return self._fetch(jwks_url, kid, refetch=False)

    def _entry(self, jwks_url: str) -> _Entry:
        entry = self._entries.get(jwks_url)
        if entry is None:
            with self._entries_lock:
                entry = self._entries.setdefault(jwks_url, _Entry())
        return entry

    def _fetch(self, jwks_url: str, kid: str, *, refetch: bool) -> rsa.RSAPublicKey:
        entry = self._entry(jwks_url)
        waited_since = time.monotonic()
        with entry.lock:  # this platform only
            now = time.monotonic()
            fresh = now - entry.fetched_at < self.ttl
            if fresh and kid in entry.keys:  # another thread fetched meanwhile
                return entry.keys[kid]
            if entry.failed_at >= waited_since:  # the download we waited for just failed
                raise KeySetUnavailable(entry.failure)
            if refetch and fresh and now - entry.last_refetch < self.refetch_interval:
                raise UnknownKey(f"kid {kid!r} not in the platform JWKS (re-fetch rate-limited)")
            if refetch:
                entry.last_refetch = now
            with self._entries_lock:
                self.fetches += 1
            try:
                entry.keys = load_jwks(self._get_json(jwks_url))
            except (http.HttpError, KeySetUnavailable) as exc:
                entry.failed_at, entry.failure = time.monotonic(), str(exc)
                raise KeySetUnavailable(str(exc)) from exc
            entry.fetched_at = time.monotonic()
            key = entry.keys.get(kid)
        if key is None:
            raise UnknownKey(f"kid {kid!r} not in the platform JWKS at {jwks_url}")
        return key

    def clear(self) -> None:
        with self._entries_lock:
            self._entries.clear()
