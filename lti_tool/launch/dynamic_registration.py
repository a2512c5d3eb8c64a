"""LTI Dynamic Registration 1.0 (https://www.imsglobal.org/spec/lti-dr/v1p0) at `/lti/register`,
by invitation.

0. The operator runs `lti-tool platform invite` and hands the LMS administrator the one-time URL
   `/lti/register?invite=<secret>` (invitations.py); the platform appends its parameters to it.
   Without a valid invitation the tool refuses with a 403 page and fetches nothing (issue 6,
   findings 1–2). With `LTI_TOOL_REGISTRATION=approval`, a registration without an invitation goes
   through but is stored *pending*: it launches nothing and calls no service until
   `lti-tool platform approve`.
1. The platform opens `/lti/register?invite=…&openid_configuration=…&registration_token=…` in an
   iframe or a window (§3.3). The tool fetches the platform's OpenID configuration, checks it
   (§3.5.1: the issuer is there and the configuration URL starts with it; the endpoints and the LTI
   platform configuration are there) and shows the administrator what it is about to register.
2. The administrator confirms: a POST carrying, in a hidden field, the configuration URL, the token
   and the invitation signed with SECRET_KEY (itsdangerous) — the page works without cookies inside
   the LMS iframe, and the POST can only register a configuration the tool itself fetched and checked.
3. The tool re-checks the invitation, re-fetches the configuration, creates the registration's own
   signing key set, POSTs its client registration (with that key set's `jwks_uri`) to
   `registration_endpoint` with the token as bearer (§3.5.2), then, in one transaction, consumes the
   invitation and stores the platform's answer (client_id, deployment_id) with
   `registry.add_platform`; it ends with a page that posts `org.imsglobal.lti.close` to the platform
   (§3.6) from a self-hosted script.

Canvas may answer without a deployment_id (deployments exist once the key is installed): the
registration is then stored without deployments; the page gives the exact
`lti-tool platform add-deployment … --deployment-id` command (platforms.py: per-LMS details), and
the first launch's refusal logs it with the page's reference.
Every failure is a `ToolError` (4xx) with a bilingual message; what the platform answered goes to
the log only, never to the page (the tool must not relay what some address answered). The pages,
refusals included, are for the platform's administrator: in the browser's language
(Accept-Language) unless `?lang=` says otherwise, with a switch, and with the administrator's
details shown.

The name registered: `client_name` (untagged) says both languages, "SEXTO — Niveau Architecte /
Architect level", because Moodle keeps only that member and every learner and instructor sees it;
`client_name#fr` and `client_name#en` are the language-tagged members (DR 1.0 §2.1 takes them from
OpenID Connect Dynamic Client Registration 1.0 §2.1) for platforms that show the user's language.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lti_tool import framing, http
from lti_tool.db import get_session
from lti_tool.errors import Action, Bilingual, ToolError, browser_lang, tool_error_response
from lti_tool.i18n import LANGS, current_lang
from lti_tool.keys import new_registration_key_set
from lti_tool.launch import claims as c
from lti_tool.launch.invitations import (
    INVITE_PARAM,
    Invitation,
    admit_registration,
    consume_invitation,
)
from lti_tool.launch.platforms import Generic, for_family
from lti_tool.launch.registration_keys import key_set_url
from lti_tool.launch.registry import (
    ACTIVE,
    PENDING,
    RegistrationConflict,
    add_platform,
    approve_command,
    guess_family,
)
from lti_tool.launch.tool_config import (
    TOOL_CONFIGURATION,
    registration_request,
    tool_urls,
)

bp = Blueprint("registration", __name__)
log = logging.getLogger("lti_tool.launch.registration")

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
FORM_FIELD = "registration"
FORM_SALT = "lti-dynamic-registration"
# Long enough for an administrator to read the page; platforms' tokens live about as long.
FORM_MAX_AGE = 3600
_REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri",
                       "registration_endpoint")

ASK_AGAIN = Bilingual("Recommencez l'inscription depuis la page d'administration de la plateforme.",
                      "Start the registration again from the platform's administration page.")


class RegistrationFailed(ToolError):
    code = "registration_failed"
    title = Bilingual("Inscription de l'outil impossible", "Tool registration failed")
    audience = "administrator"
    action = Action(ASK_AGAIN)


def _fail(fr: str, en: str, *, detail: str, status: int = 400, code: str = "registration_failed",
          hint: Bilingual | None = None, admin: Bilingual | None = None) -> RegistrationFailed:
    return RegistrationFailed(Bilingual(fr, en), hint=hint, admin=admin, detail=detail,
                              status=status, code=code)


def add_deployment_command(issuer: str, client_id: str, deployment_id: str) -> str:
    """The `lti-tool platform add-deployment` line: the registration exists, only the deployment
    is missing."""
    return (f"lti-tool platform add-deployment --issuer {issuer} --client-id {client_id} "
            f"--deployment-id {deployment_id}")


@bp.before_request
def _administrator_language() -> None:
    """The administrator's language: `?lang=`, else the browser's, else French."""
    asked = request.args.get("lang")
    g.locale = asked if asked in LANGS else browser_lang() or "fr"


@bp.errorhandler(ToolError)
def _refused(exc: ToolError) -> tuple[str, int]:
    # Whoever sees these pages administers the platform: the administrator's details are shown,
    # and the way on is to start the registration again from the platform.
    return tool_error_response(exc, audience="administrator", default_action=Action(ASK_AGAIN))


@dataclass(frozen=True)
class PlatformConfiguration:
    """The parts of the platform's OpenID configuration the tool uses (DR 1.0 §3.4)."""

    url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    authorization_server: str | None
    product_family_code: str
    version: str
    messages_supported: tuple[str, ...]
    scopes_supported: tuple[str, ...] | None

    @property
    def family(self) -> str:
        return guess_family(self.issuer, self.product_family_code)

    @property
    def flavour(self) -> Generic:
        return for_family(self.family)

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.flavour.label if self.family != "generic"
                                    else self.product_family_code, self.version) if p)
        return name or self.issuer

    @property
    def supports_deep_linking(self) -> bool:
        return c.DEEP_LINKING_REQUEST in self.messages_supported


# -- the platform's configuration ------------------------------------------------------------------
def _allowed_url(url: str) -> bool:
    """http(s) with a host; plain http only outside production (local platforms, tests)."""
    parts = urlsplit(url)
    schemes = ("https",) if current_app.extensions["settings"].is_production else ("https", "http")
    return parts.scheme in schemes and bool(parts.hostname)


def _under(url: str, issuer: str) -> bool:
    """`url` starts with `issuer` at a boundary (https://lms.example is not https://lms.example.evil)."""
    root = issuer.rstrip("/")
    return url == root or url.startswith(root + "/") or url.startswith(root + "?")


def _message_types(value: Any) -> tuple[str, ...]:
    """`messages_supported` is a list of {type, placements?}; early platforms sent bare strings."""
    types: list[str] = []
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("type"), str):
            types.append(entry["type"])
        elif isinstance(entry, str):
            types.append(entry)
    return tuple(types)


def parse_configuration(url: str, doc: Any) -> PlatformConfiguration:
    """Check the OpenID configuration against DR 1.0 §3.4–3.5.1; refuse with what is wrong."""
    def bad(problem: str, fr: str) -> RegistrationFailed:
        return _fail(f"La configuration OpenID de la plateforme est invalide : {fr}",
                     f"The platform's OpenID configuration is not valid: {problem}.",
                     detail=f"openid configuration {url}: {problem}",
                     code="bad_openid_configuration")

    if not isinstance(doc, dict):
        raise bad("it is not a JSON object", "ce n'est pas un objet JSON.")
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise bad("issuer is missing", "l'émetteur (issuer) est absent.")
    if not _under(url, issuer) or not _allowed_url(issuer):
        raise bad(f"the configuration URL does not start with the issuer {issuer}",
                  f"l'adresse de la configuration ne commence pas par l'émetteur {issuer}.")
    endpoints: dict[str, str] = {}
    for name in _REQUIRED_ENDPOINTS:
        value = doc.get(name)
        if not isinstance(value, str) or not _allowed_url(value):
            raise bad(f"{name} is missing or not an http(s) URL",
                      f"{name} est absent ou n'est pas une adresse http(s).")
        endpoints[name] = value
    lti = doc.get(PLATFORM_CONFIGURATION)
    if not isinstance(lti, dict):
        raise bad(f"{PLATFORM_CONFIGURATION} is missing",
                  f"{PLATFORM_CONFIGURATION} est absent.")
    family = lti.get("product_family_code")
    if not isinstance(family, str) or not family:
        raise bad("product_family_code is missing", "product_family_code est absent.")
    messages = _message_types(lti.get("messages_supported"))
    if c.RESOURCE_LINK_REQUEST not in messages:
        raise bad("messages_supported does not list LtiResourceLinkRequest",
                  "messages_supported ne comprend pas LtiResourceLinkRequest.")
    scopes = doc.get("scopes_supported")
    server = doc.get("authorization_server")
    return PlatformConfiguration(
        url=url, issuer=issuer, authorization_server=server if isinstance(server, str) else None,
        product_family_code=family, version=str(lti.get("version") or ""),
        messages_supported=messages,
        scopes_supported=(tuple(s for s in scopes if isinstance(s, str))
                          if isinstance(scopes, list) else None),
        **endpoints)


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


UNREACHABLE_HINT = Bilingual("Vérifiez que l'outil peut joindre la plateforme, puis recommencez.",
                             "Check that the tool can reach the platform, then try again.")


def _forbidden_target(exc: http.HttpError) -> RegistrationFailed:
    return _fail("Cette adresse n'est pas permise : l'outil n'appelle pas les adresses "
                 "locales ou privées qui ne lui ont pas été ouvertes.",
                 "This address is not allowed: the tool does not call local or private addresses "
                 "it was not opened to.",
                 detail=f"{exc}", status=403, code="forbidden_target",
                 admin=Bilingual("Administrateur de l'outil : pour une plateforme sur un "
                                "réseau privé, ouvrez ce réseau avec "
                                "LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS.",
                                "Tool administrator: for a platform on a private network, open "
                                "that network with LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS."))


def fetch_configuration(url: str, token: str | None) -> PlatformConfiguration:
    if not url or not _allowed_url(url):
        raise _fail("L'adresse de configuration OpenID reçue de la plateforme est absente ou "
                    "invalide.",
                    "The OpenID configuration address sent by the platform is missing or invalid.",
                    detail=f"openid_configuration {url!r}", code="bad_openid_configuration")
    try:
        # Canvas wants the registration token on this request too; Moodle ignores it.
        doc = http.get_json(url, headers={"Accept": "application/json", **_bearer(token)})
    except http.HttpForbiddenTarget as exc:
        raise _forbidden_target(exc) from exc
    except http.HttpUnavailable as exc:
        raise _fail("La plateforme est injoignable : sa configuration OpenID n'a pas pu être "
                    "lue.",
                    "The platform cannot be reached: its OpenID configuration could not be read.",
                    detail=f"{exc} {exc.body}", status=424, code="platform_unreachable",
                    hint=UNREACHABLE_HINT) from exc
    except http.HttpError as exc:
        raise _fail("La plateforme a refusé de donner sa configuration OpenID.",
                    "The platform refused to give its OpenID configuration.",
                    detail=f"{exc} {exc.body}", code="bad_openid_configuration") from exc
    return parse_configuration(url, doc)


# -- the registration ------------------------------------------------------------------------------
def register_with_platform(config: PlatformConfiguration, token: str | None,
                           payload: dict[str, Any]) -> dict[str, Any]:
    """POST the client registration (DR 1.0 §3.5.2); the platform's answer (§3.6). Its error body
    goes to the log: the page says only that the platform refused or could not be reached."""
    try:
        response = http.request("POST", config.registration_endpoint, json=payload,
                                headers={"Accept": "application/json", **_bearer(token)})
    except http.HttpForbiddenTarget as exc:
        raise _forbidden_target(exc) from exc
    except http.HttpUnavailable as exc:
        raise _fail("La plateforme est injoignable ou en erreur : l'inscription n'a pas été "
                    "faite.",
                    "The platform cannot be reached or failed: the registration was not made.",
                    detail=f"{exc} {exc.body}", status=424, code="platform_unreachable",
                    hint=UNREACHABLE_HINT) from exc
    except http.HttpRefused as exc:
        raise _fail("La plateforme a refusé l'inscription.",
                    "The platform refused the registration.",
                    detail=f"{exc} {exc.body}", code="registration_refused",
                    hint=Bilingual("Le jeton d'inscription est peut-être expiré ou déjà utilisé : "
                                   "recommencez depuis la plateforme. Le journal de l'outil "
                                   "contient sa réponse.",
                                   "The registration token may have expired or been used already: "
                                   "start again from the platform. The tool's log has its answer."),
                    ) from exc
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise _fail("La réponse de la plateforme à l'inscription est illisible.",
                    "The platform's answer to the registration cannot be read.",
                    detail=f"registration answer not a JSON object: {response.text[:2000]}",
                    code="bad_registration_answer")
    return doc


def parse_registration_answer(doc: dict[str, Any]) -> tuple[str, str | None]:
    """(client_id, deployment_id or None). Moodle's deployment_id is its tool type id."""
    client_id = doc.get("client_id")
    if isinstance(client_id, int) and not isinstance(client_id, bool):
        client_id = str(client_id)
    if not isinstance(client_id, str) or not client_id:
        raise _fail("La plateforme n'a pas attribué d'identifiant client (client_id) à l'outil.",
                    "The platform did not give the tool a client id (client_id).",
                    detail=f"registration answer without client_id: {str(doc)[:2000]}",
                    code="bad_registration_answer")
    tool_conf = doc.get(TOOL_CONFIGURATION)
    deployment = tool_conf.get("deployment_id") if isinstance(tool_conf, dict) else None
    if isinstance(deployment, int) and not isinstance(deployment, bool):
        deployment = str(deployment)
    return client_id, deployment if isinstance(deployment, str) and deployment else None


# -- the signed confirmation form ------------------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FORM_SALT)


def sign_form(config_url: str, token: str | None, invite: str | None) -> str:
    return _serializer().dumps({"c": config_url, "t": token or "", "i": invite or ""})


def read_form(value: str | None) -> tuple[str, str | None, str | None]:
    """(configuration URL, registration token, invitation secret) from the signed form."""
    try:
        data = _serializer().loads(value or "", max_age=FORM_MAX_AGE)
    except SignatureExpired as exc:
        raise _fail("La page de confirmation a expiré.", "The confirmation page has expired.",
                    detail="registration form expired", code="registration_form_expired") from exc
    except BadSignature as exc:
        raise _fail("Le formulaire d'inscription a été modifié ou est invalide.",
                    "The registration form was altered or is not valid.",
                    detail="registration form signature invalid",
                    code="registration_form_invalid") from exc
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        raise _fail("Le formulaire d'inscription est invalide.",
                    "The registration form is not valid.", detail="registration form shape",
                    code="registration_form_invalid")
    invite = data.get("i")
    return data["c"], data.get("t") or None, invite if isinstance(invite, str) and invite else None


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _admit(invite: str | None) -> Invitation | None:
    """The invitation, or None for a registration kept pending (approval mode); refuses otherwise.
    Runs before any outbound call: an uninvited caller makes the tool fetch nothing."""
    mode = current_app.extensions["settings"].registration_mode
    return admit_registration(get_session(), invite, mode)


# -- views -----------------------------------------------------------------------------------------
@bp.get("/lti/register")
def start() -> Response:
    config_url = request.args.get("openid_configuration", "")
    # The LMS opens this page in a frame of its own (Moodle: a modal iframe) before it is
    # registered: its origin may frame the page, refusals included, so the admin sees them.
    framing.allow([config_url])
    invite = request.args.get(INVITE_PARAM) or None
    invitation = _admit(invite)
    token = request.args.get("registration_token") or None
    config = fetch_configuration(config_url, token)
    urls = tool_urls()
    payload = registration_request(urls, config.flavour, platform_scopes=config.scopes_supported,
                                   deep_linking=config.supports_deep_linking)
    return _no_store(Response(render_template(
        "launch/register.html", config=config, urls=urls, payload=payload,
        scopes=payload["scope"].split(), form_value=sign_form(config_url, token, invite),
        field=FORM_FIELD, placements=_placements(payload), invitation=invitation,
        pending=invitation is None, key_set_example=key_set_url(urls.base, "…"),
        switch_url=url_for("registration.start", openid_configuration=config_url,
                           registration_token=token, invite=invite, lang=_other_lang()))))


@bp.post("/lti/register")
def confirm() -> Response:
    config_url, token, invite = read_form(request.form.get(FORM_FIELD))
    framing.allow([config_url])
    invitation = _admit(invite)
    settings = current_app.extensions["settings"]
    config = fetch_configuration(config_url, token)
    urls = tool_urls()
    # The registration's own signing key, made before the platform learns its jwks_uri: what the
    # tool signs for it (client assertions) then verifies for no other registration (finding 6).
    key_set = new_registration_key_set(settings.keys_dir)
    payload = registration_request(urls, config.flavour, platform_scopes=config.scopes_supported,
                                   deep_linking=config.supports_deep_linking,
                                   jwks_uri=key_set_url(urls.base, key_set))
    answer = register_with_platform(config, token, payload)
    client_id, deployment_id = parse_registration_answer(answer)
    session = get_session()
    organisation = invitation.organisation_code if invitation else None
    if invitation is not None:
        # In the transaction that stores the registration: of two confirmations racing with one
        # invitation, one updates the row and the other is refused (and rolled back).
        consume_invitation(session, invitation)
    try:
        add_platform(session, issuer=config.issuer, client_id=client_id,
                     auth_url=config.authorization_endpoint, token_url=config.token_endpoint,
                     jwks_url=config.jwks_uri,
                     deployment_ids=[deployment_id] if deployment_id else [],
                     family=config.family, name=config.display_name[:255],
                     auth_audience=(config.authorization_server
                                    if config.authorization_server not in (None,
                                                                           config.token_endpoint)
                                    else None),
                     organisation=organisation,
                     origin="invitation" if invitation else "dynamic",
                     status=ACTIVE if invitation else PENDING,
                     invitation_id=invitation.id if invitation else None,
                     key_set=key_set, must_be_new=True)
    except RegistrationConflict as exc:
        raise _fail("Cette plateforme est déjà inscrite dans l'outil pour ce client_id.",
                    "This platform is already registered with the tool for this client_id.",
                    detail=str(exc), status=409, code="registration_conflict",
                    admin=Bilingual("Administrateur de l'outil : retirez l'ancienne inscription "
                                   "(lti-tool platform remove), puis recommencez.",
                                   "Tool administrator: remove the old registration "
                                   "(lti-tool platform remove), then start again.")) from exc
    log.info("dynamic registration ok issuer=%s client_id=%s deployment=%s family=%s origin=%s "
             "organisation=%s key_set=%s", config.issuer, client_id, deployment_id, config.family,
             "invitation" if invitation else "dynamic (pending)", organisation, key_set)
    command = None if deployment_id else add_deployment_command(
        config.issuer, client_id, "<deployment_id>")
    return _no_store(Response(render_template(
        "launch/register_done.html", config=config, client_id=client_id,
        deployment_id=deployment_id, command=command, organisation=organisation,
        pending=invitation is None,
        approve=approve_command(config.issuer, client_id) if invitation is None else None,
        missing_deployment=config.flavour.missing_deployment() if not deployment_id else None)))


def _placements(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    messages = payload[TOOL_CONFIGURATION]["messages"]
    return [(m["type"], m["placements"]) for m in messages if m.get("placements")]


def _other_lang() -> str:
    return "en" if current_lang() == "fr" else "fr"
