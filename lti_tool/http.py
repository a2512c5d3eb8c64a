"""The one shared `requests.Session` per process: timeouts, a User-Agent, typed errors.

Canvas refuses API calls without a User-Agent (LTI.md); pylti1p3 would create a new Session per
launch, losing connection reuse.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

USER_AGENT = "sexto-architect-lti/0.1 (+https://github.com/; LTI 1.3 tool)"
DEFAULT_TIMEOUT = (5.0, 15.0)


class HttpError(Exception):
    """A call to an LMS or issuer failed. `retryable` says whether trying later may help."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        body: str = "",
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.body = body[:2000]
        self.retryable = retryable


class HttpUnavailable(HttpError):
    """Timeout, connection refused, 5xx, 429: retry with backoff."""


class HttpRefused(HttpError):
    """A 4xx other than 429: permanent; record the peer's message."""


_local = threading.local()


def session() -> requests.Session:
    """Per thread (requests.Session is not guaranteed thread-safe), created once."""
    s: requests.Session | None = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        s.headers["User-Agent"] = USER_AGENT
        _local.session = s
    return s


def request(
    method: str, url: str, *, timeout: Any = DEFAULT_TIMEOUT, **kwargs: Any
) -> requests.Response:
    try:
        response = session().request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise HttpUnavailable(f"{method} {url} failed: {exc}", url=url, retryable=True) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise HttpUnavailable(
            f"{method} {url} answered {response.status_code}",
            url=url,
            status=response.status_code,
            body=response.text,
            retryable=True,
        )
    if response.status_code >= 400:
        raise HttpRefused(
            f"{method} {url} answered {response.status_code}",
            url=url,
            status=response.status_code,
            body=response.text,
        )
    return response


def get_json(url: str, **kwargs: Any) -> Any:
    response = request("GET", url, **kwargs)
    try:
        return response.json()
    except ValueError as exc:
        raise HttpRefused(
            f"GET {url} did not answer JSON",
            url=url,
            status=response.status_code,
            body=response.text,
        ) from exc
