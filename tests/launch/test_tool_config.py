"""`/lti/config` (the values an administrator pastes into Moodle's manual form or Canvas) and
`/lti/config/canvas.json` (Canvas developer-key JSON): exact URLs, both languages."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from tests.support.minted import TOOL_URL

SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]


@pytest.fixture
def https_client(client: Any) -> Any:
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def _fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<code data-field="([a-z_]+)">([^<]*)</code>', page))


def _text(page: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', page)
    assert match, testid
    return html.unescape(match.group(1))


def test_config_page_gives_the_exact_values(https_client: Any) -> None:
    response = https_client.get("/lti/config")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="fr"' in page
    assert _fields(page) == {
        "register": f"{TOOL_URL}/lti/register",
        "tool_url": f"{TOOL_URL}/lti/launch",
        "jwks": f"{TOOL_URL}/.well-known/jwks.json",
        "login": f"{TOOL_URL}/lti/login",
        "redirect": f"{TOOL_URL}/lti/launch",
        "content_selection": f"{TOOL_URL}/lti/launch",
        "canvas_json": f"{TOOL_URL}/lti/config/canvas.json",
    }
    # Moodle's manual form, in French: LTI 1.3, grade sync and column management, privacy.
    for label in ("URL de l'outil", "LTI 1.3", "Jeu de clés publiques", "URL de connexion initiale",
                  "URI de redirection", "Paramètres personnalisés", "sexto_activity",
                  "URL de sélection de contenu",
                  "synchronisation des notes et la gestion des colonnes",
                  "Partager le nom de l'utilisateur avec l'outil",
                  "Partager l'adresse de courriel", "Accepter les notes de l'outil"):
        assert label in page, label
    for scope in SCOPES:
        assert f"<code>{scope}</code>" in page
    assert _text(page, "canvas-command") == (
        "lti-tool platform add --issuer https://canvas.instructure.com --client-id <client_id> "
        "--auth-url https://sso.canvaslms.com/api/lti/authorize_redirect "
        "--token-url https://sso.canvaslms.com/login/oauth2/token "
        "--jwks-url https://sso.canvaslms.com/api/lti/security/jwks "
        "--deployment-id <deployment_id>")


def test_config_page_in_english(https_client: Any) -> None:
    page = https_client.get("/lti/config?lang=en").get_data(as_text=True)
    assert 'lang="en"' in page
    for label in ("Tool URL", "Public keyset", "Initiate login URL", "Redirection URI(s)",
                  "Supports Deep Linking (Content-Item Message)", "Content Selection URL",
                  "Use this service for grade sync and column management",
                  "Share launcher's name with tool", "Accept grades from the tool"):
        assert label in page, label
    assert _fields(page)["tool_url"] == f"{TOOL_URL}/lti/launch"
    assert 'href="/lti/config?lang=fr"' in page


def test_moodle_site_fills_in_the_command(https_client: Any) -> None:
    page = https_client.get("/lti/config", query_string={
        "moodle": "https://moodle.cssdm.example/"}).get_data(as_text=True)
    assert _text(page, "moodle-command") == (
        "lti-tool platform add --issuer https://moodle.cssdm.example --client-id <client_id> "
        "--auth-url https://moodle.cssdm.example/mod/lti/auth.php "
        "--token-url https://moodle.cssdm.example/mod/lti/token.php "
        "--jwks-url https://moodle.cssdm.example/mod/lti/certs.php "
        "--deployment-id <deployment_id>")


@pytest.mark.parametrize("site", ["javascript:alert(1)", "https://x.example/\"><script>",
                                  "ftp://moodle.example"])
def test_a_bad_moodle_site_is_not_echoed(https_client: Any, site: str) -> None:
    page = https_client.get("/lti/config", query_string={"moodle": site}).get_data(as_text=True)
    assert "n'est pas l'adresse d'un site" in page
    assert site not in page and "<script>" not in page
    assert "https://moodle.example.org/mod/lti/auth.php" in _text(page, "moodle-command")


def test_canvas_developer_key_json(https_client: Any) -> None:
    response = https_client.get("/lti/config/canvas.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["title"] == "SEXTO — Niveau Architecte" and doc["description"]
    assert doc["oidc_initiation_url"] == f"{TOOL_URL}/lti/login"
    assert doc["target_link_uri"] == f"{TOOL_URL}/lti/launch"
    assert doc["public_jwk_url"] == f"{TOOL_URL}/.well-known/jwks.json"
    assert doc["scopes"] == SCOPES
    assert doc["custom_fields"] == {}
    [extension] = doc["extensions"]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["privacy_level"] == "public"
    placements = {p["placement"]: p for p in extension["settings"]["placements"]}
    assert set(placements) == {"link_selection", "assignment_selection", "course_navigation"}
    for name in ("link_selection", "assignment_selection"):
        assert placements[name]["message_type"] == "LtiDeepLinkingRequest"
        assert placements[name]["target_link_uri"] == f"{TOOL_URL}/lti/launch"
    assert placements["course_navigation"]["message_type"] == "LtiResourceLinkRequest"
    assert placements["course_navigation"]["target_link_uri"] == f"{TOOL_URL}/lti/launch"


def test_logo_in_the_registration_is_served(https_client: Any) -> None:
    doc = https_client.get("/lti/config/canvas.json").get_json()
    icon = doc["extensions"][0]["settings"]["icon_url"]
    assert icon.startswith(TOOL_URL + "/static/")
    response = https_client.get(icon[len(TOOL_URL):])
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    response.close()
