"""What an LMS needs to know about the tool, said once: the URLs, scopes, claims and messages that
dynamic registration sends (https://www.imsglobal.org/spec/lti-dr/v1p0#tool-configuration), that the
Canvas developer-key JSON lists, and that the `/lti/config` page shows an administrator registering
by hand (Moodle's manual form, LTI.md "Moodle").

Every URL derives from `LTI_TOOL_BASE_URL` (never from the request's Host header, which a proxy or a
visitor controls).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from lti_tool.errors import Bilingual
from lti_tool.launch import claims as c
from lti_tool.launch.platforms import Canvas, Generic
from lti_tool.launch.services import ACTIVITY_PARAM

bp = Blueprint("tool_config", __name__)

TOOL_NAME = Bilingual("SEXTO — Niveau Architecte", "SEXTO — Architect level")
DESCRIPTION = Bilingual(
    "Trois cas fictifs et trois questions de réflexion pour intervenir selon la méthode SEXTO "
    "lorsqu'un sextage implique des élèves du secondaire.",
    "Three fictional cases and three reflection questions on responding with the SEXTO method "
    "when sexting involves secondary-school students.")
DEEP_LINKING_LABEL = Bilingual("Ajouter une activité SEXTO Architecte",
                               "Add a SEXTO Architect activity")
LAUNCH_LABEL = TOOL_NAME

AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPES = (*AGS_SCOPES, NRPS_SCOPE)
# Identity claims the tool asks for: the attestation names the learner; locale picks the language.
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email", "locale")
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


@dataclass(frozen=True)
class ToolUrls:
    base: str

    @property
    def login(self) -> str:
        return self.base + "/lti/login"

    @property
    def launch(self) -> str:
        return self.base + "/lti/launch"

    @property
    def jwks(self) -> str:
        return self.base + "/.well-known/jwks.json"

    @property
    def register(self) -> str:
        return self.base + "/lti/register"

    @property
    def config(self) -> str:
        return self.base + "/lti/config"

    @property
    def canvas_json(self) -> str:
        return self.base + "/lti/config/canvas.json"

    @property
    def logo(self) -> str:
        return self.base + "/static/img/sexto-logo.svg"

    @property
    def domain(self) -> str:
        """Host (and port when there is one), as the DR spec's `domain` wants it."""
        return urlsplit(self.base).netloc


def tool_urls() -> ToolUrls:
    return ToolUrls(current_app.extensions["settings"].base_url.rstrip("/"))


# What a platform shows when it ignores language tags (Moodle keeps `client_name` and `label` only):
# both languages, since every learner and instructor of the platform sees it, whatever the
# registering administrator's language.
REGISTERED_NAME = "SEXTO — Niveau Architecte / Architect level"


def _localised(name: str, text: Bilingual, default: str | None = None) -> dict[str, str]:
    """`name` (untagged: `default`, else "French / English"), `name#fr`, `name#en` (DR 1.0 §2.1
    and OpenID Connect Dynamic Client Registration §2.1: language-tagged member names)."""
    return {name: default or f"{text.fr} / {text.en}", f"{name}#fr": text.fr,
            f"{name}#en": text.en}


def registration_request(urls: ToolUrls, flavour: Generic, *,
                         platform_scopes: tuple[str, ...] | None = None,
                         deep_linking: bool = True, jwks_uri: str | None = None) -> dict[str, Any]:
    """The client registration the tool POSTs to the platform (DR 1.0 §3.5.2).

    `platform_scopes`, when the platform lists `scopes_supported`, narrows the request to those it
    knows (some platforms refuse a registration asking for an unknown scope). `jwks_uri`: the
    registration's own key set, so an assertion signed for it verifies for no other registration;
    by default the tool's shared keys.
    """
    scopes = [s for s in SCOPES if platform_scopes is None or s in platform_scopes]
    messages = [flavour.registration_message({
        "type": c.RESOURCE_LINK_REQUEST, "target_link_uri": urls.launch,
        **_localised("label", LAUNCH_LABEL, REGISTERED_NAME)})]
    if deep_linking:
        messages.append(flavour.registration_message({
            "type": c.DEEP_LINKING_REQUEST, "target_link_uri": urls.launch,
            **_localised("label", DEEP_LINKING_LABEL)}))
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls.login,
        "redirect_uris": [urls.launch],
        **_localised("client_name", TOOL_NAME, REGISTERED_NAME),
        "jwks_uri": jwks_uri or urls.jwks,
        "logo_uri": urls.logo,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": urls.domain,
            "target_link_uri": urls.launch,
            "claims": list(CLAIMS),
            "messages": messages,
            **_localised("description", DESCRIPTION),
            **flavour.tool_configuration_extras(),
        },
    }


def canvas_developer_key(urls: ToolUrls) -> dict[str, Any]:
    """Canvas developer key → LTI key → "Enter URL" / "Paste JSON"
    (https://developerdocs.instructure.com/services/canvas/external-tools/lti/file.lti_dev_key_config).
    """
    canvas = Canvas()
    return {
        "title": TOOL_NAME.fr,
        "description": f"{DESCRIPTION.fr} / {DESCRIPTION.en}",
        "oidc_initiation_url": urls.login,
        "target_link_uri": urls.launch,
        "public_jwk_url": urls.jwks,
        "scopes": list(SCOPES),
        "extensions": [{
            "platform": "canvas.instructure.com",
            "domain": urls.domain,
            "privacy_level": canvas.PRIVACY_LEVEL,
            "settings": {
                "text": TOOL_NAME.fr,
                "icon_url": urls.logo,
                "placements": canvas.developer_key_placements(urls.launch, TOOL_NAME.fr),
            },
        }],
        "custom_fields": {},
    }


def platform_add_command(issuer: str, client_id: str, auth_url: str, token_url: str,
                         jwks_url: str, deployment_id: str) -> str:
    """The `lti-tool platform add` line an administrator runs (placeholders in <angle brackets>)."""
    return (f"lti-tool platform add --issuer {issuer} --client-id {client_id} "
            f"--auth-url {auth_url} --token-url {token_url} --jwks-url {jwks_url} "
            f"--deployment-id {deployment_id}")


# What the operator runs to hand an LMS administrator a one-time dynamic registration URL.
INVITE_COMMAND = "lti-tool platform invite --organisation <organisation_code>"

CANVAS_ENDPOINTS = {
    # Canvas's own, identical for every customer (Canvas doc "Configuring Canvas in the Tool").
    "issuer": "https://canvas.instructure.com",
    "auth_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "token_url": "https://sso.canvaslms.com/login/oauth2/token",
    "jwks_url": "https://sso.canvaslms.com/api/lti/security/jwks",
}
_SITE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")


def moodle_endpoints(site: str) -> dict[str, str]:
    """Moodle's LTI endpoints under its wwwroot (the issuer is the wwwroot itself)."""
    root = site.rstrip("/")
    return {"issuer": root, "auth_url": root + "/mod/lti/auth.php",
            "token_url": root + "/mod/lti/token.php", "jwks_url": root + "/mod/lti/certs.php"}


@bp.get("/lti/config")
def config_page() -> Any:
    """The values an administrator pastes into Moodle's manual form or Canvas's developer key,
    and the `lti-tool platform add` command to run with the platform's answers."""
    urls = tool_urls()
    site = (request.args.get("moodle") or "").strip()
    moodle_site = site if _SITE.match(site) else None
    moodle = moodle_endpoints(moodle_site or "https://moodle.example.org")
    return render_template(
        "launch/config.html", urls=urls, scopes=SCOPES, claims=CLAIMS,
        activity_param=ACTIVITY_PARAM, tool_name=TOOL_NAME, description=DESCRIPTION,
        invite_command=INVITE_COMMAND,
        approval_mode=current_app.extensions["settings"].registration_mode == "approval",
        moodle_site=moodle_site, site_rejected=bool(site) and moodle_site is None,
        moodle_command=platform_add_command(moodle["issuer"], "<client_id>", moodle["auth_url"],
                                            moodle["token_url"], moodle["jwks_url"],
                                            "<deployment_id>"),
        canvas_command=platform_add_command(CANVAS_ENDPOINTS["issuer"], "<client_id>",
                                            CANVAS_ENDPOINTS["auth_url"],
                                            CANVAS_ENDPOINTS["token_url"],
                                            CANVAS_ENDPOINTS["jwks_url"], "<deployment_id>"),
        generic_command=platform_add_command("<issuer>", "<client_id>", "<auth_url>",
                                             "<token_url>", "<jwks_url>", "<deployment_id>"))


@bp.get("/lti/config/canvas.json")
def canvas_json() -> Response:
    response = jsonify(canvas_developer_key(tool_urls()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
