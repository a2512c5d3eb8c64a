"""The guarded outbound path (issue 6, findings 2-3), against real servers on loopback: refused
destinations (loopback, private, IPv4-mapped, names resolving to 127.0.0.1, redirects, plain http)
reach nothing; a dripping server is cut at the deadline; a huge body is cut at the size cap; JSON
is parsed with the nesting limit; the relaxed policy of dev/demo/tests and a CIDR allow-list open
exactly what they say."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import WSGIRequestHandler, make_server

from lti_tool import http
from lti_tool.http import HttpForbiddenTarget, HttpRefused, HttpUnavailable, OutboundPolicy

ANY = OutboundPolicy(https_only=False, private_networks=("any",))  # dev, demo, tests
# Production's address rules with plain http allowed, so the address check is what refuses.
PRODUCTION_ADDRESSES = OutboundPolicy(https_only=False)
PRODUCTION = OutboundPolicy()


# -- servers ---------------------------------------------------------------------------------------
class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class Target:
    """A WSGI server counting the requests it received."""

    url: str
    hits: list[str] = field(default_factory=list)


@contextmanager
def serve(app: Callable[..., Any], *, host: str = "127.0.0.1",
          tls: ssl.SSLContext | None = None) -> Iterator[Target]:
    target = Target(url="")

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        target.hits.append(environ["PATH_INFO"])
        return app(environ, start_response)

    server = make_server(host, 0, counting, threaded=True, request_handler=_Quiet, ssl_context=tls)
    name = f"[{host}]" if ":" in host else host
    target.url = f"{'https' if tls else 'http'}://{name}:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def answer(body: bytes = b'{"ok": true}', status: str = "200 OK",
           headers: tuple[tuple[str, str], ...] = ()) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [body]
    return app


@dataclass
class RawStats:
    sent: int = 0
    connections: int = 0
    ended: threading.Event = field(default_factory=threading.Event)


@contextmanager
def raw_server(handler: Callable[[socket.socket, threading.Event, RawStats], None],
               tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, RawStats]]:
    """A socket server written by hand, for what a WSGI server will not do (drip, lie)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    stats = RawStats()

    def serve_one(conn: socket.socket) -> None:
        try:
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            handler(conn, stop, stats)
        except OSError:
            pass  # the client went away: what the tests want
        finally:
            stats.ended.set()
            conn.close()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            stats.connections += 1
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], stats
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def drip(prefix: bytes, seconds: float = 30, every: float = 0.5) -> Callable[..., None]:
    """Send `prefix`, then one byte every `every` seconds for `seconds`."""
    def handler(conn: socket.socket, stop: threading.Event, stats: RawStats) -> None:
        conn.sendall(prefix)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not stop.is_set():
            conn.sendall(b"x")
            stats.sent += 1
            time.sleep(every)
    return handler


@dataclass(frozen=True)
class Tls:
    cert: Path
    context: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for `localhost` only (not for 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return Tls(cert_path, context)


def local_private_address() -> str:
    """This machine's own non-loopback address (no packet is sent by a UDP connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        address = probe.getsockname()[0]
    assert ipaddress.ip_address(address).is_private and not ipaddress.ip_address(
        address).is_loopback, f"the test needs a private interface address, not {address}"
    return address


# -- the address rules -----------------------------------------------------------------------------
@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1",  # loopback, mapped
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::2", "::ffff:10.0.0.1",  # private
    "169.254.169.254", "fe80::1", "::ffff:169.254.169.254",  # link-local (cloud metadata)
    "100.64.0.1",  # shared address space (CGNAT): neither private nor global
    "0.0.0.0", "::", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255",
    "2002:7f00:1::", "2002:a9fe:a9fe::1",  # 6to4 wrapping 127.0.0.1 and 169.254.169.254
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1",  # NAT64 to loopback, metadata
    "::127.0.0.1", "2001:db8::1", "192.0.2.1", "198.18.0.1",
])
def test_non_public_addresses_are_refused_by_the_production_policy(address: str) -> None:
    assert PRODUCTION.refusal(address) is not None
    assert ANY.refusal(address) is None  # what dev, demo and tests allow


@pytest.mark.parametrize("address", [
    "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808",
])
def test_public_addresses_are_allowed(address: str) -> None:
    assert PRODUCTION.refusal(address) is None


def test_a_cidr_list_opens_its_private_networks_but_never_loopback_or_link_local() -> None:
    policy = OutboundPolicy(private_networks=("10.20.0.0/16", "fd12::/16"))
    for allowed in ("10.20.3.4", "::ffff:10.20.3.4", "fd12::7"):
        assert policy.refusal(allowed) is None, allowed
    for refused in ("10.21.0.1", "192.168.1.1", "fd13::1", "127.0.0.1", "169.254.1.1"):
        assert policy.refusal(refused) is not None, refused
    # Loopback cannot be opened by a CIDR: only "any" does (and config refuses it in production).
    assert OutboundPolicy(private_networks=("127.0.0.0/8",)).refusal("127.0.0.1") == "loopback"


def test_the_policy_comes_from_the_settings_and_outside_an_app_is_strict(app: Any) -> None:
    settings = app.extensions["settings"]
    production = OutboundPolicy.from_settings(settings.with_overrides(env="production"))
    assert production.https_only and production.deadline == settings.outbound_deadline
    assert production.max_bytes == settings.outbound_max_bytes
    assert http.current_policy() is http.STRICT and http.session().policy == PRODUCTION  # type: ignore[attr-defined]
    with app.app_context():
        assert http.current_policy() is app.extensions["outbound_policy"]
        assert http.current_policy().allows_any and not http.current_policy().https_only


# -- refused destinations reach nothing --------------------------------------------------------------
def test_loopback_targets_are_refused_in_production_and_receive_nothing() -> None:
    with serve(answer()) as target:
        port = target.url.rsplit(":", 1)[1]
        urls = [f"http://127.0.0.1:{port}/", f"http://localhost:{port}/",  # a name for 127.0.0.1
                f"http://[::ffff:127.0.0.1]:{port}/", f"http://[::1]:{port}/",
                f"http://0.0.0.0:{port}/", f"http://2130706433:{port}/",  # 0.0.0.0 is us; so is 2130706433
                f"http://127.1:{port}/", f"http://0x7f.0.0.1:{port}/"]
        for url in urls:
            with pytest.raises(HttpForbiddenTarget) as refused:
                http.request("GET", url, policy=PRODUCTION_ADDRESSES)
            assert "refused by the outbound policy" in str(refused.value), url
        with pytest.raises(HttpForbiddenTarget):  # through a session, as pylti1p3 calls it
            http.session(PRODUCTION_ADDRESSES).get(f"http://localhost:{port}/")
        assert target.hits == []
        # The same server, allowed by the relaxed policy: the refusals above were the policy's.
        assert http.get_json(f"http://localhost:{port}/", policy=ANY) == {"ok": True}
        assert target.hits == ["/"]


def test_private_targets_are_refused_and_a_cidr_opens_exactly_its_network() -> None:
    address = local_private_address()
    network = ipaddress.ip_network(f"{address}/24", strict=False)
    other = next(n for n in ("10.255.255.0/24", "172.31.255.0/24")
                 if ipaddress.ip_address(address) not in ipaddress.ip_network(n))
    with serve(answer(), host=address) as target, serve(answer()) as loopback:
        with pytest.raises(HttpForbiddenTarget):
            http.request("GET", target.url + "/", policy=PRODUCTION_ADDRESSES)
        with pytest.raises(HttpForbiddenTarget):
            http.request("GET", target.url + "/", policy=OutboundPolicy(https_only=False,
                                                                      private_networks=(other,)))
        assert target.hits == []
        allowed = OutboundPolicy(https_only=False, private_networks=(str(network),))
        assert http.get_json(target.url + "/", policy=allowed) == {"ok": True}
        assert target.hits == ["/"]
        with pytest.raises(HttpForbiddenTarget):  # the allow-list opens that network only
            http.request("GET", loopback.url + "/", policy=allowed)
        assert loopback.hits == []


def test_plain_http_and_other_schemes_are_refused_when_https_only() -> None:
    https_only_anywhere = OutboundPolicy(https_only=True, private_networks=("any",))
    with serve(answer()) as target:
        with pytest.raises(HttpForbiddenTarget) as refused:
            http.request("GET", target.url + "/", policy=https_only_anywhere)
        assert "only https" in str(refused.value)
        with pytest.raises(HttpForbiddenTarget):
            http.session(https_only_anywhere).post(target.url + "/", data={"a": "b"})
        for url in ("file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/"):
            with pytest.raises(HttpForbiddenTarget):
                http.request("GET", url, policy=ANY)
        assert target.hits == []


def test_an_https_redirect_to_loopback_http_is_not_followed(tls: Tls) -> None:
    policy = OutboundPolicy(https_only=True, private_networks=("any",))  # loopback TLS server
    with serve(answer(b"internal secret")) as internal:
        location = internal.url + "/admin"
        redirect = answer(b"", "302 Found", (("Location", location),))
        with serve(redirect, tls=tls.context) as lms:
            https_url = lms.url.replace("127.0.0.1", "localhost") + "/openid-configuration"
            with pytest.raises(HttpForbiddenTarget) as refused:
                http.get_json(https_url, policy=policy, verify=str(tls.cert))
            assert "redirect is not followed" in str(refused.value)
            assert location not in str(refused.value) and location in refused.value.body
            for follow in (True, False):  # a session asked to follow redirects does not either
                with pytest.raises(HttpForbiddenTarget):
                    http.session(policy).get(https_url, verify=str(tls.cert), allow_redirects=follow)
            assert lms.hits == ["/openid-configuration"] * 3
        assert internal.hits == []


def test_tls_still_verifies_the_host_name(tls: Tls) -> None:
    with serve(answer(), tls=tls.context) as lms:
        by_name = lms.url.replace("127.0.0.1", "localhost") + "/"
        assert http.get_json(by_name, policy=ANY, verify=str(tls.cert)) == {"ok": True}
        # Connected to a checked address, the certificate is still checked against the URL's host.
        with pytest.raises(HttpUnavailable) as failed:
            http.get_json(lms.url + "/", policy=ANY, verify=str(tls.cert))
        assert "SSLError" in str(failed.value)
        assert lms.hits == ["/"]


def test_proxies_from_the_environment_or_arguments_are_not_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(answer()) as target, serve(answer(b'{"proxy": true}')) as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert http.get_json(target.url + "/", policy=OutboundPolicy(
            https_only=False, private_networks=("any",), deadline=9)) == {"ok": True}
        with pytest.raises(HttpForbiddenTarget):
            http.request("GET", target.url + "/", policy=ANY, proxies={"http": proxy.url})
        assert target.hits == ["/"] and proxy.hits == []


# -- the deadline ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", [
    b"HTTP/1.1 200 OK\r\nX-Drip: ",  # headers never end
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
])
def test_a_dripping_server_is_cut_at_the_deadline(prefix: bytes) -> None:
    policy = OutboundPolicy(https_only=False, private_networks=("any",), deadline=1.5)
    with raw_server(drip(prefix)) as (port, stats):
        started = time.monotonic()
        with pytest.raises(HttpUnavailable) as failed:
            http.get_json(f"http://127.0.0.1:{port}/", policy=policy)
        elapsed = time.monotonic() - started
        assert "deadline exceeded" in str(failed.value) and failed.value.retryable
        assert 1.4 < elapsed < 6, elapsed  # the server would drip for 30 s
        assert stats.ended.wait(5)  # and the connection is gone, not left dripping


def test_a_dripping_tls_server_is_cut_at_the_deadline(tls: Tls) -> None:
    policy = OutboundPolicy(https_only=True, private_networks=("any",), deadline=1.5)
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    with raw_server(drip(body), tls=tls.context) as (port, stats):
        started = time.monotonic()
        with pytest.raises(HttpUnavailable, match="deadline exceeded"):
            http.request("GET", f"https://localhost:{port}/", policy=policy, verify=str(tls.cert))
        assert time.monotonic() - started < 6
        assert stats.sent >= 1 and stats.ended.wait(5)


def keep_alive(conn: socket.socket, stop: threading.Event, stats: RawStats) -> None:
    """Answers every request of the connection (the first one's head is already read)."""
    while True:
        stats.sent += 1  # counted before sending: the client may have its answer before we resume
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"ok": true}')
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk


def test_a_fast_call_is_not_cut_and_its_connection_is_reused() -> None:
    policy = OutboundPolicy(https_only=False, private_networks=("any",), deadline=0.5)
    with raw_server(keep_alive) as (port, stats):
        for _ in range(3):
            assert http.get_json(f"http://127.0.0.1:{port}/", policy=policy) == {"ok": True}
        time.sleep(0.7)  # past the first calls' deadlines: their watchdogs must not fire later
        assert http.get_json(f"http://127.0.0.1:{port}/", policy=policy) == {"ok": True}
        assert stats.sent == 4
        assert stats.connections == 1  # one connection, kept alive, never shut down


# -- the size cap -----------------------------------------------------------------------------------------
def test_a_huge_body_is_cut_at_the_cap_without_reading_it_all() -> None:
    produced = [0]
    total = 50 * 1024 * 1024

    def huge(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/json")])  # no Content-Length

        def body() -> Iterator[bytes]:
            chunk = b"[" + b"0," * 32767 + b"0"
            while produced[0] < total:
                produced[0] += len(chunk)
                yield chunk
        return body()

    with serve(huge) as target:
        with pytest.raises(HttpRefused) as refused:
            http.get_json(target.url + "/", policy=ANY)
        assert "larger than 1048576 bytes" in str(refused.value)
        with pytest.raises(HttpRefused):  # through a session too
            http.session(ANY).get(target.url + "/")
        time.sleep(0.3)
        assert produced[0] < total // 2, produced[0]


def test_a_declared_content_length_over_the_cap_is_refused_before_reading() -> None:
    def liar(conn: socket.socket, stop: threading.Event, stats: RawStats) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
        while not stop.is_set():
            conn.sendall(b"0" * 65536)
            stats.sent += 65536

    with raw_server(liar) as (port, stats):
        with pytest.raises(HttpRefused, match="Content-Length 52428800"):
            http.request("GET", f"http://127.0.0.1:{port}/", policy=ANY)
        assert stats.ended.wait(5) and stats.sent < 20 * 1024 * 1024


def test_a_body_at_the_cap_is_read_and_one_byte_more_refused() -> None:
    policy = OutboundPolicy(https_only=False, private_networks=("any",), max_bytes=1000)
    with serve(answer(b"a" * 1000)) as exact, serve(answer(b"a" * 1001)) as over:
        assert http.request("GET", exact.url + "/", policy=policy).content == b"a" * 1000
        with pytest.raises(HttpRefused, match="larger than 1000 bytes"):
            http.request("GET", over.url + "/", policy=policy)


# -- answers: JSON nesting, status codes, what error messages say ---------------------------------------
def test_too_deep_json_from_a_server_is_refused() -> None:
    deep = b"[" * 40 + b"]" * 40
    deeper = b"[" * 50000 + b"]" * 50000  # the C decoder's RecursionError
    with serve(answer(deep)) as nested, serve(answer(deeper)) as very_nested:
        for target in (nested, very_nested):
            with pytest.raises(HttpRefused, match="JsonTooDeep"):
                http.get_json(target.url + "/", policy=ANY)
            with pytest.raises(requests.JSONDecodeError):  # `response.json()` of the session too
                http.session(ANY).get(target.url + "/").json()
    with serve(answer(b"<html>not json</html>")) as target, pytest.raises(HttpRefused,
                                                                          match="JsonInvalid"):
        http.get_json(target.url + "/", policy=ANY)


def test_status_codes_become_typed_errors_without_the_remote_body_in_the_message() -> None:
    secret = b"internal-host-42 says no"
    cases = {
        "400 Bad Request": (HttpRefused, False),
        "404 Not Found": (HttpRefused, False),
        "429 Too Many Requests": (HttpUnavailable, True),
        "503 Service Unavailable": (HttpUnavailable, True),
    }
    for status, (kind, retryable) in cases.items():
        with serve(answer(secret, status, (("Retry-After", "7"),))) as target:
            with pytest.raises(kind) as failed:
                http.request("POST", target.url + "/token", policy=ANY, data={"a": "b"})
            error = failed.value
            assert type(error) is kind and error.retryable is retryable
            assert error.status == int(status[:3])
            assert "internal-host-42" not in str(error) and "internal-host-42" in error.body
            if status.startswith(("429", "503")):
                assert error.retry_after == 7


def test_the_session_works_for_code_written_against_requests() -> None:
    """pylti1p3's ServiceConnector: `session.post(...)`, `.ok`, `.json()`, `.text`."""
    with serve(answer(b'{"access_token": "t", "expires_in": 60}')) as target:
        response = http.session(ANY).post(target.url + "/token", data={"grant_type": "x"},
                                          timeout=(1.0, 1.0))
        assert response.ok and response.json()["access_token"] == "t"
        assert response.headers["Content-Type"] == "application/json"
        assert b"".join(response.iter_content(4)) == response.content
        with serve(answer(b'{"error": "invalid_client"}', "401 Unauthorized")) as refusing:
            refused = http.session(ANY).post(refusing.url + "/token")
            assert not refused.ok and refused.json() == {"error": "invalid_client"}
