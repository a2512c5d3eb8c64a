"""Calls to the platform's services (AGS, NRPS) from stored registration data, not from a launch.

pylti1p3's `FlaskServiceConnector` caches access tokens per process keyed on issuer + scopes only,
so two Canvas tenants (same issuer) would share a token (LTI.md, library defects), and
`MessageLaunch.from_cache()` hands back the abstract connector. This connector:
- keys the token cache on (issuer, client_id, scopes), in Redis when configured (every worker
  shares it), in process memory otherwise, and drops a token a minute before it expires;
- signs the `private_key_jwt` client assertion (https://www.imsglobal.org/spec/security/v1p0/#using-json-web-tokens-with-oauth-2-0-client-credentials-grant)
  with the key store it is given — the registration's own key set when it has one (wiring picks
  it), whose kid that key set's JWKS publishes;
- refuses, before signing anything, a registration not trusted for services (pending, legacy, or
  dynamic and not approved): such a platform chose its own client_id and token endpoint, and an
  assertion sent there could be replayed at another LMS (issue 6, finding 6);
- posts the assertion only to the registration's recorded token URL, never following a redirect
  (a 307 would re-post it to wherever the platform points);
- uses the process's shared `requests.Session` (timeouts, User-Agent).
The library's `make_service_request` / `get_paginated_data` are reused unchanged.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from pylti1p3.exception import LtiServiceException
from pylti1p3.registration import Registration as LibraryRegistration
from pylti1p3.service_connector import ServiceConnector

from lti_tool import http
from lti_tool.errors import Bilingual, ToolError
from lti_tool.keys import KeyStore
from lti_tool.launch.registry import Registration

EXPIRY_MARGIN = 60  # seconds: refresh before the platform considers the token expired


class ServiceNotAllowed(ToolError):
    """No service call for this registration: a 403 page in a view, a plain exception in a worker
    (catch it: retrying will not help until the operator approves the registration)."""

    status = 403
    code = "service_not_allowed"
    title = Bilingual("Service non autorisé", "Service not allowed")


def require_trusted(registration: Registration) -> None:
    if not registration.trusted_for_services:
        raise ServiceNotAllowed(
            Bilingual(
                "L'outil ne communique pas avec cette plateforme (notes, liste des participants) "
                "tant que l'administrateur de l'outil ne l'a pas approuvée.",
                "The tool does not call this platform's services (grades, class list) until the "
                "tool's administrator approves it.",
            ),
            hint=Bilingual(
                "Signalez-le à l'administrateur de l'outil (commande «\u00a0lti-tool platform "
                "approve\u00a0»).",
                "Tell the tool's administrator (command \u201clti-tool platform approve\u201d).",
            ),
            detail=(
                f"service call refused for registration {registration.id} "
                f"({registration.issuer} / {registration.client_id}): status={registration.status} "
                f"origin={registration.origin} approved={registration.approved}"
            ),
        )


class TokenCache(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, token: str, ttl: int) -> None: ...
    def delete(self, key: str) -> None: ...  # the platform refused it (401): fetch a new one


class MemoryTokenCache:
    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._tokens.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def set(self, key: str, token: str, ttl: int) -> None:
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


class RedisTokenCache:
    prefix = "lti:token:"

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, key: str) -> str | None:
        value = self.client.get(self.prefix + key)
        return value.decode() if isinstance(value, bytes) else value

    def set(self, key: str, token: str, ttl: int) -> None:
        self.client.set(self.prefix + key, token, ex=ttl)

    def delete(self, key: str) -> None:
        self.client.delete(self.prefix + key)


def token_cache_key(issuer: str, client_id: str, scopes: Sequence[str]) -> str:
    material = "\n".join([issuer, client_id, *sorted(scopes)])
    return hashlib.sha256(material.encode()).hexdigest()


class ToolServiceConnector(ServiceConnector):
    def __init__(self, registration: Registration, keys: KeyStore, cache: TokenCache) -> None:
        require_trusted(registration)  # before anything can be signed or sent
        library_registration = (
            LibraryRegistration()
            .set_issuer(registration.issuer)
            .set_client_id(registration.client_id)
            .set_auth_token_url(registration.token_url)
        )
        if registration.auth_audience:
            library_registration.set_auth_audience(registration.auth_audience)
        super().__init__(library_registration, requests_session=http.session())
        self.registration = registration
        self.keys = keys
        self.cache = cache
        self.token_requests = 0  # observable by tests

    def get_access_token(self, scopes: Sequence[str]) -> str:
        reg = self.registration
        key = token_cache_key(reg.issuer, reg.client_id, scopes)
        cached = self.cache.get(key)
        if cached:
            return cached
        now = int(time.time())
        assertion = self.keys.sign(
            {
                "iss": reg.client_id,
                "sub": reg.client_id,
                "aud": reg.auth_audience or reg.token_url,
                "iat": now - 5,
                "exp": now + 60,
                "jti": "lti-service-token-" + uuid.uuid4().hex,
            }
        )
        self.token_requests += 1
        response = self._requests_session.post(
            reg.token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
                "scope": " ".join(sorted(scopes)),
            },
            timeout=http.DEFAULT_TIMEOUT,
            allow_redirects=False,
        )
        if not 200 <= response.status_code < 300:  # a 3xx is `ok` to requests, not to us
            raise LtiServiceException("the platform refused the access token request", response)
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError) as exc:
            raise LtiServiceException("the platform's token answer has no access_token", response) from exc
        ttl = int(body.get("expires_in") or 3600) - EXPIRY_MARGIN
        if ttl > 0:
            self.cache.set(key, token, ttl)
        return str(token)
