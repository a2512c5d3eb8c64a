"""Every item of the LTI.md launch checklist and every 1EdTech known-bad payload, each sent and
refused with a clear 4xx page; the valid variants launch. Tokens are minted here so each bad case
can be built exactly; whole launches against an independent platform are in tests/functional."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.models import Learner, LoginState
from tests.support.error_pages import logged_for
from tests.support.minted import DROP, TOOL_URL, MintedPlatform, minted_platform, new_key
from tests.support.minted import landing as page_url

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"


@pytest.fixture
def platform(app: Any) -> Any:
    with minted_platform(app) as p:
        yield p


def assert_refused(response: Any, code: str, status: int = 400) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, html[:600])
    assert f'data-error-code="{code}"' in html, html[:800]
    assert 'lang="fr"' in html and 'lang="en"' in html  # both languages on the page
    assert "Traceback" not in html and 'File "' not in html
    return html


def learner_count(app: Any) -> int:
    with app.test_request_context():
        return get_session().execute(select(func.count()).select_from(Learner)).scalar_one()


def test_valid_launch_lands_on_the_learner_page(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    response = platform.launch(client)
    assert response.status_code in (200, 303)
    assert page_url(response).startswith("/level?t=")
    assert learner_count(app) == 1
    page = client.get(page_url(response))
    assert page.status_code == 200


# -- 1. signature ---------------------------------------------------------------------------------
def test_signature_by_another_key_is_refused(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    auth = platform.login(client)
    token = platform.sign(platform.claims(auth), key=new_key())
    assert_refused(platform.launch(client, auth=auth, token=token), "bad_signature")
    assert learner_count(app) == 0


def test_alg_none_is_refused(client: Any, platform: MintedPlatform) -> None:
    auth = platform.login(client)
    token = jwt.encode(platform.claims(auth), None, algorithm="none", headers={"kid": platform.kid})
    assert_refused(platform.launch(client, auth=auth, token=token), "bad_signature")


def test_hs256_with_the_public_key_as_secret_is_refused(
    client: Any, platform: MintedPlatform
) -> None:
    auth = platform.login(client)
    import base64
    import hashlib
    import hmac
    import json

    # PyJWT refuses to HMAC-sign with a PEM, so build the classic confusion attack by hand.
    from cryptography.hazmat.primitives import serialization

    pem = platform.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "kid": platform.kid}).encode())
        + "."
        + b64(json.dumps(platform.claims(auth)).encode())
    )
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert_refused(
        platform.launch(client, auth=auth, token=signing_input + "." + b64(sig)), "bad_signature"
    )


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://attacker.test/jwks.json"},
        {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"x5u": "https://attacker.test/cert.pem"},
    ],
)
def test_header_naming_its_own_key_is_refused(
    client: Any, platform: MintedPlatform, header: dict[str, Any]
) -> None:
    auth = platform.login(client)
    token = platform.sign(platform.claims(auth), headers=header)
    assert_refused(platform.launch(client, auth=auth, token=token), "bad_signature")


def test_token_without_kid_is_refused(client: Any, platform: MintedPlatform) -> None:
    auth = platform.login(client)
    token = jwt.encode(platform.claims(auth), platform.key, algorithm="RS256")
    assert_refused(platform.launch(client, auth=auth, token=token), "bad_signature")


def test_unknown_kid_refetches_once_then_refuses(client: Any, platform: MintedPlatform) -> None:
    assert platform.launch(client).status_code in (200, 303)  # JWKS now cached
    hits = platform.jwks.hits
    auth = platform.login(client)
    token = platform.sign(platform.claims(auth), headers={"kid": "no-such-kid"})
    assert_refused(platform.launch(client, auth=auth, token=token), "bad_signature")
    assert platform.jwks.hits == hits + 1  # exactly one re-fetch
    auth = platform.login(client)
    token = platform.sign(platform.claims(auth), headers={"kid": "another-unknown-kid"})
    assert_refused(platform.launch(client, auth=auth, token=token), "bad_signature")
    assert platform.jwks.hits == hits + 1  # rate-limited: no second fetch


def test_platform_key_rotation_is_picked_up_by_refetch(
    client: Any, platform: MintedPlatform
) -> None:
    from tests.support.minted import public_jwk

    assert platform.launch(client).status_code in (200, 303)
    rotated = new_key()
    platform.jwks.keys.append(public_jwk(rotated, "platform-key-2"))
    auth = platform.login(client)
    token = platform.sign(platform.claims(auth), key=rotated, headers={"kid": "platform-key-2"})
    assert platform.launch(client, auth=auth, token=token).status_code in (200, 303)


def test_not_a_jwt_is_refused(client: Any, platform: MintedPlatform) -> None:
    auth = platform.login(client)
    assert_refused(platform.launch(client, auth=auth, token="not-a-jwt"), "bad_jwt")
    auth = platform.login(client)
    assert_refused(platform.launch(client, auth=auth, token="a.b.c"), "bad_jwt")


# -- 2. issuer and registration by (iss, client_id) --------------------------------------------------
def test_login_from_an_unregistered_issuer_is_refused(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get(
        "/lti/login",
        query_string={
            "iss": "https://unknown.test",
            "login_hint": "u",
            "client_id": "x",
            "target_link_uri": TOOL_URL + "/lti/launch",
        },
    )
    html = assert_refused(response, "unknown_platform", 403)
    # The command is for the tool's administrator: logged under the reference the page shows.
    assert "lti-tool platform add" not in html
    assert "lti-tool platform add" in logged_for(caplog, html)


def test_token_from_another_issuer_is_refused(client: Any, platform: MintedPlatform) -> None:
    assert_refused(platform.launch(client, iss="https://other-lms.test"), "wrong_issuer")


def test_tenant_a_token_never_accepted_for_tenant_b_on_the_same_issuer(
    app: Any, client: Any
) -> None:
    """Canvas: one issuer, one JWKS, many customers told apart by client_id."""
    with minted_platform(app, client_id="tenant-A") as a:
        b = MintedPlatform(a.jwks, client_id="tenant-B", key=a.key)
        b.register(app)
        auth_b = b.login(client)
        token_for_a = a.sign(a.claims(auth_b))  # aud = tenant-A, nonce of B's login
        assert_refused(b.launch(client, auth=auth_b, token=token_for_a), "wrong_audience")
        assert b.launch(client).status_code in (200, 303)  # B itself still launches


# -- 3. aud and azp ----------------------------------------------------------------------------------
def test_aud_without_our_client_id_is_refused(client: Any, platform: MintedPlatform) -> None:
    assert_refused(platform.launch(client, aud="someone-else"), "wrong_audience")


def test_several_audiences_need_azp(client: Any, platform: MintedPlatform) -> None:
    assert_refused(platform.launch(client, aud=[platform.client_id, "other"]), "wrong_azp")
    assert_refused(
        platform.launch(client, aud=[platform.client_id, "other"], azp="other"), "wrong_azp"
    )
    ok = platform.launch(client, aud=["other", platform.client_id], azp=platform.client_id)
    assert ok.status_code in (200, 303)


# -- 4. exp / iat ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"iat": int(time.time()) + 3600},
        {"iat": int(time.time()) - 5 * 3600},
        {"exp": DROP},
        {"iat": DROP},
        {"exp": "tomorrow"},
    ],
)
def test_invalid_times_are_refused(
    client: Any, platform: MintedPlatform, claims: dict[str, Any]
) -> None:
    assert_refused(platform.launch(client, **claims), "bad_time")


def test_small_clock_skew_is_tolerated(client: Any, platform: MintedPlatform) -> None:
    assert platform.launch(client, iat=int(time.time()) + 30).status_code in (200, 303)


# -- 5. nonce, issued for this login and consumed -------------------------------------------------------
def test_replay_of_a_valid_launch_is_refused(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    auth = platform.login(client)
    captured = client.get_cookie("lti1p3_state_" + auth["nonce"], path="/lti/")
    assert captured is not None
    token = platform.sign(platform.claims(auth))
    assert platform.launch(client, auth=auth, token=token).status_code in (200, 303)
    # The attacker replays the captured form with the captured cookie.
    client.set_cookie(captured.key, captured.value, path="/lti/")
    assert_refused(platform.launch(client, auth=auth, token=token), "nonce_used")
    assert learner_count(app) == 1
    with app.test_request_context():
        # the used nonce is kept until its state expires (it is what refuses the replay)
        used = get_session().execute(select(func.count()).select_from(LoginState)).scalar_one()
        assert used == (0 if app.extensions.get("redis") else 1)  # Redis keeps it otherwise


def test_nonce_of_another_login_is_refused(client: Any, platform: MintedPlatform) -> None:
    first = platform.login(client)
    second = platform.login(client)
    token = platform.sign(platform.claims(first))  # nonce of the first login
    assert_refused(platform.launch(client, auth=second, token=token), "nonce_mismatch")


def test_missing_nonce_is_refused(client: Any, platform: MintedPlatform) -> None:
    assert_refused(platform.launch(client, nonce=DROP), "missing_nonce")


# -- 6. state bound to the browser ---------------------------------------------------------------------
def test_launch_in_another_browser_is_refused(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    auth = platform.login(client)
    token = platform.sign(platform.claims(auth))
    other_browser = app.test_client()
    other_browser.environ_base.update(client.environ_base)
    response = other_browser.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
    assert_refused(response, "state_not_bound")


def test_unknown_or_missing_state_is_refused(client: Any, platform: MintedPlatform) -> None:
    assert_refused(platform.launch(client, state="made-up-state"), "unknown_state")
    assert_refused(platform.launch(client, state=""), "missing_state")


def test_state_cookie_is_partitioned_and_cross_site(client: Any, platform: MintedPlatform) -> None:
    params = {
        "iss": platform.issuer,
        "login_hint": "u",
        "client_id": platform.client_id,
        "target_link_uri": TOOL_URL + "/lti/launch",
    }
    cookie = client.get("/lti/login", query_string=params).headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert attribute in cookie


# -- 7. deployment ---------------------------------------------------------------------------------------
def test_unknown_deployment_tells_the_admin_what_to_run(
    client: Any, platform: MintedPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    html = assert_refused(
        platform.launch(client, lti_deployment_id="deploy-99"), "unknown_deployment", 403
    )
    # The learner sees the deployment and a reference; the command is in the log under it.
    assert "deploy-99" in html and "lti-tool platform" not in html
    assert "deploy-99" in logged_for(caplog, html)
    assert "lti-tool platform add" in logged_for(caplog, html)


def test_unknown_deployment_at_login_is_refused(client: Any, platform: MintedPlatform) -> None:
    response = client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "u",
            "client_id": platform.client_id,
            "target_link_uri": TOOL_URL + "/lti/launch",
            "lti_deployment_id": "deploy-99",
        },
    )
    assert_refused(response, "unknown_deployment", 403)


def test_missing_deployment_is_refused(client: Any, platform: MintedPlatform) -> None:
    assert_refused(platform.launch(client, lti_deployment_id=DROP), "missing_deployment")


def test_several_deployments_per_registration(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    platform.register(app, deployments=("deploy-2",))
    assert platform.launch(client, lti_deployment_id="deploy-2").status_code in (200, 303)


# -- 8. message ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "claims, code",
    [
        ({"lti_message_type": DROP}, "bad_message_type"),
        ({"lti_message_type": "LtiSomethingElse"}, "bad_message_type"),
        ({"lti_version": DROP}, "bad_version"),
        ({"lti_version": "1.1"}, "bad_version"),
        ({"lti_roles": DROP}, "missing_roles"),
        ({"lti_resource_link": {"title": "no id"}}, "invalid_message"),
        ({"lti_resource_link": DROP}, "invalid_message"),
    ],
)
def test_incomplete_messages_are_refused(
    client: Any, platform: MintedPlatform, claims: dict[str, Any], code: str
) -> None:
    assert_refused(platform.launch(client, **claims), code)


def test_anonymous_launch_is_refused_with_a_clear_message(
    client: Any, platform: MintedPlatform
) -> None:
    html = assert_refused(platform.launch(client, sub=DROP), "anonymous")
    assert "identifiant" in html and "user identifier" in html


# -- 9. target_link_uri ----------------------------------------------------------------------------------
def test_target_of_another_application_is_refused(client: Any, platform: MintedPlatform) -> None:
    response = client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "u",
            "client_id": platform.client_id,
            "target_link_uri": "https://elsewhere.test/launch",
        },
    )
    assert_refused(response, "foreign_target")
    assert_refused(
        platform.launch(client, lti_target_link_uri="https://elsewhere.test/x"), "foreign_target"
    )


def test_target_different_from_the_login_is_refused(client: Any, platform: MintedPlatform) -> None:
    auth = platform.login(client, target=TOOL_URL + "/lti/launch?activity=case-1")
    assert_refused(platform.launch(client, auth=auth), "target_mismatch")


# -- valid variants of the 1EdTech certification --------------------------------------------------------
@pytest.mark.parametrize(
    "claims",
    [
        {"name": DROP, "given_name": DROP, "family_name": DROP, "email": DROP},  # no PII
        {"name": DROP, "given_name": DROP, "family_name": DROP},  # email only
        {"email": DROP},  # names only
    ],
)
def test_launch_without_pii_variants(
    client: Any, platform: MintedPlatform, claims: dict[str, Any]
) -> None:
    response = platform.launch(client, **claims)
    assert response.status_code in (200, 303)
    assert client.get(page_url(response)).status_code == 200


@pytest.mark.parametrize(
    "roles, landing",
    [
        (
            [MEMBERSHIP + "Instructor", MEMBERSHIP + "Learner", INSTITUTION + "Faculty"],
            "/instructor",
        ),
        (["Instructor"], "/instructor"),  # short role name
        (["Learner"], "/level"),
        (["http://example.test/roles#Wizard"], "/level"),  # unknown role: least privilege
        ([], "/level"),  # no role
        ([INSTITUTION + "Instructor", MEMBERSHIP + "Learner"], "/level"),  # course role first
        ([INSTITUTION + "Administrator"], "/instructor"),
    ],
)
def test_roles_decide_the_landing(
    client: Any, platform: MintedPlatform, roles: list[str], landing: str
) -> None:
    response = platform.launch(client, lti_roles=roles)
    assert response.status_code in (200, 303)
    assert page_url(response).startswith(landing + "?t=")
    assert client.get(page_url(response)).status_code == 200


def test_learner_and_context_are_upserted_not_duplicated(
    app: Any, client: Any, platform: MintedPlatform
) -> None:
    assert platform.launch(client).status_code in (200, 303)
    assert platform.launch(client, name="Alex T.").status_code in (200, 303)
    with app.test_request_context():
        names = get_session().execute(select(Learner.name)).scalars().all()
    assert names == ["Alex T."]


# -- page token ----------------------------------------------------------------------------------------
def test_tampered_or_missing_page_token_is_refused(client: Any, platform: MintedPlatform) -> None:
    location = page_url(platform.launch(client))
    token = location.split("t=", 1)[1]
    assert_refused(client.get("/level?t=" + token[:-2] + "xx"), "bad_token", 403)
    assert_refused(client.get("/level"), "no_session", 401)  # never a session: not "expired"


def test_learner_token_cannot_open_the_instructor_page(
    client: Any, platform: MintedPlatform
) -> None:
    location = page_url(platform.launch(client))
    response = client.get(location.replace("/level", "/instructor"))
    assert_refused(response, "forbidden", 403)
