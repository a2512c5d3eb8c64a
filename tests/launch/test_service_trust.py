"""Service assertions only where they belong (issue 6, finding 6): per-registration key sets, their
JWKS at `/lti/keys/<key_set>.json`, no service call for an untrusted registration, and an assertion
made for one registration that verifies against no other registration's keys.

The attacker is a real HTTP server on loopback that records what reaches it; the tool is served
over HTTP too, and assertions are checked with PyJWT against the JWKS fetched from its endpoints.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from click.testing import CliRunner
from pylti1p3.exception import LtiServiceException
from werkzeug.wrappers import Request, Response

from lti_tool import create_app, http, keys
from lti_tool.cli import main
from lti_tool.db import get_session
from lti_tool.keys import KeyStore, UnknownKeySet, new_registration_key_set, registration_keys
from lti_tool.launch.registry import Registration, add_platform, approve_platform, find_registration
from lti_tool.launch.service_connector import (
    MemoryTokenCache,
    ServiceNotAllowed,
    ToolServiceConnector,
)
from lti_tool.launch.wiring import service_connector, signing_keys
from lti_tool.models import Platform
from tests import backends
from tests.conftest import _truncate, make_settings
from tests.launch.test_deep_linking import choose, dl_launch, response_form
from tests.launch.test_keys import _script_info, rfc7638_thumbprint
from tests.support.minted import MintedPlatform, minted_platform
from tests.support.platform_server import serve_app

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPES = [AGS + "score", AGS + "lineitem"]
REAL_ISSUER = "https://lms.real.test"
REAL_CLIENT_ID = "10000000000042"  # a real LMS's client id, which the attacker copies
REAL_TOKEN_URL = REAL_ISSUER + "/login/oauth2/token"


# -- a recording server ----------------------------------------------------------------------------
@dataclass
class Recorder:
    """Answers every request with `status` and `body`; keeps what it received."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"access_token": "tok", "expires_in": 3600})
    headers: dict[str, str] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.received.append({"method": request.method, "path": request.path,
                                  "form": {k: v for k, v in request.form.items()}})
        response = Response(json.dumps(self.body), status=self.status, mimetype="application/json",
                            headers=self.headers)
        return response(environ, start_response)

    @property
    def assertions(self) -> list[str]:
        return [r["form"]["client_assertion"] for r in self.received if "client_assertion" in r["form"]]


@contextmanager
def recording_server(**kwargs: Any) -> Iterator[Recorder]:
    recorder = Recorder(**kwargs)
    with serve_app(lambda url: recorder) as url:
        recorder.url = url
        yield recorder


# -- a tool served over HTTP -----------------------------------------------------------------------
@dataclass
class Served:
    app: Any
    url: str
    keys_dir: Path


@pytest.fixture
def served(database_url: str, redis_url: str | None, keys_dir: Path, tmp_path: Path) -> Iterator[Served]:
    apps: list[Any] = []

    def tool(url: str) -> Any:
        app = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path, base_url=url))
        apps.append(app)
        return app

    with serve_app(tool) as url:
        app = apps[0]
        try:
            yield Served(app, url, keys_dir)
        finally:
            _truncate(app)
            if redis_url:
                backends.redis_client().flushdb()
            app.extensions["db_engine"].dispose()


def register(app: Any, *, issuer: str, client_id: str, token_url: str, origin: str = "cli",
             status: str = "active", key_set: str | None = None, approved: bool = False,
             auth_audience: str | None = None) -> Registration:
    with app.test_request_context():
        session = get_session()
        add_platform(session, issuer=issuer, client_id=client_id, auth_url=issuer + "/auth",
                     token_url=token_url, jwks_url=issuer + "/jwks", deployment_ids=["d-1"],
                     origin=origin, status=status, key_set=key_set, auth_audience=auth_audience)
        if approved:
            approve_platform(session, issuer, client_id)
        session.commit()
        registration = find_registration(session, issuer, client_id)
    assert registration is not None
    return registration


def fetch_jwks(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code)
    return response.json()  # type: ignore[no-any-return]


def verifies(token: str, jwks: dict[str, Any], audience: str) -> bool:
    """Whether any key of `jwks` verifies `token` — every key is tried, whatever the kid says."""
    for jwk in jwt.PyJWKSet.from_dict(jwks).keys:
        try:
            jwt.decode(token, jwk.key, algorithms=["RS256"], audience=audience)
        except jwt.InvalidSignatureError:
            continue
        return True
    return False


# -- key sets --------------------------------------------------------------------------------------
def test_a_new_key_set_is_private_from_its_creation(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    old_umask = os.umask(0)  # a chmod after writing would leave a window; with umask 0 it shows
    try:
        key_set = new_registration_key_set(keys_dir)
    finally:
        os.umask(old_umask)
    assert keys.KEY_SET_RE.fullmatch(key_set) and len(key_set) == 22
    folder = keys_dir / "registrations" / key_set
    assert stat.S_IMODE((keys_dir / "registrations").stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [pem] = list(folder.glob("*.pem"))
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    store = registration_keys(keys_dir, key_set)
    assert registration_keys(keys_dir, key_set) is store  # loaded once per process
    [public] = store.jwks()["keys"]
    assert public["kid"] == rfc7638_thumbprint(public) == pem.stem
    assert "d" not in public and "p" not in public
    claims = jwt.decode(store.sign({"aud": "x"}), jwt.PyJWK(public).key, algorithms=["RS256"],
                        audience="x")
    assert claims == {"aud": "x"}
    assert new_registration_key_set(keys_dir) != key_set


def test_key_set_published_at_its_own_url_only(app: Any, keys_dir: Path) -> None:
    key_set = new_registration_key_set(keys_dir)
    client = app.test_client()
    response = client.get(f"/lti/keys/{key_set}.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    own = [k["kid"] for k in response.get_json()["keys"]]
    shared = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert len(own) == 1 and shared and not set(own) & set(shared)


@pytest.mark.parametrize("path", [
    "/lti/keys/...json",  # key_set ".." would be keys/ itself: the shared manifest and key
    "/lti/keys/%2e%2e.json",
    "/lti/keys/..%2F..%2Fkeys.json",
    "/lti/keys/registrations.json",
    "/lti/keys/.json",
])
def test_key_set_ids_are_safe_path_components(app: Any, keys_dir: Path, path: str) -> None:
    # Precondition: without the id check, ".." would resolve to a folder holding a key manifest.
    (keys_dir / "registrations").mkdir(mode=0o700, exist_ok=True)
    assert (keys_dir / "registrations" / ".." / "keys.json").is_file()
    cached = len(keys._stores)
    response = app.test_client().get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 404, page[:300]
    assert '"keys"' not in page and "BEGIN" not in page
    assert len(keys._stores) == cached
    for bad in ("..", ".", "", "../keys", "a/b", "x" * 15, "é" * 20, "x" * 65):
        with pytest.raises(UnknownKeySet):
            registration_keys(keys_dir, bad)


def test_unknown_key_set_is_a_clear_404(app: Any) -> None:
    cached = len(keys._stores)
    response = app.test_client().get(f"/lti/keys/{secrets.token_urlsafe(16)}.json")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 404
    assert 'data-error-code="unknown_key_set"' in page
    assert "Ce jeu de clés n'existe pas" in page and "This key set does not exist" in page
    assert len(keys._stores) == cached  # unknown ids are not cached


# -- service calls only for trusted registrations --------------------------------------------------
UNTRUSTED = [
    pytest.param({"origin": "dynamic", "status": "pending"}, id="pending"),
    pytest.param({"origin": "dynamic"}, id="dynamic-not-approved"),
    pytest.param({"origin": "legacy"}, id="legacy"),
    pytest.param({"origin": "invitation", "status": "pending"}, id="invited-but-pending"),
]


@pytest.mark.parametrize("trust", UNTRUSTED)
def test_untrusted_registration_sends_nothing_to_its_token_endpoint(served: Served,
                                                                    trust: dict[str, Any]) -> None:
    """Finding 6 (a): a self-registered platform copying a real client_id, with its own token
    endpoint and the real LMS's token URL as audience, receives no request at all."""
    register(served.app, issuer=REAL_ISSUER, client_id=REAL_CLIENT_ID, token_url=REAL_TOKEN_URL)
    with recording_server() as attacker:
        key_set = new_registration_key_set(served.keys_dir) if trust["origin"] != "legacy" else None
        reg = register(served.app, issuer="https://attacker.test", client_id=REAL_CLIENT_ID,
                       token_url=attacker.url + "/token", auth_audience=REAL_TOKEN_URL,
                       key_set=key_set, **trust)
        assert not reg.trusted_for_services
        with served.app.test_request_context():
            with pytest.raises(ServiceNotAllowed) as refused:
                service_connector(reg).get_access_token(SCOPES)
            assert refused.value.status == 403 and refused.value.code == "service_not_allowed"
            # A worker building the connector itself is refused the same way.
            with pytest.raises(ServiceNotAllowed):
                ToolServiceConnector(reg, signing_keys(None), MemoryTokenCache())
        assert attacker.received == []


@pytest.mark.parametrize("trust", [
    pytest.param({"origin": "cli"}, id="cli"),
    pytest.param({"origin": "invitation"}, id="invitation"),
    pytest.param({"origin": "dynamic", "status": "pending", "approved": True}, id="approved"),
    pytest.param({"origin": "legacy", "approved": True}, id="legacy-approved"),
])
def test_trusted_registrations_call_their_own_token_endpoint(served: Served,
                                                             trust: dict[str, Any]) -> None:
    with recording_server() as platform:
        reg = register(served.app, issuer="https://lms.trusted.test", client_id="c-1",
                       token_url=platform.url + "/token", **trust)
        assert reg.trusted_for_services
        with served.app.test_request_context():
            assert service_connector(reg).get_access_token(SCOPES) == "tok"
        assert [(r["method"], r["path"]) for r in platform.received] == [("POST", "/token")]
        claims = jwt.decode(platform.assertions[0], options={"verify_signature": False})
        assert claims["aud"] == platform.url + "/token"  # no auth_audience: the token URL


def test_assertion_for_one_registration_verifies_for_no_other(served: Served) -> None:
    """Finding 6 (b): even trusted (approved) and with its own key set, the assertion the attacker
    receives — iss/sub the real client_id, aud the real LMS's token URL — verifies neither against
    the shared JWKS nor against the real registration's key set, as fetched from the tool."""
    real_key_set = new_registration_key_set(served.keys_dir)
    register(served.app, issuer=REAL_ISSUER, client_id=REAL_CLIENT_ID, token_url=REAL_TOKEN_URL,
             key_set=real_key_set)
    with recording_server() as attacker:
        attacker_key_set = new_registration_key_set(served.keys_dir)
        reg = register(served.app, issuer="https://attacker.test", client_id=REAL_CLIENT_ID,
                       token_url=attacker.url + "/token", auth_audience=REAL_TOKEN_URL,
                       origin="dynamic", status="pending", approved=True, key_set=attacker_key_set)
        with served.app.test_request_context():
            service_connector(reg).get_access_token(SCOPES)
    [assertion] = attacker.assertions
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert (claims["iss"], claims["sub"], claims["aud"]) == (REAL_CLIENT_ID, REAL_CLIENT_ID,
                                                             REAL_TOKEN_URL)
    shared = fetch_jwks(served.url + "/.well-known/jwks.json")
    real = fetch_jwks(f"{served.url}/lti/keys/{real_key_set}.json")
    own = fetch_jwks(f"{served.url}/lti/keys/{attacker_key_set}.json")
    assert not verifies(assertion, shared, REAL_TOKEN_URL)
    assert not verifies(assertion, real, REAL_TOKEN_URL)
    assert verifies(assertion, own, REAL_TOKEN_URL)  # the check above can fail: it is the key
    assert jwt.get_unverified_header(assertion)["kid"] == own["keys"][0]["kid"]
    # The shared JWKS publishes no registration key.
    assert not {k["kid"] for k in shared["keys"]} & {k["kid"] for k in real["keys"] + own["keys"]}


def test_registration_without_key_set_still_signs_with_the_shared_key(served: Served) -> None:
    with recording_server() as platform:
        reg = register(served.app, issuer="https://lms.shared.test", client_id="c-2",
                       token_url=platform.url + "/token")
        with served.app.test_request_context():
            service_connector(reg).get_access_token(SCOPES)
    shared = fetch_jwks(served.url + "/.well-known/jwks.json")
    assert verifies(platform.assertions[0], shared, platform.url + "/token")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_token_endpoint_redirect_is_not_followed(served: Served, status: int) -> None:
    """A 307/308 would re-post the assertion to wherever the platform points: not followed."""
    with recording_server() as elsewhere:
        with recording_server(status=status, body={},
                              headers={"Location": elsewhere.url + "/token"}) as platform:
            reg = register(served.app, issuer="https://lms.redirect.test", client_id="c-3",
                           token_url=platform.url + "/token")
            with served.app.test_request_context():
                # Refused by the connector, or earlier by the guarded outbound session.
                with pytest.raises((LtiServiceException, http.HttpError)):
                    service_connector(reg).get_access_token(SCOPES)
            assert len(platform.received) == 1
    assert elsewhere.received == []


# -- deep-linking responses ------------------------------------------------------------------------
@pytest.fixture
def minted(app: Any) -> Iterator[MintedPlatform]:
    with minted_platform(app) as p:
        yield p


def test_deep_linking_response_signed_with_the_registration_key_set(app: Any, keys_dir: Path,
                                                                    minted: MintedPlatform) -> None:
    key_set = new_registration_key_set(keys_dir)
    with app.test_request_context():
        session = get_session()
        platform = session.query(Platform).filter_by(issuer=minted.issuer).one()
        platform.key_set = key_set
        session.commit()
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    location = dl_launch(client, minted)
    response = choose(client, location, "case-1")
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    _, token = response_form(response.get_data(as_text=True))
    own = client.get(f"/lti/keys/{key_set}.json").get_json()
    shared = client.get("/.well-known/jwks.json").get_json()
    assert verifies(token, own, minted.issuer)
    assert not verifies(token, shared, minted.issuer)


def test_service_refusal_is_a_bilingual_403_page(app: Any) -> None:
    reg = register(app, issuer="https://lms.pending.test", client_id="c-4",
                   token_url="https://lms.pending.test/token", origin="dynamic", status="pending")

    @app.get("/_test/service")
    def _service() -> Any:
        service_connector(reg)
        return "sent"

    response = app.test_client().get("/_test/service")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 403
    assert 'data-error-code="service_not_allowed"' in page
    assert "approuvée" in page and "approves it" in page


# -- operator visibility ---------------------------------------------------------------------------
def test_keys_list_shows_each_key_set_and_its_registration(database_url: str, redis_url: str | None,
                                                           tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    KeyStore(keys_dir).generate()
    app = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path))
    try:
        used, orphan = new_registration_key_set(keys_dir), new_registration_key_set(keys_dir)
        register(app, issuer="https://lms.keyed.test", client_id="c-5", key_set=used,
                 token_url="https://lms.keyed.test/token")
        register(app, issuer="https://lms.lost.test", client_id="c-6", key_set="L" * 22,
                 token_url="https://lms.lost.test/token")
        out = CliRunner().invoke(main, ["keys", "list"], obj=_script_info(app))
        assert out.exit_code == 0, out.output
        lines = out.output.strip().splitlines()
        assert len(lines) == 4, lines
        assert lines[0].split()[1] == "current"
        kid = registration_keys(keys_dir, used).current().kid
        assert f"registration key set {used}  kid {kid}  used by: https://lms.keyed.test client_id=c-5" \
            in lines
        assert any(line.startswith(f"registration key set {orphan} ") and line.endswith("(none)")
                   for line in lines)
        assert any(("L" * 22) in line and "MISSING" in line and "lms.lost.test" in line for line in lines)
    finally:
        _truncate(app)
        app.extensions["db_engine"].dispose()
