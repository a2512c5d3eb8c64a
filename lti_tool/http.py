"""The one guarded path for everything the tool fetches or posts (OpenID configurations, dynamic
registration, platform JWKS, service tokens, AGS/NRPS, badge issuers): issue 6, finding 2-3.

requests stays the HTTP library (DESIGN.md); the guard sits at the connection level, where no
caller can go around it:
- **Destination.** http(s) only, https only in production (`OutboundPolicy.https_only`). The host
  is resolved once (`getaddrinfo`), *every* resolved address is checked, and the socket connects
  to a checked address: no second look-up a DNS rebinding could answer differently. Loopback,
  private, link-local, multicast, reserved, shared (CGNAT) and unspecified addresses, and their
  IPv6 forms (IPv4-mapped, 6to4, Teredo, NAT64), are refused unless the policy lists the private
  network (CIDR) or allows "any" (dev, demo, tests). TLS still verifies the certificate against
  the host name (SNI = host name). No proxy: `trust_env` is off, so `HTTPS_PROXY` cannot bypass
  the check (a CA bundle named by `REQUESTS_CA_BUNDLE` is still honoured).
- **Redirects** are never followed: a 3xx is `HttpForbiddenTarget` (each hop would need the
  same checks, and no platform endpoint the tool calls needs one).
- **Deadline.** One overall deadline per call (connect + headers + whole body). Socket timeouts
  bound each `recv`, not a server dripping a byte a second, so a watchdog shuts the call's socket
  down when the deadline passes; the call then fails with `HttpUnavailable("deadline exceeded")`.
- **Size.** The body is streamed and refused beyond `max_bytes` (Content-Length or bytes read),
  the connection closed rather than pooled; `Accept-Encoding: identity` is asked for (a decoded
  body is capped the same way). The body is then preloaded, so code written against
  `requests.Session` (pylti1p3's `ServiceConnector`) works unchanged, and `response.json()`
  parses with the nesting limit of `safe_json`.

Sessions are per thread (a `requests.Session` is not guaranteed thread-safe) and per policy;
Canvas refuses API calls without a User-Agent (LTI.md), which every session sends.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import Timeout

from lti_tool import safe_json

log = logging.getLogger(__name__)

USER_AGENT = "sexto-architect-lti/0.1 (+https://github.com/; LTI 1.3 tool)"
# (connect, read) per socket operation; the policy's deadline bounds the whole call.
DEFAULT_TIMEOUT = (5.0, 15.0)
ANY_NETWORK = "any"
CHUNK = 64 * 1024
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# NAT64 (RFC 6052 well-known prefix): the last 32 bits are the IPv4 destination.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215, local use: never public


# -- errors --------------------------------------------------------------------------------------
class HttpError(Exception):
    """A call to an LMS or issuer failed. `retryable` says whether trying later may help.

    The message never contains the remote body (pages may show the message); `body` keeps the
    first 2000 characters for the log."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        body: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.body = body[:2000]
        self.retryable = retryable
        self.retry_after = retry_after


class HttpUnavailable(HttpError):
    """Timeout, deadline, connection refused, 5xx, 429: retry with backoff (`retry_after`)."""


class HttpRefused(HttpError):
    """A 4xx other than 429, an answer too large or not JSON: permanent."""


class HttpForbiddenTarget(HttpRefused):
    """The outbound policy refuses the destination: scheme, address, proxy or a redirect."""


# -- the policy ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutboundPolicy:
    """Where the tool may call and how long/how much it reads. The default is production's."""

    https_only: bool = True
    private_networks: tuple[str, ...] = ()
    deadline: float = 10.0
    max_bytes: int = 1024 * 1024
    _networks: tuple[IpNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.deadline <= 0 or self.max_bytes <= 0:
            raise ValueError("the outbound deadline and size cap must be positive")
        networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in self.private_networks if n != ANY_NETWORK
        )
        object.__setattr__(self, "_networks", networks)

    @classmethod
    def from_settings(cls, settings: Any) -> OutboundPolicy:
        return cls(
            https_only=settings.is_production,
            private_networks=tuple(settings.outbound_private_networks),
            deadline=settings.outbound_deadline,
            max_bytes=settings.outbound_max_bytes,
        )

    @property
    def allows_any(self) -> bool:
        return ANY_NETWORK in self.private_networks

    def refusal(self, address: str | IpAddress) -> str | None:
        """Why this address may not be called (None: it may)."""
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
        if self.allows_any:
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d *is* a.b.c.d (is_loopback is False)
                return self.refusal(ip.ipv4_mapped)
            if ip in NAT64_PREFIX:  # the IPv4 destination decides (an IPv6-only network's gateway)
                return self._refusal_one(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            reason = self._refusal_one(ip)
            if reason is not None:
                return reason
            for embedded in _embedded_ipv4(ip):
                reason = self._refusal_one(embedded)
                if reason is not None:
                    return f"{reason} (IPv4 {embedded} embedded)"
            return None
        return self._refusal_one(ip)

    def _refusal_one(self, ip: IpAddress) -> str | None:
        # Never allowed by a CIDR list: only "any" (not accepted in production) opens these.
        for name, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                           ("unspecified", ip.is_unspecified), ("multicast", ip.is_multicast)):
            if flag:
                return name
        if isinstance(ip, ipaddress.IPv6Address) and ip in NAT64_LOCAL:
            return "reserved"
        if ip.is_global and not ip.is_reserved:
            return None
        if any(ip in network for network in self._networks):
            return None
        if ip.is_reserved:
            return "reserved"
        return "private" if ip.is_private else "non-public"  # e.g. shared 100.64.0.0/10


STRICT = OutboundPolicy()


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> Iterator[ipaddress.IPv4Address]:
    """IPv4 destinations reached through 6to4 and Teredo addresses."""
    if ip.sixtofour is not None:
        yield ip.sixtofour
    if ip.teredo is not None:
        yield from ip.teredo


# -- one call: its deadline and its sockets --------------------------------------------------------
class _Call:
    """The deadline of one request; the watchdog shuts its sockets down when it passes.

    It watches a duplicate of each socket's descriptor: `shutdown` acts on the connection, not
    the descriptor, so it also interrupts the TLS socket that later takes the original over."""

    def __init__(self, url: str, policy: OutboundPolicy) -> None:
        self.url = url
        self.policy = policy
        self.deadline = time.monotonic() + policy.deadline
        self.expired = False
        self._done = False
        self._watches: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(policy.deadline, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        watch = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            self._watches.append(watch)
            if self.expired:
                _shutdown(watch)

    def _expire(self) -> None:
        with self._lock:
            if self._done:  # finished meanwhile: its connection may be back in the pool
                return
            self.expired = True
            for watch in self._watches:
                _shutdown(watch)

    def finish(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            for watch in self._watches:
                watch.close()  # the duplicate only: the connection stays open
            self._watches.clear()

    def deadline_error(self) -> HttpUnavailable:
        return HttpUnavailable(
            f"{self.url}: deadline exceeded ({self.policy.deadline:g} s)",
            url=self.url,
            retryable=True,
        )


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected (yet, or any more)
        pass


_calls = threading.local()


def _current_call() -> _Call | None:
    return getattr(_calls, "call", None)


@contextmanager
def _in_call(call: _Call) -> Iterator[_Call]:
    previous = _current_call()
    _calls.call = call
    try:
        yield call
    finally:
        _calls.call = previous
        call.finish()


# -- connections: resolve once, check every address, connect to a checked one -------------------
def _guarded_socket(conn: HTTPConnection) -> socket.socket:
    call = _current_call()
    if call is None:  # only GuardedAdapter.send opens these connections
        raise HttpForbiddenTarget("outbound connection outside a guarded call", url=conn.host)
    host = conn._dns_host  # the host without IPv6 brackets
    try:
        infos = socket.getaddrinfo(host, conn.port, allowed_gai_family(), socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    if not infos:
        raise NameResolutionError(conn.host, conn, socket.gaierror("no address"))
    for *_, sockaddr in infos:
        reason = call.policy.refusal(str(sockaddr[0]))
        if reason is not None:
            raise HttpForbiddenTarget(
                f"{call.url}: {conn.host} resolves to a {reason} address ({sockaddr[0]}), "
                "refused by the outbound policy",
                url=call.url,
            )
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else math.inf
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        remaining = call.remaining()
        if remaining <= 0:
            raise call.deadline_error()
        sock = socket.socket(family, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(min(timeout, remaining))
            if conn.source_address:
                sock.bind(conn.source_address)
            call.watch(sock)
            sock.connect(sockaddr)
            conn._guard_call = call  # type: ignore[attr-defined]
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out") from error
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


def _watch_reused(conn: HTTPConnection) -> None:
    """A pooled connection, reused by a new call: that call's watchdog watches it too."""
    call = _current_call()
    if call is not None and conn.sock is not None and getattr(conn, "_guard_call", None) is not call:
        call.watch(conn.sock)
        conn._guard_call = call  # type: ignore[attr-defined]


class GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_reused(self)
        super().request(*args, **kwargs)


class GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_reused(self)
        super().request(*args, **kwargs)


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


# -- the adapter and the session ------------------------------------------------------------------
class GuardedResponse(requests.Response):
    def json(self, **kwargs: Any) -> Any:
        try:
            return safe_json.loads(self.content, **kwargs)
        except ValueError as exc:
            raise requests.JSONDecodeError(str(exc), self.text[:200], 0) from exc


def _clamp(timeout: Any, limit: float) -> Any:
    if isinstance(timeout, Timeout):
        return timeout
    if isinstance(timeout, tuple):
        connect, read = timeout
        return (min(connect or limit, limit), min(read or limit, limit))
    return min(timeout or limit, limit)


class GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise HttpForbiddenTarget("outbound calls go through no proxy", url=proxy)

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.__class__ = GuardedResponse
        return response

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        url = request.url or ""
        policy = self.policy
        scheme = urlsplit(url).scheme.lower()
        if scheme != "https" and (policy.https_only or scheme != "http"):
            raise HttpForbiddenTarget(
                f"{url}: only {'https' if policy.https_only else 'http(s)'} URLs may be called",
                url=url)
        if proxies and any(proxies.values()):
            raise HttpForbiddenTarget(f"{url}: outbound calls go through no proxy", url=url)
        with _in_call(_Call(url, policy)) as call:
            try:
                response = super().send(request, stream=True, timeout=_clamp(timeout, policy.deadline),
                                        verify=verify, cert=cert, proxies=None)
                try:
                    self._refuse_redirect(response, url)
                    self._read_bounded(response, url, policy.max_bytes)
                except BaseException:
                    response.close()
                    raise
            except requests.RequestException as exc:
                if call.expired:
                    raise call.deadline_error() from exc
                raise
        if call.expired:  # a shut-down socket can look like the end of the body
            response.close()
            raise call.deadline_error()
        return response

    @staticmethod
    def _refuse_redirect(response: requests.Response, url: str) -> None:
        if 300 <= response.status_code < 400:
            raise HttpForbiddenTarget(
                f"{url} answered {response.status_code}: a redirect is not followed",
                url=url, status=response.status_code,
                body=f"Location: {response.headers.get('Location', '')}")

    @staticmethod
    def _read_bounded(response: requests.Response, url: str, max_bytes: int) -> None:
        declared = response.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > max_bytes:
            raise HttpRefused(f"{url}: the answer is larger than {max_bytes} bytes "
                              f"(Content-Length {int(declared)})", url=url, status=response.status_code)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.raw.stream(CHUNK, decode_content=True):
                size += len(chunk)
                if size > max_bytes:
                    raise HttpRefused(f"{url}: the answer is larger than {max_bytes} bytes",
                                      url=url, status=response.status_code)
                chunks.append(chunk)
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except ReadTimeoutError as exc:
            raise requests.ConnectionError(exc) from exc
        except Urllib3SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        except (Urllib3Error, OSError) as exc:
            raise requests.ConnectionError(exc) from exc
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]
        response.raw.release_conn()


class GuardedSession(requests.Session):
    def __init__(self, policy: OutboundPolicy = STRICT) -> None:
        super().__init__()
        self.policy = policy
        # No environment proxies or .netrc; a private CA bundle stays usable (intranet LMS).
        self.trust_env = False
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.max_redirects = 0
        self.headers["User-Agent"] = USER_AGENT
        self.headers["Accept-Encoding"] = "identity"
        adapter = GuardedAdapter(policy)
        self.mount("https://", adapter)
        self.mount("http://", adapter)


# -- the module API ------------------------------------------------------------------------------
_local = threading.local()


def current_policy() -> OutboundPolicy:
    """The current app's policy (built by `launch.wiring.init_app`), else the strict default."""
    if has_app_context():
        policy = current_app.extensions.get("outbound_policy")
        if isinstance(policy, OutboundPolicy):
            return policy
    return STRICT


def session(policy: OutboundPolicy | None = None) -> requests.Session:
    """Per thread and per policy, created once."""
    policy = policy or current_policy()
    sessions: dict[OutboundPolicy, GuardedSession] | None = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    s = sessions.get(policy)
    if s is None:
        s = sessions[policy] = GuardedSession(policy)
    return s


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def request(method: str, url: str, *, policy: OutboundPolicy | None = None,
            timeout: Any = DEFAULT_TIMEOUT, **kwargs: Any) -> requests.Response:
    """One guarded call; 4xx/5xx become typed errors (the remote body in `.body` only)."""
    kwargs.setdefault("allow_redirects", False)
    try:
        response = session(policy).request(method, url, timeout=timeout, **kwargs)
    except HttpError:
        raise
    except (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidURL) as exc:
        raise HttpForbiddenTarget(f"{method} {url}: not an http(s) URL the tool may call", url=url,
                                  body=str(exc)) from exc
    except requests.RequestException as exc:
        raise HttpUnavailable(f"{method} {url} failed: {type(exc).__name__}", url=url,
                              body=str(exc), retryable=True) from exc
    status = response.status_code
    if status >= 500 or status == 429:
        raise HttpUnavailable(f"{method} {url} answered {status}", url=url, status=status,
                              body=response.text, retryable=True,
                              retry_after=_retry_after(response.headers.get("Retry-After")))
    if status >= 400:
        raise HttpRefused(f"{method} {url} answered {status}", url=url, status=status,
                          body=response.text)
    return response


def get_json(url: str, **kwargs: Any) -> Any:
    """GET and parse with the nesting limit; invalid or too deep JSON is `HttpRefused`."""
    response = request("GET", url, **kwargs)
    try:
        return safe_json.loads(response.content)
    except ValueError as exc:
        raise HttpRefused(f"GET {url} did not answer valid JSON ({type(exc).__name__})", url=url,
                          status=response.status_code, body=response.text) from exc
