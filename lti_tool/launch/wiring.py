"""Per-app collaborators of the launch, built once in `create_app` (no I/O there) and looked up
by views: the used-nonce ledger (Redis or database), the platform key cache, the tool key store.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from lti_tool import http
from lti_tool.db import get_session
from lti_tool.keys import KeyStore, key_store, registration_keys
from lti_tool.launch.login_state import DatabaseNonces, NonceLedger, RedisNonces
from lti_tool.launch.platform_keys import FETCH_TIMEOUT, PlatformKeyCache
from lti_tool.launch.registry import Registration
from lti_tool.launch.service_connector import (
    MemoryTokenCache,
    RedisTokenCache,
    ToolServiceConnector,
    require_trusted,
)


def init_app(app: Flask) -> None:
    settings = app.extensions["settings"]
    # Every outbound call of this app (http.session()/request()/get_json()) uses this policy.
    policy = app.extensions["outbound_policy"] = http.OutboundPolicy.from_settings(settings)
    app.extensions["platform_keys"] = PlatformKeyCache(
        ttl=settings.jwks_cache_ttl, refetch_interval=settings.jwks_refetch_interval,
        fetch=lambda url: http.get_json(url, policy=policy, timeout=FETCH_TIMEOUT),
    )
    app.extensions["tool_keys"] = key_store(settings.keys_dir)
    if settings.redis_url:
        import redis  # only when configured

        # Connections open lazily, on first use: create_app stays free of I/O.
        app.extensions["redis"] = redis.Redis.from_url(settings.redis_url)
        app.extensions["token_cache"] = RedisTokenCache(app.extensions["redis"])
    else:
        app.extensions["token_cache"] = MemoryTokenCache()


def redis_client(app: Flask | None = None) -> Any | None:
    return (app or current_app).extensions.get("redis")


def nonces() -> NonceLedger:
    client = redis_client()
    if client is not None:
        return RedisNonces(client)
    return DatabaseNonces(get_session())


def service_connector(registration: Registration) -> ToolServiceConnector:
    """AGS/NRPS calls for a registration, tokens shared per (issuer, client_id, scopes), signed
    with the registration's own key set when it has one. Raises `ServiceNotAllowed` (nothing
    signed, nothing sent) for a registration not trusted for services."""
    require_trusted(registration)  # before its keys are even loaded
    return ToolServiceConnector(
        registration, signing_keys(registration.key_set), current_app.extensions["token_cache"]
    )


def signing_keys(key_set: str | None) -> KeyStore:
    """What the tool signs with for a registration (`Registration.key_set`, `Platform.key_set`):
    its own key set, else the shared tool key."""
    if key_set is None:
        return tool_keys()
    return registration_keys(current_app.extensions["settings"].keys_dir, key_set)


def key_cache() -> PlatformKeyCache:
    return current_app.extensions["platform_keys"]


def tool_keys() -> KeyStore:
    return current_app.extensions["tool_keys"]
