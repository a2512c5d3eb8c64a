"""LTI Dynamic Registration (https://www.imsglobal.org/spec/lti-dr/v1p0), by invitation, against a
platform served over real HTTP on loopback: Moodle-flavoured (its answer shaped like Moodle's
`registration_helper::config_to_registration`, deployment_id = tool type id) and Canvas-flavoured
(bearer on the configuration fetch, placements and privacy level checked, no deployment_id in the
answer). The platform checks the payload as Moodle's `registration_to_config` does, and then some;
after registration, a launch signed by that platform must be accepted. (Refusals of uninvited,
unknown, expired and used invitations, and approval mode: test_invitations.py.)"""

from __future__ import annotations

import html
import json
import re
import shlex
import socket
import uuid
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from lti_tool.cli import main as cli
from lti_tool.db import get_session
from lti_tool.launch.invitations import create_invitation
from lti_tool.models import Platform, RegistrationInvitation
from tests.support.minted import DROP, TOOL_URL, JwksServer, MintedPlatform, landing

SCOPES = {
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
}
TOOL_CONF = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONF = "https://purl.imsglobal.org/spec/lti-platform-configuration"
# The registration's own key set (keys.py), sent as its jwks_uri instead of the shared JWKS.
KEY_SET_JWKS = re.compile(re.escape(TOOL_URL) + r"/lti/keys/([A-Za-z0-9_-]{16,64})\.json")


class FakePlatform(JwksServer):
    """An LMS's registration side: openid configuration, registration endpoint, JWKS."""

    def __init__(self, family: str = "moodle", *, issuer: str | None = None,
                 refuse_with: tuple[int, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.family = family
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self.issuer = issuer or self.base
        self.url = self.base + "/mod/lti/certs.php"  # the JWKS the tool must record
        self.token = "regtoken-" + uuid.uuid4().hex
        self.refuse_with = refuse_with
        self.config_fetches: list[str | None] = []
        self.requests = 0  # every request this platform received, whatever its path
        self.registrations: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.client_id = "cid-" + uuid.uuid4().hex[:10]
        self.deployment_id = "7"
        # Changes to the openid configuration: a value replaces, DROP removes the key.
        self.config_edits: dict[str, Any] = {}

    @property
    def config_url(self) -> str:
        return self.base + "/mod/lti/openid-configuration.php"

    def configuration(self) -> dict[str, Any]:
        config = self._configuration()
        for key, value in self.config_edits.items():
            if value is DROP:
                config.pop(key, None)
            else:
                config[key] = value
        return config

    def _configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.base + "/mod/lti/auth.php",
            "token_endpoint": self.base + "/mod/lti/token.php",
            "jwks_uri": self.url,
            "registration_endpoint": self.base + "/mod/lti/openid-registration.php",
            "scopes_supported": ["openid", *sorted(SCOPES),
                                 "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            PLATFORM_CONF: {
                "product_family_code": self.family,
                "version": "4.4" if self.family == "moodle" else "cloud",
                "messages_supported": [{"type": "LtiResourceLinkRequest"},
                                       {"type": "LtiDeepLinkingRequest"}],
                "variables": ["basic-lti-launch-request"],
            },
        }

    def _app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.requests += 1
        if request.path == "/mod/lti/certs.php":
            response = Response(json.dumps({"keys": self.keys}), mimetype="application/json")
        elif request.path == "/mod/lti/openid-configuration.php":
            bearer = request.headers.get("Authorization")
            self.config_fetches.append(bearer)
            if self.family == "canvas" and bearer != f"Bearer {self.token}":
                response = Response('{"error": "unauthorized"}', status=401)
            else:
                response = Response(json.dumps(self.configuration()), mimetype="application/json")
        elif request.path == "/mod/lti/openid-registration.php" and request.method == "POST":
            response = self._register(request)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def _register(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"error": "invalid_token"}, 401)
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return _json({"error": "invalid_client_metadata"}, 400)
        self.registrations.append(payload)
        problems = self._check(payload)
        if problems:
            self.problems.extend(problems)
            return _json({"error": "invalid_client_metadata",
                          "error_description": "; ".join(problems)}, 400)
        if self.refuse_with:
            return _json(self.refuse_with[1], self.refuse_with[0])
        conf = payload[TOOL_CONF]
        answer = {
            "client_id": self.client_id, "response_types": ["id_token"],
            "jwks_uri": payload["jwks_uri"], "initiate_login_uri": payload["initiate_login_uri"],
            "grant_types": ["client_credentials", "implicit"],
            "redirect_uris": payload["redirect_uris"], "application_type": ["web"],
            "token_endpoint_auth_method": "private_key_jwt", "client_name": payload["client_name"],
            "scope": payload["scope"],
            TOOL_CONF: {"target_link_uri": conf["target_link_uri"], "domain": conf["domain"],
                        "claims": conf["claims"], "messages": conf["messages"]},
        }
        if self.family == "moodle":
            answer[TOOL_CONF]["deployment_id"] = self.deployment_id  # Moodle: the tool type id
        return _json(answer, 200)

    def _check(self, p: dict[str, Any]) -> list[str]:
        """What Moodle's registration_to_config refuses, the exact tool URLs, and the flavour."""
        problems = []
        conf = p.get(TOOL_CONF) or {}
        expected = {
            "application_type": "web",
            "response_types": ["id_token"],
            "grant_types": ["implicit", "client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "initiate_login_uri": TOOL_URL + "/lti/login",
            "redirect_uris": [TOOL_URL + "/lti/launch"],
            "client_name": "SEXTO — Niveau Architecte / Architect level",  # Moodle keeps this
            "client_name#fr": "SEXTO — Niveau Architecte",
            "client_name#en": "SEXTO — Architect level",
        }
        for key, value in expected.items():
            if p.get(key) != value:
                problems.append(f"{key} is {p.get(key)!r}")
        if not KEY_SET_JWKS.fullmatch(str(p.get("jwks_uri"))):
            problems.append(f"jwks_uri is {p.get('jwks_uri')!r}, not a key set of its own")
        if set(str(p.get("scope", "")).split()) != SCOPES:
            problems.append(f"scope is {p.get('scope')!r}")
        if (conf.get("domain"), conf.get("target_link_uri")) != ("tool.test",
                                                                TOOL_URL + "/lti/launch"):
            problems.append("domain / target_link_uri")
        for claim in ("iss", "sub", "name", "given_name", "family_name", "email", "locale"):
            if claim not in conf.get("claims", []):
                problems.append(f"claim {claim} not asked")
        messages = {m.get("type"): m for m in conf.get("messages", [])}
        if set(messages) != {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}:
            problems.append(f"messages {sorted(messages)}")
        dl = messages.get("LtiDeepLinkingRequest", {})
        if dl.get("target_link_uri") != TOOL_URL + "/lti/launch" or not dl.get("label#en"):
            problems.append("deep linking message")
        canvas_privacy = conf.get("https://canvas.instructure.com/lti/privacy_level")
        if self.family == "canvas":
            if dl.get("placements") != ["link_selection", "assignment_selection"]:
                problems.append(f"canvas placements {dl.get('placements')!r}")
            if canvas_privacy != "public":
                problems.append("canvas privacy level")
        elif canvas_privacy is not None or any("placements" in m for m in messages.values()):
            problems.append("Canvas fields sent to a non-Canvas platform")
        return problems


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@pytest.fixture
def https_client(client: Any) -> Any:
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def _form_value(page: str) -> str:
    match = re.search(r'name="registration" value="([^"]+)"', page)
    assert match, page[:1500]
    return html.unescape(match.group(1))


def invite(app: Any, *, organisation: str | None = None, ttl: int = 3600,
           created: Any = None) -> str:
    """A fresh invitation's secret (what `lti-tool platform invite` puts in its URL)."""
    with app.test_request_context():
        session = get_session()
        _, secret = create_invitation(session, ttl=ttl, organisation=organisation, now=created)
        session.commit()
    return secret


def _start(client: Any, platform: FakePlatform, invite: str | None = None, **extra: str) -> Any:
    params = {"openid_configuration": platform.config_url, "registration_token": platform.token,
              **extra}
    if invite:
        params["invite"] = invite
    return client.get("/lti/register", query_string=params)


def _registered(app: Any, issuer: str, *, trust: bool = False) -> list[dict[str, Any]]:
    """The registrations stored for `issuer`, read back from the database (`trust`: with their
    status, origin, organisation and key set)."""
    with app.test_request_context():
        rows = get_session().execute(select(Platform).where(Platform.issuer == issuer)).scalars()
        found = []
        for p in rows:
            row: dict[str, Any] = {
                "client_id": p.client_id, "family": p.family, "auth_url": p.auth_url,
                "token_url": p.token_url, "jwks_url": p.jwks_url,
                "deployments": [d.deployment_id for d in p.deployments]}
            if trust:
                row.update(status=p.status, origin=p.origin, organisation=p.organisation_code,
                           key_set=p.key_set, invitation_id=p.invitation_id,
                           approved=p.approved_at is not None,
                           deployment_organisations=[d.organisation_code for d in p.deployments])
            found.append(row)
        return found


def _invitations(app: Any) -> list[tuple[str | None, bool]]:
    """(organisation, used) of every invitation."""
    with app.test_request_context():
        rows = get_session().execute(select(RegistrationInvitation)).scalars()
        return [(i.organisation_code, i.used_at is not None) for i in rows]


def assert_refused(response: Any, code: str, status: int = 400) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, page[:800])
    assert f'data-error-code="{code}"' in page, page[:800]
    assert 'lang="fr"' in page and 'lang="en"' in page
    return page


def test_moodle_registration_round_trip_then_launch(app: Any, https_client: Any) -> None:
    secret = invite(app, organisation="CSS-TEST")
    with FakePlatform("moodle") as lms:
        start = _start(https_client, lms, secret)
        page = start.get_data(as_text=True)
        assert start.status_code == 200, page[:1000]
        assert start.headers["Cache-Control"] == "no-store"
        # The confirmation page, in French by default: which platform, what gets registered.
        assert 'lang="fr"' in page and "Inscrire l'outil" in page
        assert lms.issuer in page and "Moodle 4.4" in page
        assert f"<code>{TOOL_URL}/lti/login</code>" in page
        assert f"<code>{TOOL_URL}/lti/keys/….json</code>" in page  # its own key set
        assert "CSS-TEST" in page and 'data-testid="pending-notice"' not in page
        assert "<script>" not in page and "js/lti-close.js" in page  # no inline script (CSP)
        assert secret not in page.replace("invite=" + secret, "")  # only in the language link
        assert lms.registrations == []  # nothing sent before the administrator confirms

        done = https_client.post("/lti/register", data={"registration": _form_value(page)})
        body = done.get_data(as_text=True)
        assert done.status_code == 200, body[:1500]
        assert lms.problems == [] and len(lms.registrations) == 1
        assert lms.config_fetches == [f"Bearer {lms.token}"] * 2
        assert "L'outil est inscrit" in body and lms.client_id in body
        assert 'data-testid="deployment-id">7<' in body
        assert 'data-testid="organisation">CSS-TEST<' in body
        assert "data-lti-close" in body and "js/lti-close.js" in body and "<script>" not in body

        [row] = _registered(app, lms.issuer, trust=True)
        key_set = KEY_SET_JWKS.fullmatch(lms.registrations[0]["jwks_uri"]).group(1)  # type: ignore[union-attr]
        assert row.pop("invitation_id") is not None
        assert row == {"client_id": lms.client_id, "family": "moodle",
                       "auth_url": lms.base + "/mod/lti/auth.php",
                       "token_url": lms.base + "/mod/lti/token.php",
                       "jwks_url": lms.base + "/mod/lti/certs.php", "deployments": ["7"],
                       "status": "active", "origin": "invitation", "organisation": "CSS-TEST",
                       "key_set": key_set, "approved": False,
                       "deployment_organisations": ["CSS-TEST"]}
        assert _invitations(app) == [("CSS-TEST", True)]
        # The jwks_uri the platform was given serves the registration's own key, and only it.
        own = https_client.get(f"/lti/keys/{key_set}.json").get_json()
        shared = https_client.get("/.well-known/jwks.json").get_json()
        assert own["keys"] and not {k["kid"] for k in own["keys"]} & {k["kid"] for k in shared["keys"]}

        # A launch signed by the platform just registered is accepted: the tool fetches its key
        # from the jwks_uri recorded at registration.
        minted = MintedPlatform(lms, issuer=lms.issuer, client_id=lms.client_id, deployment_id="7")
        launch = minted.launch(https_client)
        assert launch.status_code in (200, 303), launch.get_data(as_text=True)[:800]
        assert landing(launch).startswith("/level?t=")

        # The invitation is spent: the same signed form, or the same URL, registers nothing more.
        requests_before = lms.requests
        again = https_client.post("/lti/register", data={"registration": _form_value(page)})
        assert_refused(again, "invitation_used", 403)
        assert_refused(_start(https_client, lms, secret), "invitation_used", 403)
        assert lms.requests == requests_before and len(lms.registrations) == 1
    assert len(_registered(app, lms.issuer)) == 1


def test_canvas_registration_without_deployment_then_the_command_it_gives(
        app: Any, https_client: Any) -> None:
    secret = invite(app, organisation="CSS-CANVAS")
    with FakePlatform("canvas") as lms:
        page = _start(https_client, lms, secret).get_data(as_text=True)
        assert "link_selection, assignment_selection" in page  # Canvas placements shown
        done = https_client.post("/lti/register", data={"registration": _form_value(page)})
        body = done.get_data(as_text=True)
        assert done.status_code == 200, body[:1500]
        assert lms.problems == [] and len(lms.registrations) == 1
        # Canvas wants the registration token on the configuration request too.
        assert lms.config_fetches == [f"Bearer {lms.token}"] * 2
        assert 'data-testid="deployment-missing"' in body
        assert "data-lti-close-auto" not in body  # the administrator has a command to copy
        [row] = _registered(app, lms.issuer, trust=True)
        assert (row["client_id"], row["family"]) == (lms.client_id, "canvas")
        assert (row["origin"], row["status"], row["organisation"]) == ("invitation", "active",
                                                                       "CSS-CANVAS")
        assert row["key_set"] and row["deployments"] == []
        assert _invitations(app) == [("CSS-CANVAS", True)]

        # Until the deployment is added, a login naming it is refused with the command to run.
        minted = MintedPlatform(lms, issuer=lms.issuer, client_id=lms.client_id,
                                deployment_id="canvas-dep-1")
        refused = https_client.get("/lti/login", query_string={
            "iss": lms.issuer, "login_hint": "u", "target_link_uri": TOOL_URL + "/lti/launch",
            "client_id": lms.client_id, "lti_deployment_id": "canvas-dep-1"})
        assert_refused(refused, "unknown_deployment", 403)

        # The command the page gave, with the Deployment Id Canvas shows, makes launches work.
        match = re.search(r"<pre><code>(lti-tool platform add-deployment [^<]+)</code></pre>", body)
        assert match, body[:2000]
        command = html.unescape(match.group(1)).replace("<deployment_id>", "canvas-dep-1")
        result = app.test_cli_runner().invoke(cli, shlex.split(command)[1:])
        assert result.exit_code == 0, result.output
        launch = minted.launch(https_client)
        assert launch.status_code in (200, 303), launch.get_data(as_text=True)[:800]
        # The deployment added later belongs to the invitation's organisation too; the
        # registration stays what the invitation made it.
        [row] = _registered(app, lms.issuer, trust=True)
        assert row["deployment_organisations"] == ["CSS-CANVAS"] and row["origin"] == "invitation"


def test_english_confirmation_page(app: Any, https_client: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle") as lms:
        response = _start(https_client, lms, secret, lang="en")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="en"' in page
    assert "Register the tool with your platform" in page
    assert 'action="/lti/register?lang=en"' in page
    # The switch back to French keeps the registration parameters, the invitation included.
    assert "lang=fr" in page and "registration_token=" + lms.token in page
    assert "invite=" + secret in page


@pytest.mark.parametrize(("edit", "value"), [
    ("issuer", "https://moodle.other.example"),  # the configuration URL must start with it
    ("issuer", DROP),
    ("registration_endpoint", DROP),
    ("jwks_uri", "ftp://127.0.0.1/keys"),
    ("token_endpoint", DROP),
    (PLATFORM_CONF, DROP),
    (PLATFORM_CONF, {"messages_supported": [{"type": "LtiResourceLinkRequest"}]}),
    (PLATFORM_CONF, {"product_family_code": "moodle", "messages_supported": []}),
])
def test_bad_openid_configuration_is_refused(app: Any, https_client: Any, edit: str,
                                             value: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle") as lms:
        lms.config_edits[edit] = value
        page = assert_refused(_start(https_client, lms, secret), "bad_openid_configuration")
        assert "configuration OpenID" in page and "OpenID configuration" in page
        assert lms.registrations == []
    assert _registered(app, lms.issuer) == []
    assert _invitations(app) == [(None, False)]  # a failed registration does not spend it


def test_issuer_mismatch_names_the_issuer(app: Any, https_client: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle", issuer="https://moodle.other.example") as lms:
        page = assert_refused(_start(https_client, lms, secret), "bad_openid_configuration")
    assert "https://moodle.other.example" in page


def test_issuer_must_end_at_a_boundary_of_the_configuration_url(app: Any,
                                                                https_client: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle") as lms:
        lms.config_edits["issuer"] = lms.base[:-1]  # http://127.0.0.1:4567 for …:45678/…
        assert lms.config_url.startswith(lms.config_edits["issuer"])
        assert_refused(_start(https_client, lms, secret), "bad_openid_configuration")


def test_platform_refusal_is_logged_but_its_answer_never_shown(
        app: Any, https_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    said = "This tool domain is already registered <b>internal-host-42</b>"
    refusal = (403, {"error": "invalid_client_metadata", "error_description": said})
    secret = invite(app)
    with FakePlatform("moodle", refuse_with=refusal) as lms:
        page = _start(https_client, lms, secret).get_data(as_text=True)
        response = https_client.post("/lti/register", data={"registration": _form_value(page)})
        body = html.unescape(assert_refused(response, "registration_refused"))
        assert "La plateforme a refusé l'inscription." in body
        assert "The platform refused the registration." in body
        # Neither the remote answer nor its status code reaches the page; the log has both.
        for leaked in ("internal-host-42", "already registered", "invalid_client_metadata",
                       "403"):
            assert leaked not in body, leaked
        assert "internal-host-42" in caplog.text and "answered 403" in caplog.text
        assert len(lms.registrations) == 1
    assert _registered(app, lms.issuer) == []
    assert _invitations(app) == [(None, False)]  # still usable once the platform is fixed


def test_wrong_registration_token_is_refused_by_the_platform(app: Any, https_client: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle") as lms:
        page = https_client.get("/lti/register", query_string={
            "openid_configuration": lms.config_url, "registration_token": "stolen",
            "invite": secret}).get_data(as_text=True)
        response = https_client.post("/lti/register", data={"registration": _form_value(page)})
        body = assert_refused(response, "registration_refused")
        assert "invalid_token" not in body and "401" not in body
        assert lms.registrations == []  # the platform refused before reading the payload
    assert _registered(app, lms.issuer) == []


def test_tampered_or_forged_confirmation_form_is_refused(app: Any, https_client: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle") as lms:
        genuine = _form_value(_start(https_client, lms, secret).get_data(as_text=True))
        payload, rest = genuine.split(".", 1)
        other = URLSafeTimedSerializer("x", salt="y").dumps({"c": "http://127.0.0.1:1/evil"})
        forged_payload = other.split(".", 1)[0]
        requests_before = lms.requests
        for value in (forged_payload + "." + rest,  # another configuration URL, same signature
                      genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
                      URLSafeTimedSerializer("not-the-secret", salt="lti-dynamic-registration")
                      .dumps({"c": lms.config_url, "t": lms.token, "i": secret}),
                      ""):
            response = https_client.post("/lti/register", data={"registration": value})
            assert_refused(response, "registration_form_invalid")
        assert lms.registrations == [] and lms.requests == requests_before
    assert _registered(app, lms.issuer) == []


def test_existing_registration_is_never_changed_by_a_dynamic_registration(
        app: Any, https_client: Any) -> None:
    """The platform answers with the client_id of a registration already there (same issuer):
    refused, and the stored registration keeps its endpoints, key set and organisation."""
    secret = invite(app, organisation="CSS-OTHER")
    with FakePlatform("moodle") as lms:
        result = app.test_cli_runner().invoke(cli, [
            "platform", "add", "--issuer", lms.issuer, "--client-id", lms.client_id,
            "--auth-url", lms.base + "/mod/lti/auth.php",
            "--token-url", lms.base + "/mod/lti/token.php",
            "--jwks-url", lms.base + "/mod/lti/certs.php", "--deployment-id", "7",
            "--organisation", "CSS-FIRST"])
        assert result.exit_code == 0, result.output
        before = _registered(app, lms.issuer, trust=True)
        page = _start(https_client, lms, secret).get_data(as_text=True)
        response = https_client.post("/lti/register", data={"registration": _form_value(page)})
        assert_refused(response, "registration_conflict", 409)
    assert _registered(app, lms.issuer, trust=True) == before
    assert before[0]["origin"] == "cli" and before[0]["key_set"] is None
    assert _invitations(app) == [("CSS-OTHER", False)]  # rolled back with the refusal


def test_unreachable_platform_is_a_4xx_page(app: Any, https_client: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    response = https_client.get("/lti/register", query_string={
        "openid_configuration": f"http://127.0.0.1:{port}/mod/lti/openid-configuration.php",
        "registration_token": "t", "invite": invite(app)})
    assert_refused(response, "platform_unreachable", 424)


@pytest.mark.parametrize("url", ["", "file:///etc/passwd", "javascript:alert(1)", "not a url"])
def test_missing_or_bad_configuration_address(app: Any, https_client: Any, url: str) -> None:
    response = https_client.get("/lti/register", query_string={"openid_configuration": url,
                                                               "invite": invite(app)})
    assert_refused(response, "bad_openid_configuration")


def test_close_script_posts_the_lti_close_message() -> None:
    from pathlib import Path

    import lti_tool

    script = (Path(lti_tool.__file__).parent / "static/js/lti-close.js").read_text()
    assert 'postMessage({ subject: "org.imsglobal.lti.close" }, "*")' in script
    assert "window.opener || " in script
