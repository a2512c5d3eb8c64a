"""Registration by invitation (issue 6, findings 1, 2 and 8): `/lti/register` without a valid
invitation refuses and fetches nothing; an invitation registers one platform, once, even when two
confirmations race; `LTI_TOOL_REGISTRATION=approval` keeps uninvited registrations pending — no
login, no launch — until `lti-tool platform approve`; `/lti/login` sends the browser only to the
https authorization endpoint of an active registration in production. Against the real fake
platform (tests/launch/test_dynamic_registration.py) over HTTP on loopback, the real database."""

from __future__ import annotations

import html
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select, update

from lti_tool import create_app
from lti_tool.cli import main as cli
from lti_tool.config import load_settings
from lti_tool.db import get_session, utcnow
from lti_tool.launch.dynamic_registration import sign_form
from lti_tool.launch.invitations import check_invitation, consume_invitation, parse_duration
from lti_tool.launch.registry import add_platform, find_registration
from lti_tool.models import Platform, RegistrationInvitation
from tests import backends
from tests.conftest import _truncate, make_settings
from tests.launch.test_dynamic_registration import (
    FakePlatform,
    _form_value,
    _invitations,
    _registered,
    _start,
    invite,
)
from tests.launch.test_dynamic_registration import assert_refused as _assert_refused
from tests.support.error_pages import logged_for
from tests.support.minted import TOOL_URL, MintedPlatform


def assert_refused(response: Any, code: str, status: int = 400) -> str:
    """The refusal page's text (entities decoded), after checking its status and code."""
    return html.unescape(_assert_refused(response, code, status))


def _client(app: Flask) -> Any:
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_HOST"] = "tool.test"
    return client


@contextmanager
def _serving(settings: Any) -> Iterator[Flask]:
    """An app with other settings than the `app` fixture's, cleaned up the same way."""
    app = create_app(settings)
    try:
        yield app
    finally:
        _truncate(app)
        if settings.redis_url:
            backends.redis_client().flushdb()
        app.extensions["db_engine"].dispose()


@pytest.fixture
def approval_app(database_url: str, redis_url: str | None, keys_dir: Path,
                 tmp_path: Path) -> Iterator[Flask]:
    with _serving(make_settings(database_url, redis_url, keys_dir, tmp_path,
                                registration_mode="approval")) as app:
        yield app


@pytest.fixture
def production_app(database_url: str, redis_url: str | None, keys_dir: Path,
                   tmp_path: Path) -> Iterator[Flask]:
    settings = load_settings({"LTI_TOOL_ENV": "production", "SECRET_KEY": "p" * 40,
                              "LTI_TOOL_BASE_URL": TOOL_URL, "DATABASE_URL": database_url},
                             redis_url=redis_url, keys_dir=keys_dir, instance_dir=tmp_path)
    assert settings.is_production
    with _serving(settings) as app:
        yield app


def _signed_form(app: Flask, lms: FakePlatform, invite_secret: str | None) -> str:
    """The confirmation form the tool would have signed (as if its GET had been allowed)."""
    with app.test_request_context():
        return sign_form(lms.config_url, lms.token, invite_secret)


def _login(client: Any, issuer: str, client_id: str, deployment_id: str = "7") -> Any:
    return client.get("/lti/login", query_string={
        "iss": issuer, "login_hint": "user-1", "target_link_uri": TOOL_URL + "/lti/launch",
        "client_id": client_id, "lti_deployment_id": deployment_id})


# -- refusals: nothing is fetched ------------------------------------------------------------------
def test_uninvited_registration_is_refused_and_nothing_is_fetched(app: Flask,
                                                                  client: Any) -> None:
    with FakePlatform("moodle") as lms:
        page = assert_refused(_start(client, lms), "invitation_missing", 403)
        assert "seulement sur invitation" in page and "by invitation only" in page
        assert "Demandez à l'exploitant de l'outil une nouvelle adresse d'invitation" in page
        assert "Ask the tool's operator for a new invitation URL" in page
        # A confirmation form without an invitation (signed by the tool in approval mode, say)
        # is refused too, before any call.
        response = client.post("/lti/register",
                               data={"registration": _signed_form(app, lms, None)})
        assert_refused(response, "invitation_missing", 403)
        assert lms.requests == 0 and lms.config_fetches == [] and lms.registrations == []
    assert _registered(app, lms.issuer) == []


@pytest.mark.parametrize("state", ["unknown", "expired", "used"])
def test_unknown_expired_or_used_invitation_is_refused_and_nothing_is_fetched(
        app: Flask, client: Any, state: str) -> None:
    if state == "unknown":
        secret = secrets.token_urlsafe(32)
        invite(app)  # another, valid invitation exists: it does not open the door for this one
    elif state == "expired":
        secret = invite(app, ttl=3600, created=utcnow() - timedelta(hours=2))
    else:
        secret = invite(app)
        with app.test_request_context():
            session = get_session()
            consume_invitation(session, check_invitation(session, secret))
            session.commit()
    with FakePlatform("moodle") as lms:
        page = assert_refused(_start(client, lms, secret), f"invitation_{state}", 403)
        assert "Ask the tool's operator for a new invitation URL" in page
        response = client.post("/lti/register",
                               data={"registration": _signed_form(app, lms, secret)})
        assert_refused(response, f"invitation_{state}", 403)
        assert lms.requests == 0 and lms.registrations == []
    assert _registered(app, lms.issuer) == []


def test_a_bad_invitation_is_refused_in_approval_mode_too(approval_app: Flask) -> None:
    """Not quietly turned into a pending registration: the administrator learns it is wrong."""
    client = _client(approval_app)
    with FakePlatform("moodle") as lms:
        assert_refused(_start(client, lms, "not-an-invitation"), "invitation_unknown", 403)
        assert lms.requests == 0


def test_two_confirmations_racing_with_one_invitation_register_once(app: Flask) -> None:
    """Both pass the invitation check and reach the platform together (a barrier holds its
    answers); the conditional UPDATE lets exactly one store a registration."""
    secret = invite(app, organisation="CSS-RACE")
    barrier = threading.Barrier(2, timeout=20)

    class RacingPlatform(FakePlatform):
        def _register(self, request: Any) -> Any:
            barrier.wait()
            return super()._register(request)

    with RacingPlatform("moodle") as lms:
        form = _form_value(_start(_client(app), lms, secret).get_data(as_text=True))
        statuses: list[int] = []
        pages: list[str] = []

        def confirm() -> None:
            response = _client(app).post("/lti/register", data={"registration": form})
            statuses.append(response.status_code)
            pages.append(response.get_data(as_text=True))

        threads = [threading.Thread(target=confirm) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(statuses) == [200, 403], [p[:600] for p in pages]
        assert any('data-error-code="invitation_used"' in p for p in pages)
        assert len(lms.registrations) == 2  # both reached the platform; one was stored
    [row] = _registered(app, lms.issuer, trust=True)
    assert (row["origin"], row["organisation"]) == ("invitation", "CSS-RACE")
    assert _invitations(app) == [("CSS-RACE", True)]


# -- the operator's commands -----------------------------------------------------------------------
def test_platform_invite_prints_a_url_that_registers_once(app: Flask, client: Any) -> None:
    result = app.test_cli_runner().invoke(cli, ["platform", "invite", "--organisation", "CSS-CLI",
                                                "--expires", "2d", "--note", "Moodle de test"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[0]
    assert url.startswith(TOOL_URL + "/lti/register?invite=")
    secret = parse_qs(urlsplit(url).query)["invite"][0]
    with app.test_request_context():
        [row] = get_session().execute(select(RegistrationInvitation)).scalars()
        assert row.token_hash != secret and secret not in row.token_hash  # only a hash is kept
        assert (row.organisation_code, row.note) == ("CSS-CLI", "Moodle de test")
        lifetime = row.expires_at - row.created_at
        assert lifetime == timedelta(days=2)

    with FakePlatform("moodle") as lms:
        # The platform appends its parameters to the URL it was given (DR 1.0 §3.3).
        page = client.get(url + "&openid_configuration=" + lms.config_url
                          + "&registration_token=" + lms.token)
        assert page.status_code == 200, page.get_data(as_text=True)[:800]
        done = client.post("/lti/register",
                           data={"registration": _form_value(page.get_data(as_text=True))})
        assert done.status_code == 200, done.get_data(as_text=True)[:800]
    [reg] = _registered(app, lms.issuer, trust=True)
    assert (reg["origin"], reg["status"], reg["organisation"]) == ("invitation", "active", "CSS-CLI")


def test_platform_invite_refuses_a_bad_lifetime(app: Flask) -> None:
    result = app.test_cli_runner().invoke(cli, ["platform", "invite", "--expires", "soon"])
    assert result.exit_code == 2 and "--expires" in result.output
    assert _invitations(app) == []
    assert [parse_duration(v) for v in ("7d", "12h", "30m", "3")] == [604800, 43200, 1800, 259200]


def test_platform_list_shows_where_assertions_go(app: Flask, client: Any) -> None:
    secret = invite(app, organisation="CSS-LIST")
    with FakePlatform("moodle") as lms:
        lms.config_edits["authorization_server"] = "https://auth.lms.example.test/oauth2/token"
        page = _start(client, lms, secret).get_data(as_text=True)
        assert client.post("/lti/register",
                           data={"registration": _form_value(page)}).status_code == 200
    result = app.test_cli_runner().invoke(cli, ["platform", "list"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{lms.issuer}  client_id={lms.client_id}  status=active  origin=invitation" in out
    assert "organisation=CSS-LIST" in out
    assert f"token endpoint: {lms.base}/mod/lti/token.php" in out
    assert "authorization_server (assertion aud): https://auth.lms.example.test/oauth2/token" in out
    assert "signing keys: own key set " in out


# -- approval mode ---------------------------------------------------------------------------------
def test_approval_mode_keeps_an_uninvited_registration_pending_until_approved(
        approval_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = _client(approval_app)
    with FakePlatform("moodle") as lms:
        start = _start(client, lms)
        page = start.get_data(as_text=True)
        assert start.status_code == 200, page[:800]
        assert 'data-testid="pending-notice"' in page
        done = client.post("/lti/register", data={"registration": _form_value(page)})
        body = done.get_data(as_text=True)
        assert done.status_code == 200, body[:1500]
        assert lms.problems == []
        assert "Inscription en attente d'approbation" in body
        command = f"lti-tool platform approve --issuer {lms.issuer} --client-id {lms.client_id}"
        assert f'data-testid="approve-command">{command}<' in body
        assert "data-lti-close-auto" not in body
        [row] = _registered(approval_app, lms.issuer, trust=True)
        assert (row["status"], row["origin"], row["approved"]) == ("pending", "dynamic", False)
        assert row["key_set"] and row["invitation_id"] is None
        with approval_app.test_request_context():
            reg = find_registration(get_session(), lms.issuer, lms.client_id)
            assert reg is not None and reg.status == "pending" and not reg.trusted_for_services

        # Nothing launches: the login is refused with the operator's command, and no redirect.
        refused = _login(client, lms.issuer, lms.client_id)
        html = assert_refused(refused, "registration_pending", 403)
        assert "Location" not in refused.headers
        assert "attend l'approbation de l'exploitant" in html
        assert "awaiting approval by the tool's operator" in html
        # The command is for the operator, not whoever launched: logged under the page's reference.
        assert command not in html and command in logged_for(caplog, html)

        result = approval_app.test_cli_runner().invoke(
            cli, [*command.split()[1:], "--organisation", "CSS-LATE"])
        assert result.exit_code == 0, result.output
        [row] = _registered(approval_app, lms.issuer, trust=True)
        assert (row["status"], row["approved"], row["organisation"]) == ("active", True, "CSS-LATE")
        assert row["deployment_organisations"] == ["CSS-LATE"]
        with approval_app.test_request_context():
            reg = find_registration(get_session(), lms.issuer, lms.client_id)
            assert reg is not None and reg.trusted_for_services and reg.key_set == row["key_set"]

        minted = MintedPlatform(lms, issuer=lms.issuer, client_id=lms.client_id, deployment_id="7")
        launch = minted.launch(client)
        assert launch.status_code in (200, 303), launch.get_data(as_text=True)[:800]

        # A registration set back to pending between login and launch: the launch refuses too.
        auth = minted.login(client)
        with approval_app.test_request_context():
            session = get_session()
            session.execute(update(Platform).where(Platform.client_id == lms.client_id)
                            .values(status="pending"))
            session.commit()
        # A change made outside registry.py reaches the launch once the few seconds of the
        # registration cache have passed (registry.CACHE_TTL); here, at once.
        approval_app.extensions["registration_cache"].clear()
        assert_refused(minted.launch(client, auth=auth), "registration_pending", 403)


def test_approval_mode_with_an_invitation_registers_it_active(approval_app: Flask) -> None:
    client = _client(approval_app)
    secret = invite(approval_app, organisation="CSS-INV")
    with FakePlatform("canvas") as lms:
        page = _start(client, lms, secret).get_data(as_text=True)
        assert 'data-testid="pending-notice"' not in page
        done = client.post("/lti/register", data={"registration": _form_value(page)})
        assert done.status_code == 200, done.get_data(as_text=True)[:800]
    [row] = _registered(approval_app, lms.issuer, trust=True)
    assert (row["status"], row["origin"], row["organisation"]) == ("active", "invitation", "CSS-INV")
    assert _invitations(approval_app) == [("CSS-INV", True)]


def test_approve_of_an_unknown_registration_fails(app: Flask) -> None:
    result = app.test_cli_runner().invoke(cli, ["platform", "approve", "--issuer", "https://x.test",
                                                "--client-id", "nope"])
    assert result.exit_code != 0 and "nothing matched" in result.output


# -- production: https only ------------------------------------------------------------------------
def _add(app: Flask, issuer: str, auth_url: str, client_id: str = "cid") -> None:
    """A registration stored as an older version or a dev set-up may have left it."""
    with app.test_request_context():
        session = get_session()
        add_platform(session, issuer=issuer, client_id=client_id, auth_url=auth_url,
                     token_url=issuer + "/token", jwks_url=issuer + "/jwks", deployment_ids=["7"])
        session.commit()


def test_login_redirects_only_to_an_https_auth_url_in_production(production_app: Flask) -> None:
    client = _client(production_app)
    _add(production_app, "http://lms.example.test", "http://lms.example.test/auth")
    refused = _login(client, "http://lms.example.test", "cid")
    page = assert_refused(refused, "insecure_auth_url", 403)
    assert "Location" not in refused.headers and "n'est pas une adresse https" in page

    _add(production_app, "https://lms.example.test", "https://lms.example.test/auth")
    ok = _login(client, "https://lms.example.test", "cid")
    assert ok.status_code == 302 and ok.headers["Location"].startswith(
        "https://lms.example.test/auth?")


def test_login_to_http_auth_url_is_allowed_outside_production(app: Flask, client: Any) -> None:
    _add(app, "http://lms.example.test", "http://lms.example.test/auth")
    assert _login(client, "http://lms.example.test", "cid").status_code == 302


def test_platform_add_refuses_plain_http_in_production(production_app: Flask) -> None:
    result = production_app.test_cli_runner().invoke(cli, [
        "platform", "add", "--issuer", "https://lms.example.test", "--client-id", "cid",
        "--auth-url", "http://lms.example.test/auth", "--token-url", "https://lms.example.test/t",
        "--jwks-url", "http://lms.example.test/jwks", "--deployment-id", "7"])
    assert result.exit_code != 0
    assert "--auth-url, --jwks-url must be https:// URLs in production" in result.output
    assert _registered(production_app, "https://lms.example.test") == []


def test_a_forbidden_target_is_refused_with_a_clear_page(production_app: Flask) -> None:
    """In production the guarded client refuses loopback: the page says the address is not
    allowed, and nothing about what (if anything) answers there."""
    client = _client(production_app)
    secret = invite(production_app)
    response = client.get("/lti/register", query_string={
        "openid_configuration": "https://127.0.0.1:1/mod/lti/openid-configuration.php",
        "registration_token": "t", "invite": secret})
    page = assert_refused(response, "forbidden_target", 403)
    assert "This address is not allowed" in page and "n'est pas permise" in page
    assert _invitations(production_app) == [(None, False)]

