"""The demo LMS as an LTI 1.3 platform, tested over real HTTP against a small fake tool.

`FakeTool` is a test double for these tests only: a tiny Flask app that does the tool's half of
the OIDC launch (login → redirect to the platform's auth endpoint; launch → verify the id_token
with the platform's JWKS), publishes a JWKS, and signs client assertions and deep-linking
responses. The real tool is tested against the demo LMS in its own suites.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import flask
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

from lti_tool.demo import DemoSettings, create_demo_lms
from lti_tool.demo.storage import ScoreRecord
from tests.support.platform_server import LaunchDriver, LaunchError, run_platform, serve_app

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = DL + "deep_linking_settings"
SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = " ".join(
    [
        SCOPE + "lineitem",
        SCOPE + "lineitem.readonly",
        SCOPE + "score",
        SCOPE + "result.readonly",
        SCOPE_NRPS,
    ]
)
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"


def _private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _now() -> int:
    return int(time.time())


class FakeTool:
    """Just enough of an LTI tool to exercise the demo platform (test double)."""

    STATE_COOKIE = "fake_tool_state"

    def __init__(self) -> None:
        self.private_pem = _private_pem()
        jwk = JWK.from_pem(self.private_pem.encode())
        self.kid = jwk.thumbprint()
        self.public_jwk = {
            **json.loads(jwk.export_public()),
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        }
        self.base_url = ""
        self.platform: DemoSettings | None = None
        self.redirect_uri: str | None = None  # None: the registered {tool}/lti/launch
        self.nonces: dict[str, str] = {}
        self.launches: list[dict[str, Any]] = []
        self.login_params: list[dict[str, str]] = []

    # -- the tool's HTTP side -------------------------------------------------------------------
    def app(self, base_url: str) -> flask.Flask:
        self.base_url = base_url
        app = flask.Flask("fake_tool")

        @app.route("/lti/login", methods=["GET", "POST"])
        def login() -> flask.Response:
            params = flask.request.values.to_dict()
            self.login_params.append(params)
            assert self.platform is not None
            if (
                params.get("iss") != self.platform.issuer
                or params.get("client_id") != self.platform.client_id
            ):
                return flask.Response("unknown platform", 400)
            state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
            self.nonces[state] = nonce
            query = {
                "scope": "openid",
                "response_type": "id_token",
                "response_mode": "form_post",
                "prompt": "none",
                "client_id": self.platform.client_id,
                "redirect_uri": self.redirect_uri or f"{base_url}/lti/launch",
                "login_hint": params["login_hint"],
                "lti_message_hint": params["lti_message_hint"],
                "state": state,
                "nonce": nonce,
            }
            resp = flask.make_response(
                flask.redirect(f"{self.platform.auth_url}?{urlencode(query)}")
            )
            resp.set_cookie(self.STATE_COOKIE, state, secure=True, httponly=True, samesite="None")
            return resp

        @app.post("/lti/launch")
        def launch() -> flask.Response:
            assert self.platform is not None
            state = flask.request.form.get("state", "")
            if flask.request.cookies.get(self.STATE_COOKIE) != state:
                return flask.Response("state cookie mismatch", 400)
            nonce = self.nonces.pop(state, None)
            if nonce is None:
                return flask.Response("unknown or used state", 400)
            try:
                claims = self.verify_id_token(flask.request.form["id_token"])
            except jwt.PyJWTError as exc:
                return flask.Response(f"invalid id_token: {exc}", 401)
            if claims.get("nonce") != nonce:
                return flask.Response("nonce mismatch", 401)
            self.launches.append(claims)
            return flask.jsonify(claims)

        @app.get("/.well-known/jwks.json")
        def jwks() -> flask.Response:
            return flask.jsonify({"keys": [self.public_jwk]})

        @app.get("/storage-probe")
        def storage_probe() -> flask.Response:
            return flask.Response(STORAGE_PROBE_PAGE, mimetype="text/html")

        return app

    def verify_id_token(self, token: str) -> dict[str, Any]:
        """What a tool does: the platform's key by kid from its JWKS, RS256, aud, iss, exp."""
        assert self.platform is not None
        keys = requests.get(self.platform.jwks_url, timeout=5).json()
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next(k for k in keys["keys"] if k["kid"] == kid)
        return jwt.decode(
            token,
            jwt.PyJWK(jwk).key,
            algorithms=["RS256"],
            audience=self.platform.client_id,
            issuer=self.platform.issuer,
            options={"require": ["exp", "iat", "nonce", "sub"]},
        )

    # -- what the tool signs --------------------------------------------------------------------
    def sign(
        self, payload: dict[str, Any], *, key_pem: str | None = None, kid: str | None = None
    ) -> str:
        return jwt.encode(
            payload,
            key_pem or self.private_pem,
            algorithm="RS256",
            headers={"kid": kid or self.kid},
        )

    def client_assertion(self, **changes: Any) -> str:
        assert self.platform is not None
        payload: dict[str, Any] = {
            "iss": self.platform.client_id,
            "sub": self.platform.client_id,
            "aud": self.platform.token_url,
            "iat": _now(),
            "exp": _now() + 300,
            "jti": str(uuid.uuid4()),
        }
        key_pem = changes.pop("key_pem", None)
        payload.update(changes)
        return self.sign({k: v for k, v in payload.items() if v is not None}, key_pem=key_pem)

    def deep_linking_response(
        self, request_claims: dict[str, Any], items: list[dict[str, Any]], **changes: Any
    ) -> str:
        assert self.platform is not None
        payload: dict[str, Any] = {
            "iss": self.platform.client_id,
            "aud": self.platform.issuer,
            "iat": _now(),
            "exp": _now() + 300,
            "nonce": secrets.token_urlsafe(12),
            LTI + "deployment_id": request_claims[LTI + "deployment_id"],
            LTI + "message_type": "LtiDeepLinkingResponse",
            LTI + "version": "1.3.0",
            DL + "content_items": items,
            DL + "data": request_claims[DL_SETTINGS]["data"],
            DL + "msg": "Activité ajoutée",
        }
        key_pem = changes.pop("key_pem", None)
        payload.update(changes)
        return self.sign({k: v for k, v in payload.items() if v is not None}, key_pem=key_pem)


STORAGE_PROBE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>probe</title></head>
<body><script>
window.probe = function (messages) {
  return new Promise(function (resolve) {
    var got = {};
    window.addEventListener("message", function (event) {
      if (event.source !== window.parent) { return; }
      got[event.data.message_id] = { data: event.data, origin: event.origin };
      if (Object.keys(got).length === messages.length) { resolve(got); }
    });
    messages.forEach(function (m) { window.parent.postMessage(m, "*"); });
    setTimeout(function () { resolve(got); }, 3000);
  });
};
</script></body></html>"""


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def fake_tool() -> Iterator[FakeTool]:
    tool = FakeTool()
    with serve_app(tool.app):
        yield tool


def _platform(fake_tool: FakeTool, tmp_path: Path, **extra: Any) -> DemoSettings:
    return DemoSettings(
        base_url="http://127.0.0.1:0",
        tool_base_url=fake_tool.base_url,
        keys_dir=tmp_path / "keys" / "demo-platform",
        allow_test_overrides=True,
        **extra,
    )


@pytest.fixture
def lms(fake_tool: FakeTool, tmp_path: Path) -> Iterator[DemoSettings]:
    settings = _platform(fake_tool, tmp_path)
    with run_platform(settings) as url:
        fake_tool.platform = dataclasses.replace(settings, base_url=url)
        yield fake_tool.platform


@pytest.fixture
def browser(lms: DemoSettings) -> Iterator[LaunchDriver]:
    with LaunchDriver(lms.base_url) as driver:
        yield driver


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _token(
    http: requests.Session, lms: DemoSettings, tool: FakeTool, scope: str = ALL_SCOPES
) -> str:
    resp = http.post(
        lms.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": tool.client_assertion(),
            "scope": scope,
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]  # type: ignore[no-any-return]


def _bearer(token: str, content_type: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def _score(user_id: str, timestamp: str, **extra: Any) -> dict[str, Any]:
    return {
        "userId": user_id,
        "timestamp": timestamp,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "scoreGiven": 8,
        "scoreMaximum": 10,
        **extra,
    }


# -- launches ----------------------------------------------------------------------------------
def test_learner_launch_is_signed_by_the_platform_jwks_and_carries_the_claims(
    browser: LaunchDriver, lms: DemoSettings, fake_tool: FakeTool, http: requests.Session
) -> None:
    trace = browser.launch("learner")

    assert trace.response.status_code == 200, trace.response.text
    assert trace.form_action == lms.tool_launch_url
    # Verified independently of the fake tool: the JWKS key whose kid the header names.
    jwks = http.get(lms.jwks_url, timeout=5).json()
    header = jwt.get_unverified_header(trace.id_token)
    assert header["alg"] == "RS256" and header["kid"] in {k["kid"] for k in jwks["keys"]}
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    claims = jwt.decode(
        trace.id_token, key, algorithms=["RS256"], audience=lms.client_id, issuer=lms.issuer
    )

    assert claims["nonce"] == trace.auth_params["nonce"]
    assert claims["sub"] == "demo-user-alex-tremblay"
    assert claims["name"] == "Alex Tremblay" and claims["email"] == "alex.tremblay@example.org"
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == lms.deployment_id
    assert claims[LTI + "roles"] == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
    assert claims[LTI + "resource_link"]["id"] == "rl-niveau-architecte"
    assert claims[LTI + "resource_link"]["title"] == "Niveau Architecte"
    assert claims[LTI + "context"]["title"] == "Formation SEXTO — démo"
    assert claims[LTI + "target_link_uri"] == lms.tool_launch_url
    assert claims[LTI + "launch_presentation"]["locale"] == "fr-CA"
    assert claims[LTI + "custom"] == {"sexto_level": "architecte"}
    ags = claims[AGS]
    assert set(ags["scope"]) == {
        SCOPE + s for s in ("lineitem", "lineitem.readonly", "score", "result.readonly")
    }
    assert ags["lineitems"] == f"{lms.base_url}/api/lti/contexts/demo-course-sexto/lineitems"
    assert ags["lineitem"] == ags["lineitems"] + "/li-niveau-architecte"
    assert (
        claims[NRPS]["context_memberships_url"]
        == f"{lms.base_url}/api/lti/contexts/demo-course-sexto/memberships"
    )
    assert fake_tool.launches == [claims]


def test_login_initiation_carries_the_oidc_parameters_and_storage_target(
    browser: LaunchDriver, lms: DemoSettings
) -> None:
    trace = browser.launch("instructor", locale="en")

    assert trace.response.status_code == 200, trace.response.text
    assert trace.login_url.startswith(lms.tool_login_url + "?")
    assert trace.login_params == {
        "iss": lms.issuer,
        "target_link_uri": lms.tool_launch_url,
        "login_hint": "demo-user-camille-roy",
        "lti_message_hint": trace.login_params["lti_message_hint"],
        "client_id": lms.client_id,
        "lti_deployment_id": lms.deployment_id,
        "lti_storage_target": "_parent",
    }
    claims = trace.claims
    assert claims[LTI + "roles"] == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
    assert claims[LTI + "launch_presentation"]["locale"] == "en"


def test_storage_target_can_be_switched_off(fake_tool: FakeTool, tmp_path: Path) -> None:
    settings = _platform(fake_tool, tmp_path, storage_target=None)
    with run_platform(settings) as url, LaunchDriver(url) as driver:
        fake_tool.platform = dataclasses.replace(settings, base_url=url)
        trace = driver.launch("learner")
        page = driver.session.get(url + "/", timeout=5).text
    assert trace.response.status_code == 200
    assert "lti_storage_target" not in trace.login_params
    assert "platform-storage.js" not in page


def test_redirect_uri_other_than_the_registered_launch_url_is_refused(
    browser: LaunchDriver, fake_tool: FakeTool
) -> None:
    fake_tool.redirect_uri = fake_tool.base_url + "/lti/launch/elsewhere"

    with pytest.raises(LaunchError) as caught:
        browser.launch("learner")

    assert caught.value.step == "platform authentication"
    assert caught.value.response.status_code == 400
    assert "redirect_uri" in caught.value.response.text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("response_type", "code"),
        ("scope", "profile"),
        ("response_mode", "query"),
        ("client_id", "someone-else"),
        ("nonce", None),
        ("login_hint", "demo-user-camille-roy"),  # not the user who started the launch
    ],
)
def test_bad_authentication_requests_are_refused(
    browser: LaunchDriver, lms: DemoSettings, name: str, value: str | None
) -> None:
    started = browser.request_launch("learner")
    auth_url = browser.login(started["login_url"])
    params = dict(parse_qsl(urlsplit(auth_url).query))
    if value is None:
        del params[name]
    else:
        params[name] = value

    resp = browser.session.get(lms.auth_url, params=params, timeout=5)

    assert resp.status_code == 400
    assert name in resp.text


def test_a_message_hint_is_used_once(browser: LaunchDriver, lms: DemoSettings) -> None:
    trace = browser.launch("learner")
    assert trace.response.status_code == 200

    again = browser.session.get(trace.auth_url, timeout=5)

    assert again.status_code == 400
    assert "lti_message_hint" in again.text


def test_the_authentication_endpoint_also_accepts_post(
    browser: LaunchDriver, lms: DemoSettings
) -> None:
    started = browser.request_launch("learner")
    auth_url = browser.login(started["login_url"])

    resp = browser.session.post(
        lms.auth_url, data=dict(parse_qsl(urlsplit(auth_url).query)), timeout=5
    )

    assert resp.status_code == 200
    assert 'name="id_token"' in resp.text
    assert resp.headers["Cache-Control"] == "no-store"


def test_a_replayed_id_token_reaches_the_tool_again_for_the_tool_to_refuse(
    browser: LaunchDriver,
) -> None:
    trace = browser.launch("learner")
    assert trace.response.status_code == 200

    replay = browser.replay(trace)

    assert replay.status_code == 400  # the fake tool consumed its state; the real one must too


def test_test_overrides_shape_the_id_token(browser: LaunchDriver) -> None:
    no_kid = browser.launch("learner", headers={"kid": None})
    assert "kid" not in jwt.get_unverified_header(no_kid.id_token)

    unsigned = browser.launch("learner", alg="none")
    assert jwt.get_unverified_header(unsigned.id_token)["alg"] == "none"
    assert unsigned.id_token.endswith(".")

    forged = browser.launch("learner", foreign_key=True)
    assert forged.response.status_code == 401  # the fake tool's signature check caught it

    changed = browser.launch("learner", claims={LTI + "version": "1.1", LTI + "roles": None})
    assert changed.claims[LTI + "version"] == "1.1"
    assert LTI + "roles" not in changed.claims


def test_overrides_are_refused_unless_switched_on(fake_tool: FakeTool, tmp_path: Path) -> None:
    settings = dataclasses.replace(_platform(fake_tool, tmp_path), allow_test_overrides=False)
    with run_platform(settings) as url, LaunchDriver(url) as driver:
        with pytest.raises(LaunchError) as caught:
            driver.request_launch("learner", claims={"sub": "someone"})
    assert caught.value.response.status_code == 403


def test_only_the_instructor_runs_deep_linking(browser: LaunchDriver) -> None:
    with pytest.raises(LaunchError) as caught:
        browser.request_launch("learner", deep_linking=True)
    assert caught.value.response.status_code == 400


# -- token endpoint ----------------------------------------------------------------------------
def _token_request(
    http: requests.Session, lms: DemoSettings, assertion: str, **form: str
) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": ALL_SCOPES,
        **form,
    }
    return http.post(lms.token_url, data=data, timeout=10)


def test_token_endpoint_issues_a_token_for_a_good_assertion(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    resp = _token_request(http, lms, fake_tool.client_assertion())

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == set(ALL_SCOPES.split())
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "changes",
    [
        {"key_pem": _private_pem()},  # signed with a key the tool does not publish
        {"aud": "https://elsewhere.example/token"},
        {"iss": "another-client", "sub": "another-client"},
        {"exp": _now() - 10},
        {"jti": None},
        {"iat": _now() + 3600},
    ],
    ids=["foreign-key", "wrong-aud", "wrong-client", "expired", "no-jti", "iat-future"],
)
def test_token_endpoint_rejects_bad_assertions(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool, changes: dict[str, Any]
) -> None:
    resp = _token_request(http, lms, fake_tool.client_assertion(**changes))

    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"


def test_token_endpoint_rejects_a_reused_jti(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    first = _token_request(http, lms, fake_tool.client_assertion(jti="once-only"))
    second = _token_request(http, lms, fake_tool.client_assertion(jti="once-only"))

    assert first.status_code == 200
    assert second.status_code == 401
    assert "jti" in second.json()["error_description"]


def test_token_endpoint_rejects_malformed_requests(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    assert _token_request(http, lms, fake_tool.client_assertion(), grant_type="password").json()[
        "error"
    ] == ("unsupported_grant_type")
    assert _token_request(http, lms, "not-a-jwt").status_code == 401
    assert (
        _token_request(
            http, lms, fake_tool.client_assertion(), scope="https://example.org/other"
        ).json()["error"]
        == "invalid_scope"
    )
    missing = http.post(lms.token_url, data={"grant_type": "client_credentials"}, timeout=5)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


# -- AGS ---------------------------------------------------------------------------------------
def test_scores_need_strictly_increasing_timestamps_and_show_as_results(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool, browser: LaunchDriver
) -> None:
    lineitem = browser.launch("learner").claims[AGS]["lineitem"]
    token = _token(http, lms, fake_tool)
    alex = "demo-user-alex-tremblay"

    def post(score: dict[str, Any]) -> requests.Response:
        return http.post(
            lineitem + "/scores", json=score, headers=_bearer(token, SCORE_TYPE), timeout=5
        )

    assert (
        post(_score(alex, "2026-03-01T10:00:00+00:00", comment="Badge : admissible")).status_code
        == 200
    )
    assert post(_score(alex, "2026-03-01T10:00:00+00:00")).status_code == 409  # same instant
    assert post(_score(alex, "2026-03-01T05:59:59-04:00")).status_code == 409  # earlier, other zone
    assert post(_score(alex, "2026-03-01T10:00:01Z", scoreGiven=9)).status_code == 200

    results = http.get(lineitem + "/results", headers=_bearer(token), timeout=5)
    assert results.status_code == 200
    assert results.headers["Content-Type"].startswith(
        "application/vnd.ims.lis.v2.resultcontainer+json"
    )
    [result] = results.json()
    assert result["userId"] == alex and result["resultScore"] == pytest.approx(90.0)
    assert result["resultMaximum"] == 100 and result["scoreOf"] == lineitem

    state = browser.state()
    assert [s["score_given"] for s in state["scores"]] == [8, 9]
    assert state["scores"][0]["comment"] == "Badge : admissible"
    page = http.get(lms.base_url + "/", timeout=5).text
    assert "Badge : admissible" in page and "Alex Tremblay" in page


@pytest.mark.parametrize(
    ("score", "why"),
    [
        (
            _score("demo-user-camille-roy", "2026-03-01T10:00:00Z"),
            "gradable",
        ),  # Moodle: teacher → 400
        (_score("nobody", "2026-03-01T10:00:00Z"), "member"),
        (_score("demo-user-alex-tremblay", "2026-03-01T10:00:00"), "time zone"),
        (
            _score("demo-user-alex-tremblay", "2026-03-01T10:00:00Z", activityProgress="Done"),
            "activityProgress",
        ),
        (
            {"userId": "demo-user-alex-tremblay", "timestamp": "2026-03-01T10:00:00Z"},
            "activityProgress",
        ),
    ],
)
def test_invalid_scores_are_refused(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool, score: dict[str, Any], why: str
) -> None:
    token = _token(http, lms, fake_tool)
    url = f"{lms.base_url}/api/lti/contexts/demo-course-sexto/lineitems/li-niveau-architecte/scores"

    resp = http.post(url, json=score, headers=_bearer(token, SCORE_TYPE), timeout=5)

    assert resp.status_code == 400
    assert why in resp.json()["error_description"]


def test_services_check_the_bearer_token_and_its_scopes(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    lineitems = f"{lms.base_url}/api/lti/contexts/demo-course-sexto/lineitems"
    score_only = _token(http, lms, fake_tool, scope=SCOPE + "score")

    assert http.get(lineitems, timeout=5).status_code == 401
    assert http.get(lineitems, headers=_bearer("not.a.token"), timeout=5).status_code == 401
    forbidden = http.get(lineitems, headers=_bearer(score_only), timeout=5)
    assert forbidden.status_code == 403
    assert 'error="insufficient_scope"' in forbidden.headers["WWW-Authenticate"]
    assert (
        http.get(
            lineitems.replace("demo-course-sexto", "other"), headers=_bearer(score_only), timeout=5
        ).status_code
        == 404
    )


def test_line_items_list_create_get_and_page_with_a_quoted_link_header(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    token = _token(http, lms, fake_tool)
    lineitems = f"{lms.base_url}/api/lti/contexts/demo-course-sexto/lineitems"
    created = http.post(
        lineitems,
        json={
            "label": "Cas 1",
            "scoreMaximum": 10,
            "resourceId": "cas-1",
            "tag": "case",
            "resourceLinkId": "rl-niveau-architecte",
        },
        headers=_bearer(token, LINEITEM_TYPE),
        timeout=5,
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["id"].startswith(lineitems + "/") and item["label"] == "Cas 1"
    assert http.get(item["id"], headers=_bearer(token), timeout=5).json() == item
    assert http.get(lineitems + "/li-nope", headers=_bearer(token), timeout=5).status_code == 404
    bad = http.post(
        lineitems,
        json={"label": "x", "scoreMaximum": 0},
        headers=_bearer(token, LINEITEM_TYPE),
        timeout=5,
    )
    assert bad.status_code == 400

    everything = http.get(lineitems, headers=_bearer(token), timeout=5).json()
    assert {i["label"] for i in everything} == {"Niveau Architecte", "Cas 1"}
    assert [
        i["label"]
        for i in http.get(
            lineitems, params={"tag": "case"}, headers=_bearer(token), timeout=5
        ).json()
    ] == ["Cas 1"]

    first = http.get(lineitems, params={"limit": 1}, headers=_bearer(token), timeout=5)
    assert len(first.json()) == 1
    assert first.links["next"]["url"].startswith(lineitems + "?")
    assert first.headers["Link"].endswith('; rel="next"')
    second = http.get(first.links["next"]["url"], headers=_bearer(token), timeout=5)
    assert second.status_code == 200 and "next" not in second.links
    assert {i["label"] for i in first.json() + second.json()} == {"Niveau Architecte", "Cas 1"}


def test_results_page_without_the_library_failure(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    token = _token(http, lms, fake_tool)
    item = f"{lms.base_url}/api/lti/contexts/demo-course-sexto/lineitems/li-niveau-architecte"
    http.post(
        item + "/scores",
        json=_score("demo-user-alex-tremblay", "2026-03-01T10:00:00Z"),
        headers=_bearer(token, SCORE_TYPE),
        timeout=5,
    )

    resp = http.get(
        item + "/results", params={"limit": 1, "page": 1}, headers=_bearer(token), timeout=5
    )

    assert resp.status_code == 200 and len(resp.json()) == 1
    assert (
        http.get(
            item + "/results", params={"page": "x"}, headers=_bearer(token), timeout=5
        ).status_code
        == 400
    )


def test_results_paging_follows_quoted_next_links(fake_tool: FakeTool, tmp_path: Path) -> None:
    """lti1p3platform adds 1 to the page read from the query string (a str): the front passes
    an int, and the Link header is quoted. Three results need users the course does not have,
    so they go straight into the store of an app driven in-process."""
    settings = _platform(fake_tool, tmp_path)
    fake_tool.platform = settings
    app = create_demo_lms(settings)
    store = app.extensions["sexto_demo_lms"].store
    when = datetime(2026, 3, 1, 10, tzinfo=UTC)
    for user in ("user-1", "user-2", "user-3"):
        store.record_score(
            ScoreRecord(
                line_item_id="li-niveau-architecte",
                user_id=user,
                timestamp=when.isoformat(),
                activity_progress="Completed",
                grading_progress="FullyGraded",
                score_given=5,
                score_maximum=10,
            ),
            when,
        )
    client = app.test_client()
    token = client.post(
        "/lti/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": fake_tool.client_assertion(),
            "scope": SCOPE + "result.readonly",
        },
    ).get_json()["access_token"]
    path = "/api/lti/contexts/demo-course-sexto/lineitems/li-niveau-architecte/results"

    seen: list[str] = []
    url: str | None = f"{path}?limit=2"
    pages = 0
    while url:
        resp = client.get(url, headers=_bearer(token))
        assert resp.status_code == 200, resp.text
        seen += [r["userId"] for r in resp.get_json()]
        link = resp.headers.get("Link")
        if link:
            assert link.endswith('>; rel="next"')
            target = urlsplit(link[1 : link.index(">")])
            url = f"{target.path}?{target.query}"
        else:
            url = None
        pages += 1

    assert pages == 2
    assert sorted(seen) == ["user-1", "user-2", "user-3"]
    assert all(r["resultScore"] == 50 for r in client.get(path, headers=_bearer(token)).get_json())


def test_nrps_lists_the_course_members(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    token = _token(http, lms, fake_tool, scope=SCOPE_NRPS)
    url = f"{lms.base_url}/api/lti/contexts/demo-course-sexto/memberships"

    resp = http.get(url, headers=_bearer(token), timeout=5)

    assert resp.status_code == 200
    body = resp.json()
    assert body["context"]["id"] == "demo-course-sexto"
    roles = {m["name"]: m["roles"] for m in body["members"]}
    assert roles == {
        "Alex Tremblay": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        "Jade Morin": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        "Camille Roy": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
    }
    learners = http.get(url, params={"role": "Learner"}, headers=_bearer(token), timeout=5).json()
    assert [m["user_id"] for m in learners["members"]] == [
        "demo-user-alex-tremblay", "demo-user-jade-morin"]


# -- deep linking ------------------------------------------------------------------------------
def _deep_linking_request(browser: LaunchDriver) -> dict[str, Any]:
    trace = browser.launch("instructor", deep_linking=True)
    assert trace.response.status_code == 200, trace.response.text
    return trace.claims


def test_deep_linking_request_claims(browser: LaunchDriver, lms: DemoSettings) -> None:
    claims = _deep_linking_request(browser)

    assert claims[LTI + "message_type"] == "LtiDeepLinkingRequest"
    assert LTI + "resource_link" not in claims
    settings = claims[DL_SETTINGS]
    assert settings["accept_types"] == ["ltiResourceLink"]
    assert settings["accept_multiple"] is True
    assert settings["deep_link_return_url"] == lms.deep_linking_return_url
    assert settings["data"]
    assert claims[AGS]["lineitems"].endswith("/lineitems") and "lineitem" not in claims[AGS]


def test_deep_linking_response_creates_launchable_links_with_line_items(
    browser: LaunchDriver, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    request_claims = _deep_linking_request(browser)
    items: list[dict[str, Any]] = [
        {
            "type": "ltiResourceLink",
            "title": "Cas 1 — Le signalement",
            "url": lms.tool_launch_url,
            "custom": {"sexto_case": "cas-1"},
            "lineItem": {
                "label": "Cas 1",
                "scoreMaximum": 10,
                "resourceId": "cas-1",
                "tag": "case",
            },
        },
        {"type": "ltiResourceLink", "title": "Niveau complet"},
    ]
    response_jwt = fake_tool.deep_linking_response(request_claims, items)

    resp = browser.session.post(lms.deep_linking_return_url, data={"JWT": response_jwt}, timeout=5)

    assert resp.status_code == 200, resp.text
    assert "Cas 1 — Le signalement" in resp.text and "Activité ajoutée" in resp.text
    assert resp.text.count("<h1") == 1 and "2 activités ajoutées au cours" in resp.text
    state = browser.state()
    created = [rl for rl in state["resource_links"] if rl["from_deep_linking"]]
    assert [rl["title"] for rl in created] == ["Cas 1 — Le signalement", "Niveau complet"]
    case_link = created[0]
    assert case_link["custom"] == {"sexto_case": "cas-1"}
    line_item = next(li for li in state["line_items"] if li["id"] == case_link["line_item_id"])
    assert (
        line_item["label"],
        line_item["score_maximum"],
        line_item["resource_id"],
        line_item["tag"],
    ) == (
        "Cas 1",
        10,
        "cas-1",
        "case",
    )
    assert created[1]["line_item_id"] is None
    assert "Cas 1 — Le signalement" in browser.session.get(lms.base_url + "/", timeout=5).text

    launched = browser.launch("learner", resource_link_id=case_link["id"])
    assert launched.response.status_code == 200
    assert launched.claims[LTI + "resource_link"]["id"] == case_link["id"]
    assert launched.claims[LTI + "custom"] == {"sexto_case": "cas-1"}
    assert launched.claims[AGS]["lineitem"] == line_item["url"]

    replayed = browser.session.post(
        lms.deep_linking_return_url, data={"JWT": response_jwt}, timeout=5
    )
    assert replayed.status_code == 400 and "data" in replayed.text


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"key_pem": _private_pem()}, "Signature"),
        ({"aud": "https://someone-else.example"}, "aud"),
        ({LTI + "message_type": "LtiResourceLinkRequest"}, "Deep Linking Response"),
        ({DL + "data": "forged"}, "data"),
        ({"nonce": None}, "nonce"),
        ({LTI + "deployment_id": "other"}, "deployment_id"),
        ({"exp": _now() - 60}, "expired"),
    ],
    ids=["foreign-key", "aud", "message-type", "data", "nonce", "deployment", "expired"],
)
def test_bad_deep_linking_responses_are_refused(
    browser: LaunchDriver, lms: DemoSettings, fake_tool: FakeTool, changes: dict[str, Any], why: str
) -> None:
    request_claims = _deep_linking_request(browser)
    token = fake_tool.deep_linking_response(
        request_claims, [{"type": "ltiResourceLink", "title": "X"}], **changes
    )

    resp = browser.session.post(lms.deep_linking_return_url, data={"JWT": token}, timeout=5)

    assert resp.status_code == 400
    assert why in resp.text
    assert not [rl for rl in browser.state()["resource_links"] if rl["from_deep_linking"]]


def test_deep_linking_items_must_be_resource_links_on_the_tool(
    browser: LaunchDriver, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    claims = _deep_linking_request(browser)
    html_item = fake_tool.deep_linking_response(claims, [{"type": "html", "html": "<p>x</p>"}])
    assert (
        browser.session.post(
            lms.deep_linking_return_url, data={"JWT": html_item}, timeout=5
        ).status_code
        == 400
    )

    claims = _deep_linking_request(browser)
    elsewhere = fake_tool.deep_linking_response(
        claims, [{"type": "ltiResourceLink", "url": "https://evil.example/lti/launch"}]
    )
    resp = browser.session.post(lms.deep_linking_return_url, data={"JWT": elsewhere}, timeout=5)
    assert resp.status_code == 400 and "tool" in resp.text


# -- pages, keys, persistence ------------------------------------------------------------------
def test_home_page_is_marked_as_a_demo_and_offers_the_launches(
    http: requests.Session, lms: DemoSettings
) -> None:
    resp = http.get(lms.base_url + "/", timeout=5)

    assert resp.status_code == 200
    page = resp.text
    assert "DÉMO" in page and "DEMO" in page and "Not for production use" in page
    assert "Formation SEXTO — démo" in page and "Alex Tremblay" in page and "Camille Roy" in page
    assert "Niveau Architecte" in page and 'value="deep_linking"' in page
    assert 'name="tool-frame"' in page and "platform-storage.js" in page
    csp = resp.headers["Content-Security-Policy"]
    assert (
        f"frame-src 'self' {lms.tool_base_url}" in csp
        and f"form-action 'self' {lms.tool_base_url}" in csp
    )
    js = http.get(lms.base_url + "/static/demo/platform-storage.js", timeout=5)
    assert js.status_code == 200 and "lti.put_data" in js.text


def test_favicon_and_its_link_are_served(http: requests.Session, lms: DemoSettings) -> None:
    home = http.get(lms.base_url + "/", timeout=5).text
    assert 'rel="icon" href="/static/demo/favicon.svg"' in home
    svg = http.get(lms.base_url + "/static/demo/favicon.svg", timeout=5)
    assert svg.status_code == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    ico = http.get(lms.base_url + "/favicon.ico", timeout=5)
    assert ico.status_code == 200 and ico.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_a_page_in_the_tool_frame_shows_a_demo_tag_not_a_second_banner(
    http: requests.Session, lms: DemoSettings
) -> None:
    whole = http.post(lms.base_url + "/launch", data={"user": "nobody"}, timeout=5)
    framed = http.post(lms.base_url + "/launch", data={"user": "nobody"}, timeout=5,
                       headers={"Sec-Fetch-Dest": "iframe"})
    assert whole.status_code == framed.status_code == 400
    assert 'class="demo-banner"' in whole.text and 'class="demo-tag"' not in whole.text
    assert 'class="demo-banner"' not in framed.text and 'class="demo-tag"' in framed.text
    assert "DÉMO" in framed.text and "DEMO" in framed.text  # still marked as a demo


def test_page_launch_button_redirects_the_frame_to_the_tool_login(
    http: requests.Session, lms: DemoSettings
) -> None:
    resp = http.post(
        lms.base_url + "/launch",
        data={
            "user": "learner",
            "kind": "resource_link",
            "link": "rl-niveau-architecte",
            "locale": "en",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith(lms.tool_login_url + "?")
    assert (
        http.post(lms.base_url + "/launch", data={"user": "nobody"}, timeout=5).status_code == 400
    )


def test_keys_are_generated_once_and_kept(fake_tool: FakeTool, tmp_path: Path) -> None:
    settings = _platform(fake_tool, tmp_path)
    kids = []
    for _ in range(2):
        with run_platform(settings) as url, requests.Session() as s:
            kids.append(s.get(url + "/lti/jwks.json", timeout=5).json()["keys"][0]["kid"])
    assert kids[0] == kids[1]
    private = settings.keys_dir / "private.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    assert (settings.keys_dir / ".gitignore").read_text().strip().endswith("*")


def test_scores_and_links_persist_in_the_state_file(fake_tool: FakeTool, tmp_path: Path) -> None:
    settings = _platform(fake_tool, tmp_path, state_file=tmp_path / "demo-state.json")
    for timestamp, expected in (("2026-03-01T10:00:00Z", 200), ("2026-03-01T09:00:00Z", 409)):
        with run_platform(settings) as url, requests.Session() as http:
            fake_tool.platform = dataclasses.replace(settings, base_url=url)
            token = _token(http, fake_tool.platform, fake_tool)
            item = f"{url}/api/lti/contexts/demo-course-sexto/lineitems/li-niveau-architecte"
            resp = http.post(
                item + "/scores",
                json=_score("demo-user-alex-tremblay", timestamp),
                headers=_bearer(token, SCORE_TYPE),
                timeout=5,
            )
            assert resp.status_code == expected  # the restart kept the first score's timestamp
            assert len(http.get(url + "/demo/api/state", timeout=5).json()["scores"]) == 1


def test_the_demo_is_not_part_of_the_tool_package_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lti_tool\n"
        "print('lti_tool.demo' in sys.modules, 'lti1p3platform' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout.split() == ["False", "False"]


# -- Platform Storage in a real browser --------------------------------------------------------
@pytest.mark.browser
def test_platform_storage_messages_in_chromium(lms: DemoSettings, fake_tool: FakeTool) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(lms.base_url + "/")
            page.evaluate(
                "url => { document.getElementById('tool-frame').src = url; }",
                fake_tool.base_url + "/storage-probe",
            )
            frame = page.frame_locator("#tool-frame")  # wait until the probe page is in
            frame.locator("body").wait_for(state="attached")
            probe = next(f for f in page.frames if f.url.startswith(fake_tool.base_url))
            probe.wait_for_function("typeof window.probe === 'function'")
            got = probe.evaluate(
                """() => window.probe([
                    {subject: 'lti.capabilities', message_id: 'm-cap'},
                    {subject: 'lti.put_data', message_id: 'm-put', key: 'state-abc',
                     value: 'nonce-123'},
                    {subject: 'lti.get_data', message_id: 'm-get', key: 'state-abc'},
                    {subject: 'lti.get_data', message_id: 'm-missing', key: 'never-stored'},
                    {subject: 'lti.put_data', message_id: 'm-nokey', value: 'x'},
                    {subject: 'lti.launch_in_space', message_id: 'm-unknown'},
                    {subject: 'org.imsglobal.lti.get_data', message_id: 'm-old', key: 'state-abc'}
                ])"""
            )
            # A window other than the tool frame (here the page itself) gets no answer.
            stray = page.evaluate(
                """() => new Promise(resolve => {
                    let answered = false;
                    window.addEventListener('message', e => {
                        if (e.data && e.data.subject === 'lti.capabilities.response') {
                            answered = true;
                        }
                    });
                    window.postMessage({subject: 'lti.capabilities', message_id: 'stray'}, '*');
                    setTimeout(() => resolve(answered), 500);
                })"""
            )
        finally:
            browser.close()

    origin = lms.base_url
    assert {m["origin"] for m in got.values()} == {origin}
    cap = got["m-cap"]["data"]
    assert cap["subject"] == "lti.capabilities.response"
    assert {"subject": "lti.put_data", "frame": "_parent"} in cap["supported_messages"]
    assert {"subject": "lti.get_data", "frame": "_parent"} in cap["supported_messages"]
    assert got["m-put"]["data"] == {
        "subject": "lti.put_data.response",
        "message_id": "m-put",
        "key": "state-abc",
        "value": "nonce-123",
    }
    assert got["m-get"]["data"]["value"] == "nonce-123"
    assert got["m-missing"]["data"]["value"] is None
    assert got["m-nokey"]["data"]["error"]["code"] == "bad_request"
    assert got["m-unknown"]["data"]["error"]["code"] == "unsupported_subject"
    assert got["m-old"]["data"] == {
        "subject": "org.imsglobal.lti.get_data.response",
        "message_id": "m-old",
        "key": "state-abc",
        "value": "nonce-123",
    }
    assert stray is False


@pytest.mark.browser
def test_iframe_launch_in_chromium(lms: DemoSettings, fake_tool: FakeTool) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(lms.base_url + "/")
            page.select_option("#launch-locale", "en")
            page.locator("li[data-link-id='rl-niveau-architecte'] button").first.click()
            page.wait_for_function(
                "url => Array.from(window.frames).length > 0", arg=fake_tool.base_url
            )
            deadline = time.time() + 10
            while not fake_tool.launches and time.time() < deadline:
                page.wait_for_timeout(100)
        finally:
            browser.close()

    assert len(fake_tool.launches) == 1
    claims = fake_tool.launches[0]
    assert claims["sub"] == "demo-user-alex-tremblay"
    assert claims[LTI + "launch_presentation"]["locale"] == "en"


def _b64json(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))  # type: ignore[no-any-return]


def test_hs256_override_is_keyed_with_the_public_key(
    browser: LaunchDriver, lms: DemoSettings, http: requests.Session
) -> None:
    trace = browser.launch("learner", alg="HS256")
    header = _b64json(trace.id_token.split(".")[0])
    assert header["alg"] == "HS256"
    public_pem = (Path(lms.keys_dir) / "public.pem").read_bytes()
    # The classic algorithm-confusion token: PyJWT refuses an asymmetric key as HMAC secret, so
    # check the MAC by hand.
    signing_input, signature = trace.id_token.rsplit(".", 1)
    expected = base64.urlsafe_b64encode(
        hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    ).rstrip(b"=")
    assert signature.encode() == expected


# -- the gradebook, the score endpoint's outage switch, Moodle's rules, NRPS paging ------------
SCORES_PATH = "/api/lti/contexts/demo-course-sexto/lineitems/li-niveau-architecte/scores"
ALEX = "demo-user-alex-tremblay"
CAMILLE = "demo-user-camille-roy"


def _switch(http: requests.Session, lms: DemoSettings, **body: Any) -> dict[str, Any]:
    resp = http.post(lms.base_url + "/demo/api/score-endpoint", json=body, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _post_score(
    http: requests.Session, lms: DemoSettings, token: str, score: dict[str, Any]
) -> requests.Response:
    return http.post(
        lms.base_url + SCORES_PATH, json=score, headers=_bearer(token, SCORE_TYPE), timeout=5
    )


def _recorded(http: requests.Session, lms: DemoSettings) -> list[dict[str, Any]]:
    return http.get(lms.base_url + "/demo/api/state", timeout=5).json()["scores"]  # type: ignore[no-any-return]


def test_score_endpoint_down_then_busy_records_nothing_then_records_once_up(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    token = _token(http, lms, fake_tool)
    score = _score(ALEX, "2026-03-01T10:00:00Z", comment="Niveau réussi")

    assert _switch(http, lms, mode="down")["mode"] == "down"
    down = _post_score(http, lms, token, score)
    assert down.status_code == 503 and "Retry-After" not in down.headers
    assert _switch(http, lms, mode="busy", retry_after=2)["retry_after"] == 2
    busy = _post_score(http, lms, token, score)
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
    assert _recorded(http, lms) == []  # refused before anything was read or stored

    state = http.get(lms.base_url + "/demo/api/score-endpoint", timeout=5).json()
    assert (state["refused_503"], state["refused_429"], state["refused"]) == (1, 1, 2)
    page = http.get(lms.base_url + "/grades", timeout=5).text
    assert 'data-mode="busy"' in page and "1 × 503, 1 × 429" in page and 'data-refused="2"' in page

    _switch(http, lms, mode="up")
    assert _post_score(http, lms, token, score).status_code == 200
    assert _post_score(http, lms, token, score).status_code == 409  # the same score again
    [recorded] = _recorded(http, lms)
    assert recorded["comment"] == "Niveau réussi" and recorded["user_id"] == ALEX
    assert http.get(lms.base_url + "/demo/api/score-endpoint", timeout=5).json()["refused"] == 2


def test_score_endpoint_sequence_503_then_429_then_up(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    token = _token(http, lms, fake_tool)
    state = _switch(http, lms, mode="sequence", calls=2, retry_after=1)
    assert (state["remaining_503"], state["remaining_429"]) == (2, 2)

    answers = []
    for second in range(5):
        resp = _post_score(http, lms, token, _score(ALEX, f"2026-03-01T10:00:0{second}Z"))
        answers.append((resp.status_code, resp.headers.get("Retry-After")))

    assert answers == [(503, None), (503, None), (429, "1"), (429, "1"), (200, None)]
    assert [s["timestamp"] for s in _recorded(http, lms)] == ["2026-03-01T10:00:04+00:00"]
    assert http.get(lms.base_url + "/demo/api/score-endpoint", timeout=5).json()["mode"] == "up"


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "sideways"},
        {"mode": "busy", "retry_after": 0},
        {"mode": "busy", "retry_after": "soon"},
        {"mode": "sequence", "calls": 1.5},
        {"mode": "down", "retry_after": True},
    ],
)
def test_score_endpoint_switch_refuses_bad_settings(
    http: requests.Session, lms: DemoSettings, body: dict[str, Any]
) -> None:
    resp = http.post(lms.base_url + "/demo/api/score-endpoint", json=body, timeout=5)

    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    assert http.get(lms.base_url + "/demo/api/score-endpoint", timeout=5).json()["mode"] == "up"


def test_outage_form_on_the_gradebook_page(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    form_url = lms.base_url + "/grades/score-endpoint"
    page = http.get(lms.base_url + "/grades", timeout=5).text
    assert 'action="/grades/score-endpoint"' in page and 'value="busy"' in page
    assert 'name="retry_after"' in page and 'value="5"' in page  # the default Retry-After

    moved = http.post(
        form_url, data={"mode": "busy", "retry_after": "9", "calls": ""}, allow_redirects=False,
        timeout=5,
    )
    assert moved.status_code == 303 and moved.headers["Location"].endswith("/grades#score-endpoint")
    page = http.get(lms.base_url + "/grades", timeout=5).text
    assert 'data-mode="busy"' in page and "Retry-After 9 s" in page
    token = _token(http, lms, fake_tool)
    assert _post_score(http, lms, token, _score(ALEX, "2026-03-01T10:00:00Z")).headers[
        "Retry-After"
    ] == "9"

    # Another site cannot switch the demo's endpoint (no session, so no CSRF token: the origin).
    foreign = http.post(
        form_url, data={"mode": "up"}, headers={"Origin": "https://evil.example"}, timeout=5
    )
    cross = http.post(form_url, data={"mode": "up"}, headers={"Sec-Fetch-Site": "cross-site"}, timeout=5)
    assert foreign.status_code == 403 and cross.status_code == 403
    assert http.post(form_url, data={"mode": "sideways"}, timeout=5).status_code == 400
    assert http.get(lms.base_url + "/demo/api/score-endpoint", timeout=5).json()["mode"] == "busy"
    assert http.post(form_url, data={"mode": "up"}, timeout=5).status_code == 200  # redirect followed
    assert 'data-mode="up"' in http.get(lms.base_url + "/grades", timeout=5).text


def test_a_score_for_the_instructor_is_refused_like_moodle(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    token = _token(http, lms, fake_tool)

    resp = _post_score(http, lms, token, _score(CAMILLE, "2026-03-01T10:00:00Z"))

    assert resp.status_code == 400
    assert resp.json()["error_description"].startswith("Incorrect score received")
    assert _recorded(http, lms) == []
    assert 'data-user-id="demo-user-camille-roy"' not in http.get(lms.base_url + "/grades", timeout=5).text


def _gradebook_row(page: str, user_id: str) -> str:
    start = page.index(f'<tr data-user-id="{user_id}">')
    return page[start : page.index("</tr>", start)]


def test_gradebook_lists_posted_scores_newest_first_with_states_and_comments(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool, browser: LaunchDriver
) -> None:
    lineitem = browser.launch("learner").claims[AGS]["lineitem"]
    token = _token(http, lms, fake_tool)
    submission = {"new_submission": True, "submitted_at": "2026-03-01T10:05:00Z"}
    posted = [
        _score(ALEX, "2026-03-01T10:00:00Z", activityProgress="Started",
               gradingProgress="NotReady", scoreGiven=None, comment="Cas 1 commencé"),
        _score(ALEX, "2026-03-01T10:05:00Z", activityProgress="Submitted",
               gradingProgress="PendingManual", scoreGiven=7, comment="Réflexions en attente",
               **{"https://canvas.instructure.com/lti/submission": submission}),
    ]
    for score in posted:
        resp = http.post(lineitem + "/scores", json=score, headers=_bearer(token, SCORE_TYPE), timeout=5)
        assert resp.status_code == 200, resp.text

    resp = http.get(lms.base_url + "/grades", timeout=5)

    assert resp.status_code == 200
    page = resp.text
    assert '<section class="line-item"' in page and "<caption" in page and 'scope="col"' in page
    latest = _gradebook_row(page, ALEX)  # the newest score per learner, in the first table
    assert "Alex Tremblay" in latest and "7 / 10" in latest
    assert "Submitted" in latest and "PendingManual" in latest and "Réflexions en attente" in latest
    assert '<time datetime="2026-03-01T10:05:00+00:00">' in latest
    history = page[page.index('<details class="history">') :]
    assert "Historique — Alex Tremblay (2)" in history
    assert history.index("Réflexions en attente") < history.index("Cas 1 commencé")  # newest first
    assert "Started" in history and "NotReady" in history
    assert "Soumission Canvas" in history and "<code>new_submission</code> : true" in history
    home = http.get(lms.base_url + "/", timeout=5).text
    assert 'href="/grades"' in home and "Réflexions en attente" in home
    table = http.get(lms.base_url + "/grades/table", timeout=5)
    assert table.status_code == 200 and "<html" not in table.text and "Cas 1 commencé" in table.text


def test_nrps_roster_pages_with_a_quoted_next_link(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    token = _token(http, lms, fake_tool, scope=SCOPE_NRPS)
    url = f"{lms.base_url}/api/lti/contexts/demo-course-sexto/memberships"

    first = http.get(url, params={"limit": 1}, headers=_bearer(token), timeout=5)

    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith(
        "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
    )
    assert first.headers["Link"].startswith(f"<{url}?") and first.headers["Link"].endswith(
        '>; rel="next"'
    )
    assert "next" not in first.json() and len(first.json()["members"]) == 1
    second = http.get(first.links["next"]["url"], headers=_bearer(token), timeout=5)
    assert second.status_code == 200 and second.headers["Link"].endswith('>; rel="next"')
    third = http.get(second.links["next"]["url"], headers=_bearer(token), timeout=5)
    assert third.status_code == 200 and "Link" not in third.headers
    members = first.json()["members"] + second.json()["members"] + third.json()["members"]
    assert {m["user_id"] for m in members} == {ALEX, CAMILLE, "demo-user-jade-morin"}
    members = [m for m in members if m["user_id"] != "demo-user-jade-morin"]
    assert {m["user_id"]: m for m in members} == {
        ALEX: {
            "status": "Active",
            "user_id": ALEX,
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            "name": "Alex Tremblay",
            "given_name": "Alex",
            "family_name": "Tremblay",
            "email": "alex.tremblay@example.org",
        },
        CAMILLE: {
            "status": "Active",
            "user_id": CAMILLE,
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
            "name": "Camille Roy",
            "given_name": "Camille",
            "family_name": "Roy",
            "email": "camille.roy@example.org",
        },
    }
    assert second.json()["context"]["id"] == "demo-course-sexto"
    learners = http.get(url, params={"limit": 1, "role": "Learner"}, headers=_bearer(token), timeout=5)
    assert [m["user_id"] for m in learners.json()["members"]] == [ALEX]
    assert learners.headers["Link"].endswith('>; rel="next"')  # the second learner follows


def test_nrps_url_of_the_launch_serves_the_roster(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool, browser: LaunchDriver
) -> None:
    claim = browser.launch("instructor").claims[NRPS]
    token = _token(http, lms, fake_tool, scope=SCOPE_NRPS)

    resp = http.get(claim["context_memberships_url"], headers=_bearer(token), timeout=5)

    assert claim["service_versions"] == ["2.0"]
    assert resp.status_code == 200
    assert {m["name"] for m in resp.json()["members"]} == {"Alex Tremblay", "Jade Morin",
                                                          "Camille Roy"}


@pytest.mark.browser
def test_gradebook_in_chromium_at_375px_is_accessible_and_does_not_overflow(
    http: requests.Session, lms: DemoSettings, fake_tool: FakeTool
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser import axe

    token = _token(http, lms, fake_tool)
    long_comment = "Commentaire très long sans espace " + "x" * 200
    for second, comment in enumerate(("Bien joué", long_comment)):
        score = _score(ALEX, f"2026-03-01T10:00:0{second}Z", comment=comment,
                       **{"https://canvas.instructure.com/lti/submission": {"new_submission": True}})
        assert _post_score(http, lms, token, score).status_code == 200
    _switch(http, lms, mode="sequence", calls=2)

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            page.goto(lms.base_url + "/grades")
            page.locator("details.history summary").first.click()
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            axe.assert_accessible(page, "demo gradebook at 375 px")
            page.check("#mode-up")
            page.click("button[type=submit]")
            page.wait_for_url("**/grades#score-endpoint")
            mode = page.get_attribute("[data-mode]", "data-mode")
        finally:
            browser.close()

    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    assert mode == "up"
