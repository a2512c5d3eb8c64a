"""Hardening of the launch (issue 6): the Platform Storage binding cannot be forged (finding 7),
wrongly typed claims are a 400 (finding 9), framing is limited to the platform's origins
(finding 11), and the files the tool creates are private (finding 11). Each test sends the bad
case and checks that it is refused and that nothing was written."""

from __future__ import annotations

import html as html_lib
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from tests.launch.test_launch_security import assert_refused, learner_count
from tests.support.minted import TOOL_URL, MintedPlatform, landing, minted_platform

COOKIE_PREFIX = "lti1p3_state_"
FIELD = "lti_storage_binding"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"


@pytest.fixture
def platform(app: Any) -> Any:
    with minted_platform(app) as p:
        yield p


def _fresh_client(app: Any) -> Any:
    """Another browser: none of the first one's cookies."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_HOST"] = "tool.test"
    return client


def _cookie_binding(client: Any, state: str) -> str:
    cookie = client.get_cookie(COOKIE_PREFIX + state, path="/lti/")
    assert cookie is not None
    return str(cookie.value)


def _storage_login(client: Any, platform: MintedPlatform) -> tuple[dict[str, str], str]:
    """A login offering Platform Storage: the page that stores the secret, parsed."""
    response = client.get("/lti/login", query_string={
        "iss": platform.issuer, "login_hint": "user-1", "target_link_uri": TOOL_URL + "/lti/launch",
        "client_id": platform.client_id, "lti_deployment_id": platform.deployment_id,
        "lti_storage_target": "_parent"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    value = html_lib.unescape(re.search(r'data-value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    auth_url = html_lib.unescape(re.search(r'data-next="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    auth = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    return auth, value


# -- finding 7: the storage binding ---------------------------------------------------------------
def test_storage_proof_for_a_login_that_did_not_use_storage_is_refused(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    # The attacker logs in (no Platform Storage), knows the cookie's value, and makes a victim's
    # browser (no cookie) post id_token + state + that value as the storage proof.
    auth = platform.login(client)
    known = _cookie_binding(client, auth["nonce"])
    token = platform.sign(platform.claims(auth))
    victim = _fresh_client(app)
    response = victim.post("/lti/launch", data={"id_token": token, "state": auth["state"],
                                                FIELD: known},
                           headers={"Origin": TOOL_URL})
    assert_refused(response, "state_not_bound")
    assert learner_count(app) == 0


def test_storage_proof_posted_from_another_site_is_refused(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    auth, value = _storage_login(client, platform)
    token = platform.sign(platform.claims(auth))
    victim = _fresh_client(app)
    for origin in ("https://evil.example", "null", None):
        headers = {"Origin": origin} if origin else {}
        response = victim.post("/lti/launch", data={"id_token": token, "state": auth["state"],
                                                    FIELD: value}, headers=headers)
        assert_refused(response, "state_not_bound")
    assert learner_count(app) == 0


def test_the_cookie_value_is_not_a_storage_proof(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    auth, _value = _storage_login(client, platform)
    known = _cookie_binding(client, auth["nonce"])
    token = platform.sign(platform.claims(auth))
    response = _fresh_client(app).post(
        "/lti/launch", data={"id_token": token, "state": auth["state"], FIELD: known},
        headers={"Origin": TOOL_URL})
    assert_refused(response, "state_not_bound")
    assert learner_count(app) == 0


def test_storage_proof_from_our_own_page_launches(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    auth, value = _storage_login(client, platform)
    token = platform.sign(platform.claims(auth))
    browser = _fresh_client(app)  # the partitioned cookie did not survive
    page = browser.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
    assert page.status_code == 200 and f'name="{FIELD}"' in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "same-origin"  # so the repost carries our Origin
    assert "frame-ancestors 'self' https://lms.example.test" in page.headers[
        "Content-Security-Policy"]
    response = browser.post("/lti/launch", data={"id_token": token, "state": auth["state"],
                                                 FIELD: value}, headers={"Origin": TOOL_URL})
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:500]
    assert learner_count(app) == 1


# -- finding 9: claims of the wrong type ----------------------------------------------------------
WRONG_TYPES = {
    "context a string": {"lti_context": "x"},
    "resource_link.id an object": {"lti_resource_link": {"id": {"x": 1}}},
    "resource_link a list": {"lti_resource_link": ["rl-1"]},
    "ags.scope a number": {"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {"scope": 5}},
    "ags.lineitem a list": {"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
        "lineitem": ["x"]}},
    "name an object": {"name": {"first": "Alex"}},
    "email a number": {"email": 5},
    "roles a string": {"lti_roles": "Learner"},
    "roles with an object": {"lti_roles": [{"role": "Learner"}]},
    "custom a list": {"lti_custom": ["a"]},
    "custom value an object": {"lti_custom": {"sexto_activity": {"x": 1}}},
    "launch_presentation a string": {"lti_launch_presentation": "fr"},
    "locale a number": {"lti_launch_presentation": {"locale": 5}},
    "nrps url a number": {"https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
        "context_memberships_url": 5}},
    "aud an object": {"aud": {"x": "client-A"}},
    "deep linking settings a string": {
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": "x"},
}


@pytest.mark.parametrize("overrides", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_claims_of_the_wrong_type_are_refused_with_a_400(
    app: Any, client: Any, platform: MintedPlatform, overrides: dict[str, Any]
) -> None:
    if "aud" in overrides:
        response = platform.launch(client, **overrides)
        assert response.status_code == 400  # refused earlier, by the audience check
    else:
        assert_refused(platform.launch(client, **overrides), "bad_claim")
    assert learner_count(app) == 0


def test_deeply_nested_claim_is_refused_with_a_400(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    nested: Any = "x"
    for _ in range(200):
        nested = [nested]
    # In a claim the tool does not read: only the JSON nesting limit can refuse it.
    response = platform.launch(client, **{"https://example.test/claim/extension": nested})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)
    assert learner_count(app) == 0


# -- framing --------------------------------------------------------------------------------------
def test_launched_page_may_be_framed_by_its_platform_only(
    client: Any, platform: MintedPlatform
) -> None:
    return_url = "https://school.example.test/courses/1/return"
    response = platform.launch(client, lti_launch_presentation={"locale": "fr-CA",
                                                                "return_url": return_url})
    assert response.status_code in (200, 303)
    page = client.get(landing(response))
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).split()  # type: ignore[union-attr]
    # The issuer (and its authorization endpoint), the course's own domain; nothing else.
    assert ancestors == ["'self'", "https://lms.example.test", "https://school.example.test"]
    assert "*" not in csp.split("frame-ancestors")[1]


def test_pages_before_a_registration_is_known_allow_only_registered_platforms(
    client: Any, platform: MintedPlatform
) -> None:
    response = client.get("/lti/login", query_string={"iss": "https://unknown.example",
                                                      "login_hint": "x",
                                                      "target_link_uri": TOOL_URL + "/lti/launch"})
    assert response.status_code == 403
    csp = response.headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self' https://lms.example.test")
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")


# -- private files --------------------------------------------------------------------------------
def test_setup_creates_private_secret_database_and_folders(tmp_path: Path, keys_dir: Path) -> None:
    from lti_tool.cli import main

    instance = tmp_path / "instance"
    env = {"LTI_TOOL_ENV": "dev", "LTI_TOOL_INSTANCE_DIR": str(instance),
           "LTI_TOOL_KEYS_DIR": str(keys_dir), "DATABASE_URL": "", "SECRET_KEY": ""}
    result = CliRunner().invoke(main, ["setup"], env=env)
    assert result.exit_code == 0, result.output
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (instance, instance / "secret_key",
                                                               instance / "lti_tool.db")}
    assert modes == {"instance": 0o700, "secret_key": 0o600, "lti_tool.db": 0o600}
    for extra in instance.glob("lti_tool.db-*"):  # WAL files follow the database's mode
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


def test_registration_page_may_be_framed_by_the_registering_lms(client: Any) -> None:
    # Moodle opens the registration URL in a modal iframe before it is registered: even the
    # refusal must show there. Nothing is fetched without an invitation (tests/launch/test_invitations.py).
    response = client.get("/lti/register", query_string={
        "openid_configuration": "https://moodle.example.test/mod/lti/openid-configuration.php",
        "registration_token": "x"})
    assert response.status_code == 403
    assert response.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://moodle.example.test")
