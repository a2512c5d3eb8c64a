"""Issue 11: the common case of the login and the launch is answered by a WSGI handler in front of
Flask (launch/hot_path.py). It must answer exactly as the Flask views do, leave every other
request to Flask with its body intact, and have Flask answer every refusal it meets — after the
nonce is used up, the refusal met, not a replay. Real app and database (PostgreSQL + Redis in the
second pass); Flask's `request_started` signal tells which of the two answered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import request_started
from werkzeug.test import Client

from tests.support.minted import DROP, TOOL_URL, MintedPlatform, minted_platform


@pytest.fixture
def platform(app: Any) -> Iterator[MintedPlatform]:
    with minted_platform(app) as platform:
        yield platform


@pytest.fixture
def flask_requests(app: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def started(sender: Any, **extra: Any) -> None:
        from flask import request

        seen.append(request.path)

    request_started.connect(started, app)
    yield seen
    request_started.disconnect(started, app)


def _login_params(platform: MintedPlatform, **extra: str) -> dict[str, str]:
    return {"iss": platform.issuer, "login_hint": "user-1", "target_link_uri": TOOL_URL +
            "/lti/launch", "client_id": platform.client_id,
            "lti_deployment_id": platform.deployment_id, **extra}


def _flask_only(app: Any) -> Client:
    """A client of the Flask app itself, behind the hot path (its reference answers)."""
    return Client(app.wsgi_app.wsgi, app.response_class)


def _shape(response: Any) -> tuple[Any, ...]:
    """A login answer without its random parts (state, nonce and the cookie's value)."""
    location = urlsplit(response.headers["Location"])
    query = {k: v for k, v in parse_qs(location.query).items() if k not in ("state", "nonce")}
    (cookie,) = response.headers.getlist("Set-Cookie")
    name, _, rest = cookie.partition("=")
    headers = sorted((k, v) for k, v in response.headers.items()
                     if k not in ("Location", "Set-Cookie", "Content-Length"))
    return (response.status_code, location._replace(query="").geturl(), sorted(query.items()),
            name.startswith("lti1p3_state_"), rest.split(";", 1)[1], headers, len(response.data) > 0)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_hot_login_answers_as_the_flask_view_does(
        app: Any, client: Any, platform: MintedPlatform, flask_requests: list[str],
        method: str) -> None:
    params = _login_params(platform, lti_message_hint="hint-1")
    send = (lambda c: c.get("/lti/login", query_string=params, base_url=TOOL_URL)) \
        if method == "GET" else (lambda c: c.post("/lti/login", data=params, base_url=TOOL_URL))
    reference = send(_flask_only(app))  # through Flask; it also fills the registration cache
    assert flask_requests == ["/lti/login"]
    hot = send(client)
    assert flask_requests == ["/lti/login"], "the hot path should have answered"
    assert hot.status_code == 302
    assert _shape(hot) == _shape(reference)
    assert "frame-ancestors 'none'" in hot.headers["Content-Security-Policy"]
    assert "Partitioned" in hot.headers["Set-Cookie"] and "HttpOnly" in hot.headers["Set-Cookie"]


def test_refusals_and_other_logins_are_flasks(app: Any, client: Any, platform: MintedPlatform,
                                              flask_requests: list[str]) -> None:
    client.get("/lti/login", query_string=_login_params(platform))  # cache warm
    flask_requests.clear()

    # A target that is not the tool: refused, with Flask's page and status.
    foreign = client.get("/lti/login", query_string=_login_params(
        platform, target_link_uri="https://elsewhere.test/launch"))
    assert foreign.status_code == 400 and "une autre application" in foreign.get_data(as_text=True)
    # No login_hint: refused by Flask.
    bad = client.get("/lti/login", query_string={
        k: v for k, v in _login_params(platform).items() if k != "login_hint"})
    assert bad.status_code == 400
    # A deployment not in memory (here, unknown): Flask looks it up and refuses it.
    unknown = client.get("/lti/login", query_string=_login_params(
        platform, lti_deployment_id="deploy-unknown"))
    assert unknown.status_code == 403
    assert flask_requests == ["/lti/login"] * 3

    # Platform Storage offered: the page is Flask's, and a POSTed form reaches it whole.
    flask_requests.clear()
    page = client.post("/lti/login", data=_login_params(platform, lti_storage_target="_parent"))
    assert flask_requests == ["/lti/login"]
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "lti_state_" in html and "_parent" in html
    # Another method, another path: Flask's.
    assert client.put("/lti/login").status_code == 405
    assert client.get("/lti/login/").status_code == 404


# -- the launch ------------------------------------------------------------------------------------

TOKEN = re.compile(r"(t=|name=\"t\" value=\"|data-url=\"[^\"]*t=)[A-Za-z0-9_.\-]+")
NONCE_COOKIE = re.compile(r"lti1p3_state_[A-Za-z0-9_\-]+")
INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
DEEP_LINKING = {
    "lti_message_type": "LtiDeepLinkingRequest", "lti_resource_link": DROP,
    "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": {
        "deep_link_return_url": "https://lms.example.test/dl/return",
        "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe"]},
}


def _launch_via(client: Any, platform: MintedPlatform, **claims: Any) -> Any:
    """A login and a launch through `client` (the hot path's, or Flask's alone)."""
    login = client.get("/lti/login", query_string=_login_params(platform), base_url=TOOL_URL)
    auth = platform.login_answer(login)
    cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    token = platform.sign(platform.claims(auth, **claims))
    return client.post("/lti/launch", data={"id_token": token, "state": auth["state"]},
                       headers={"Cookie": cookie}, base_url=TOOL_URL)


def _answer(response: Any) -> tuple[Any, ...]:
    """A launch's answer without its tokens and nonces."""
    headers = sorted((k, TOKEN.sub(r"\1T", NONCE_COOKIE.sub("N", v)))
                     for k, v in response.headers.items() if k != "Content-Length")
    return response.status_code, headers, TOKEN.sub(r"\1T", response.get_data(as_text=True))


LANDINGS = {
    # A learner the launch creates, when the shared page is rendered already / not yet.
    "new learner, shared page": ({"sub": "learner-b", "name": "Léo Deux"}, True),
    "new learner, first of its kind": ({"sub": "learner-b", "name": "Léo Deux"}, False),
    "returning learner": ({"sub": "learner-a", "name": "Zoé Une"}, True),
    "instructor": ({"sub": "teacher", "lti_roles": INSTRUCTOR}, True),
    "deep linking": ({"sub": "teacher", "lti_roles": INSTRUCTOR, **DEEP_LINKING}, True),
}


@pytest.mark.parametrize("landing", list(LANDINGS))
def test_the_hot_launch_answers_as_the_flask_view_does(
        app: Any, client: Any, platform: MintedPlatform, flask_requests: list[str],
        landing: str) -> None:
    claims, warm = LANDINGS[landing]
    if warm:  # learner-a launched once: the registration and the shared page are in memory
        _launch_via(client, platform, sub="learner-a", name="Zoé Une")
    flask_requests.clear()
    hot = _launch_via(client, platform, **claims)
    assert "/lti/launch" not in flask_requests, "the hot path should have answered"
    app.extensions.pop("blank_home_pages", None) if not warm else None
    reference = _launch_via(_flask_only(app), platform, **{**claims, "sub": claims["sub"] + "-f"})
    assert "/lti/launch" in flask_requests
    assert hot.status_code in (200, 303)
    assert _answer(hot) == _answer(reference)
    if hot.status_code == 200:
        assert "frame-ancestors 'self' https://lms.example.test" in \
            hot.headers["Content-Security-Policy"]
        assert 'data-testid="level-state"' in hot.get_data(as_text=True)
    assert "lti1p3_state_" in hot.headers["Set-Cookie"] and "Max-Age=0" in hot.headers["Set-Cookie"]


def test_a_refusal_after_the_nonce_is_used_up_is_answered_as_itself(
        app: Any, client: Any, platform: MintedPlatform, flask_requests: list[str]) -> None:
    """The deployment is checked after the nonce is consumed: the hot path hands its refusal to
    the view, which answers it (not "already used", as running the launch again would)."""
    _launch_via(client, platform)
    flask_requests.clear()
    refused = _launch_via(client, platform, lti_deployment_id="deploy-unknown")
    assert flask_requests == ["/lti/launch"]
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    assert "deploy-unknown" in html and "déjà été utilisé" not in html


def test_a_replayed_launch_is_refused_by_flask(app: Any, platform: MintedPlatform,
                                               flask_requests: list[str]) -> None:
    client = app.test_client(use_cookies=False)  # the cookie is sent as the browser sent it
    login = client.get("/lti/login", query_string=_login_params(platform), base_url=TOOL_URL)
    auth = platform.login_answer(login)
    cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    form = {"id_token": platform.sign(platform.claims(auth)), "state": auth["state"]}
    first = client.post("/lti/launch", data=form, headers={"Cookie": cookie}, base_url=TOOL_URL)
    assert first.status_code == 200
    flask_requests.clear()
    again = client.post("/lti/launch", data=form, headers={"Cookie": cookie}, base_url=TOOL_URL)
    assert flask_requests == ["/lti/launch"]
    assert again.status_code == 400 and "déjà été utilisé" in again.get_data(as_text=True)
    forged = client.post("/lti/launch", data={**form, "id_token": form["id_token"][:-4] + "AAAA"},
                         headers={"Cookie": cookie}, base_url=TOOL_URL)
    assert forged.status_code in (400, 401, 403)


def test_a_launch_without_the_cookie_is_flasks(app: Any, client: Any, platform: MintedPlatform,
                                               flask_requests: list[str]) -> None:
    """No binding cookie (a frame that keeps none): Flask's refusal, offering a new window."""
    auth = platform.login(client)
    flask_requests.clear()
    cookieless = app.test_client()  # the browser that posts the launch kept no cookie
    response = cookieless.post("/lti/launch", base_url=TOOL_URL, data={
        "id_token": platform.sign(platform.claims(auth)), "state": auth["state"]})
    assert flask_requests == ["/lti/launch"]
    assert response.status_code == 400 and "nouvelle fenêtre" in response.get_data(as_text=True)
