"""Issue 11: the login's common answer comes from a WSGI handler in front of Flask
(launch/hot_path.py). It must answer exactly as the Flask view does, leave every other request
(and every refusal) to Flask with its body intact, and its state must launch. Real app and
database; Flask's `request_started` signal tells which of the two answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import request_started
from werkzeug.test import Client

from tests.cases.player_support import Player
from tests.support.minted import TOOL_URL, MintedPlatform, minted_platform


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


def test_a_hot_login_launches(app: Any, client: Any, platform: MintedPlatform,
                              flask_requests: list[str]) -> None:
    Player.launch(client, platform)  # fills the cache
    flask_requests.clear()
    player = Player.launch(client, platform)
    assert flask_requests[0] == "/lti/launch"  # the login never reached Flask
    assert player.page.status == 200
    assert player.page.tree.find(**{"data-testid": "level-state"}) is not None


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
