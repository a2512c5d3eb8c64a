"""The LTI 1.3 platform side, on lti1p3platform 0.1.8, with the checks the library leaves out.

The library builds and signs id_tokens, verifies the tool's JWTs against its JWKS, issues access
tokens and validates deep-linking responses. It does not check the authentication request's
`redirect_uri` against the registration (Moodle does), nor a client assertion's `aud` and `jti`,
nor a deep-linking response's `aud`, `nonce`, `deployment_id` or `data`: those checks are here
(see docs LTI.md, "The independent test platform").

Specs: LTI Core 1.3 (https://www.imsglobal.org/spec/lti/v1p3/), Security Framework 1.0
(https://www.imsglobal.org/spec/security/v1p0/), Deep Linking 2.0
(https://www.imsglobal.org/spec/lti-dl/v2p0/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

import flask
import jwt
import requests
from lti1p3platform.deep_linking import LtiDeepLinking
from lti1p3platform.exceptions import (
    LtiDeepLinkingResponseException,
    LtiException,
    MissingRequiredClaim,
    PreflightRequestValidationException,
    UnsupportedGrantType,
)
from lti1p3platform.ltiplatform import JWKS, AccessTokenResponse, LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LaunchData, LTIAdvantageMessageLaunchAbstract
from lti1p3platform.nrps import LtiNrps
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from werkzeug.exceptions import BadRequest

from .keys import PlatformKeys, throwaway_private_pem
from .settings import COURSE, DemoSettings, DemoUser
from .storage import DemoStore, LaunchOverrides, LineItem, PendingLaunch, ResourceLink

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DL_SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES = [SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_SCORE, SCOPE_RESULT_READONLY]

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_LEEWAY = 60  # seconds of tolerated clock skew on `iat`
USER_AGENT = "sexto-demo-lms/0.1 (DEMO LTI platform)"


# -- URLs of the platform's services -----------------------------------------------------------
def lineitems_url(settings: DemoSettings) -> str:
    return f"{settings.base_url}/api/lti/contexts/{COURSE.id}/lineitems"


def lineitem_url(settings: DemoSettings, line_item_id: str) -> str:
    return f"{lineitems_url(settings)}/{line_item_id}"


def memberships_url(settings: DemoSettings) -> str:
    return f"{settings.base_url}/api/lti/contexts/{COURSE.id}/memberships"


# -- lti1p3platform adapters -------------------------------------------------------------------
class FlaskRequest(Request):
    """The library's request view of a Flask request.

    `page` and `limit` are turned into integers here: the library adds 1 to the page it reads
    from the query string, which fails on a string (its results paging defect).
    """

    def build_metadata(self, request: Any) -> TRequest:
        req = cast(flask.Request, request)
        query: dict[str, Any] = req.args.to_dict()
        for name in ("page", "limit"):
            if name in query:
                try:
                    query[name] = int(query[name])
                except ValueError as exc:
                    raise BadRequest(f"{name} must be an integer") from exc
                if query[name] < 1:
                    raise BadRequest(f"{name} must be at least 1")
        return {
            "method": req.method,
            "form_data": req.form.to_dict(),
            "get_data": query,
            "headers": req.headers,
            "content_type": req.content_type,
            "path": req.path,
            "json": req.get_json(silent=True) if req.is_json else None,
        }


class ToolKeySet:
    """The tool's JWKS, fetched once and re-fetched when a JWT names an unknown `kid`."""

    MIN_REFRESH_INTERVAL = 1.0  # seconds: a flood of unknown kids cannot hammer the tool

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._lock = threading.Lock()
        self._jwks: JWKS | None = None
        self._fetched_at = 0.0

    def get(self, refresh: bool = False) -> JWKS:
        with self._lock:
            stale = refresh and time.monotonic() - self._fetched_at >= self.MIN_REFRESH_INTERVAL
            if self._jwks is None or stale:
                self._jwks = self._fetch()
                self._fetched_at = time.monotonic()
            return self._jwks

    def _fetch(self) -> JWKS:
        try:
            resp = requests.get(self.url, timeout=self.timeout, headers={"User-Agent": USER_AGENT})
            resp.raise_for_status()
            data = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise LtiException(f"Cannot fetch the tool's JWKS at {self.url}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise LtiException(f"The tool's JWKS at {self.url} has no 'keys' list")
        return cast(JWKS, data)


class DemoPlatformConf(LTI1P3PlatformConfAbstract):
    """One registration: the tool, as the demo LMS knows it. Build one per request (the library
    keeps the JWT being checked on the instance)."""

    def __init__(self, settings: DemoSettings, keys: PlatformKeys) -> None:
        self._settings = settings
        self._keys = keys
        super().__init__()

    def init_platform_config(self, **kwargs: Any) -> None:
        s = self._settings
        self._registration = (
            Registration()
            .set_iss(s.issuer)
            .set_client_id(s.client_id)
            .set_deployment_id(s.deployment_id)
            .set_launch_url(s.tool_launch_url)
            .set_deeplink_launch_url(s.tool_launch_url)
            .set_oidc_login_url(s.tool_login_url)
            .set_tool_key_set_url(s.tool_jwks_url)
            .set_platform_public_key(self._keys.public_pem)
            .set_platform_private_key(self._keys.private_pem)
        )

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        assert self._registration is not None
        return self._registration


class DemoOIDCLogin(OIDCLoginAbstract):
    """Third-party login initiation (LTI Core §4.1), plus `lti_storage_target` when offered."""

    def __init__(self, conf: DemoPlatformConf, storage_target: str | None) -> None:
        super().__init__(None, conf)
        self._storage_target = storage_target

    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> Any:
        return flask.redirect(url, code=303)

    def prepare_preflight_url(self, user_id: str) -> str:
        url = str(super().prepare_preflight_url(user_id))
        if self._storage_target:
            url += "&" + urlencode({"lti_storage_target": self._storage_target})
        return url


# -- signing -----------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_segment(value: Mapping[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def sign_platform_jwt(
    payload: dict[str, Any],
    registration: Registration,
    keys: PlatformKeys,
    overrides: LaunchOverrides | None = None,
) -> str:
    """Sign with the platform key (through lti1p3platform), or as a test override asks."""
    if overrides is None or (
        overrides.alg == "RS256" and not overrides.headers and not overrides.foreign_key
    ):
        return str(registration.platform_encode_and_sign(payload))
    headers: dict[str, Any] = {"kid": keys.kid}
    for name, value in overrides.headers.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    if overrides.alg == "RS256":
        key = throwaway_private_pem() if overrides.foreign_key else keys.private_pem
        return str(Registration.encode_and_sign(payload, key, headers))
    header = {"alg": overrides.alg, "typ": "JWT", **headers}
    signing_input = f"{_json_segment(header)}.{_json_segment(payload)}"
    if overrides.alg == "none":
        return signing_input + "."
    if overrides.alg == "HS256":  # the classic RS/HS confusion: the public key as HMAC secret
        mac = hmac.new(keys.public_pem.encode(), signing_input.encode(), hashlib.sha256)
        return f"{signing_input}.{_b64(mac.digest())}"
    raise ValueError(f"unsupported test algorithm {overrides.alg!r}")


# -- the launch --------------------------------------------------------------------------------
class AuthRequestError(Exception):
    """The tool's authentication request is refused (400, shown in the launch frame)."""


def check_auth_request(params: Mapping[str, str], settings: DemoSettings) -> None:
    """OpenID Connect checks of LTI Core §5.1.1, stricter than the library: exact redirect_uri."""
    expected = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": settings.client_id,
        "redirect_uri": settings.tool_launch_url,
    }
    for name, value in expected.items():
        got = params.get(name)
        if got != value:
            shown = "missing" if got is None else repr(got)
            raise AuthRequestError(f"{name} must be {value!r} (got {shown})")
    for name in ("login_hint", "lti_message_hint", "nonce", "state"):
        if not params.get(name):
            raise AuthRequestError(f"{name} is required")


class DemoMessageLaunch(LTIAdvantageMessageLaunchAbstract):
    """Builds the id_token of one pending launch: resource link or deep-linking request."""

    def __init__(
        self,
        request: Request,
        conf: DemoPlatformConf,
        *,
        settings: DemoSettings,
        store: DemoStore,
        keys: PlatformKeys,
        pending: PendingLaunch,
        user: DemoUser,
        link: ResourceLink | None,
    ) -> None:
        super().__init__(request, conf)
        self._settings = settings
        self._store = store
        self._keys = keys
        self._pending = pending
        self._user = user
        self._link = link
        self.set_id_token_expiration(settings.id_token_lifetime)
        self.issued_id_token: str | None = None

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        s, user, pending = self._settings, self._user, self._pending
        self.set_user_data(user.id, [user.role], full_name=user.name, email_address=user.email)
        self.set_launch_context_claim(
            COURSE.id,
            ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            COURSE.title,
            COURSE.label,
        )
        extra: dict[str, Any] = {
            "given_name": user.given_name,
            "family_name": user.family_name,
            "locale": pending.locale,
            LTI + "launch_presentation": {
                "document_target": "iframe",
                "locale": pending.locale,
                "return_url": f"{s.base_url}/",
            },
            LTI + "tool_platform": {
                "guid": "sexto-demo-lms",
                "name": "LMS de démonstration SEXTO (DEMO)",
                "product_family_code": "sexto-demo-lms",
                "version": "0.1",
            },
            **LtiNrps(memberships_url(s)).get_lti_nrps_launch_claim(),
        }
        if pending.message_type == DEEP_LINKING_REQUEST:
            settings_claim = LtiDeepLinking(
                s.deep_linking_return_url
            ).get_lti_deep_linking_launch_claim(
                title="Formation SEXTO — démo",
                description="Choisir l'activité à ajouter au cours / Choose the activity to add",
                accept_types={"ltiResourceLink"},
            )[DL_SETTINGS_CLAIM]
            settings_claim["accept_presentation_document_targets"] = ["iframe", "window"]
            settings_claim["data"] = self._store.issue_deep_linking_data(user.id)
            extra[LTI + "message_type"] = DEEP_LINKING_REQUEST
            extra[DL_SETTINGS_CLAIM] = settings_claim
            extra[AGS_CLAIM] = {"scope": list(AGS_SCOPES), "lineitems": lineitems_url(s)}
            self.set_launch_url(s.tool_launch_url)
        else:
            link = self._link
            assert link is not None
            self.set_resource_link_claim(link.id, link.text or None, link.title)
            custom = dict(link.custom)
            organisation = s.organisation_of(user.key)
            if organisation:  # the badge's organisation, as a platform administrator sets it
                custom["sexto_organisation"] = organisation
            if custom:
                self.set_custom_parameters_claim(custom)
            ags: dict[str, Any] = {"scope": list(AGS_SCOPES), "lineitems": lineitems_url(s)}
            if link.line_item_id:
                ags["lineitem"] = lineitem_url(s, link.line_item_id)
            extra[AGS_CLAIM] = ags
            self.set_launch_url(link.url or s.tool_launch_url)
        self.set_extra_claims(extra)

    def generate_launch_request(self) -> LaunchData:
        """The library's message, our iat/exp/jti, then any test override, then the signature."""
        message, state = self.get_launch_data()
        now = int(time.time())
        message.update(
            {"iat": now, "exp": now + self.id_token_expiration, "jti": str(uuid.uuid4())}
        )
        overrides = self._pending.overrides
        if overrides is not None:
            for name, value in overrides.claims.items():
                if value is None:
                    message.pop(name, None)
                else:
                    message[name] = value
        assert self._registration is not None
        id_token = sign_platform_jwt(message, self._registration, self._keys, overrides)
        self.issued_id_token = id_token
        return {"state": state, "id_token": id_token}

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> Any:
        return flask.render_template(
            "demo/autosubmit.html",
            action=launch_data["launch_url"],
            fields={"id_token": launch_data["id_token"], "state": launch_data["state"]},
        )


def run_launch(
    params: Mapping[str, str],
    *,
    settings: DemoSettings,
    store: DemoStore,
    keys: PlatformKeys,
) -> Any:
    """Answer an authentication request: check it, consume its pending launch, render the form."""
    check_auth_request(params, settings)
    pending = store.take_pending_launch(params["lti_message_hint"])
    if pending is None:
        raise AuthRequestError("lti_message_hint is unknown, expired or already used")
    if params["login_hint"] != pending.user_id:
        raise AuthRequestError("login_hint does not match the user who started the launch")
    user = COURSE.user(pending.user_id)
    if user is None:
        raise AuthRequestError("unknown user")
    link = store.get_link(pending.resource_link_id) if pending.resource_link_id else None
    if pending.message_type == RESOURCE_LINK_REQUEST and link is None:
        raise AuthRequestError("the resource link no longer exists")
    conf = DemoPlatformConf(settings, keys)
    launch = DemoMessageLaunch(
        FlaskRequest(flask.request),
        conf,
        settings=settings,
        store=store,
        keys=keys,
        pending=pending,
        user=user,
        link=link,
    )
    try:
        return launch.lti_launch()
    except PreflightRequestValidationException as exc:
        raise AuthRequestError("the authentication request is incomplete") from exc


def login_initiation_url(
    pending: PendingLaunch, *, settings: DemoSettings, keys: PlatformKeys, link: ResourceLink | None
) -> str:
    """The tool's login URL with iss, login_hint, target_link_uri, lti_message_hint, client_id,
    lti_deployment_id and, when the platform offers storage, lti_storage_target."""
    login = DemoOIDCLogin(DemoPlatformConf(settings, keys), settings.storage_target)
    login.set_lti_message_hint(hint=pending.id)
    if pending.message_type == DEEP_LINKING_REQUEST:
        login.set_deeplinking_launch_url()
    else:
        login.set_launch_url((link.url if link else None) or settings.tool_launch_url)
    return login.prepare_preflight_url(pending.user_id)


# -- the tool's JWTs: client assertions and deep-linking responses ------------------------------
class ToolJwtError(Exception):
    pass


def verify_tool_jwt(token: str, conf: DemoPlatformConf, tool_keys: ToolKeySet) -> dict[str, Any]:
    """Verify a JWT signed by the tool (RS256, known `kid`) with the library; re-fetch the JWKS
    once when the `kid` is unknown (key rotation)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise ToolJwtError(f"not a JWT: {exc}") from exc
    if header.get("alg") != "RS256":
        raise ToolJwtError("only RS256 is accepted")
    if not header.get("kid"):
        raise ToolJwtError("the JWT header has no kid")
    registration = conf.get_registration()
    for refresh in (False, True):
        try:
            registration.set_tool_key_set(tool_keys.get(refresh=refresh))
            return dict(conf.tool_validate_and_decode(token))
        except LtiException as exc:
            if refresh or "Unable to find public key" not in str(exc):
                raise ToolJwtError(str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise ToolJwtError(f"invalid JWT: {exc}") from exc
    raise ToolJwtError("unreachable")  # pragma: no cover


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return aud
    return []


def _check_times(claims: Mapping[str, Any]) -> None:
    for name in ("exp", "iat"):
        if not isinstance(claims.get(name), int | float):
            raise ToolJwtError(f"{name} is required")
    if claims["iat"] > time.time() + CLOCK_LEEWAY:
        raise ToolJwtError("iat is in the future")


class TokenRequestError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def issue_access_token(
    form: Mapping[str, str],
    *,
    settings: DemoSettings,
    keys: PlatformKeys,
    store: DemoStore,
    tool_keys: ToolKeySet,
) -> AccessTokenResponse:
    """Client-credentials grant with a private_key_jwt assertion (Security Framework §4.1).

    Beyond the library: `iss` = `sub` = client_id, `aud` names the token endpoint, `exp`, `iat`
    and `jti` present, and a `jti` is accepted once.
    """
    missing = [
        k
        for k in ("grant_type", "client_assertion_type", "client_assertion", "scope")
        if not form.get(k)
    ]
    if missing:
        raise TokenRequestError("invalid_request", f"missing: {', '.join(missing)}")
    if form["grant_type"] != "client_credentials":
        raise TokenRequestError("unsupported_grant_type", "grant_type must be client_credentials")
    if form["client_assertion_type"] != CLIENT_ASSERTION_TYPE:
        raise TokenRequestError(
            "invalid_request", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
        )
    conf = DemoPlatformConf(settings, keys)
    try:
        claims = verify_tool_jwt(form["client_assertion"], conf, tool_keys)
        if claims.get("iss") != settings.client_id or claims.get("sub") != settings.client_id:
            raise ToolJwtError("iss and sub must be the client_id")
        if settings.token_url not in _audiences(claims):
            raise ToolJwtError(f"aud must name the token endpoint {settings.token_url}")
        _check_times(claims)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise ToolJwtError("jti is required")
        if not store.use_jti(jti, float(claims["exp"])):
            raise ToolJwtError("this client assertion (jti) was already used")
        token = conf.get_access_token(dict(form))
    except (
        ToolJwtError,
        LtiException,
        MissingRequiredClaim,
        UnsupportedGrantType,
        jwt.PyJWTError,
    ) as exc:
        raise TokenRequestError("invalid_client", str(exc) or type(exc).__name__, 401) from exc
    if not token["scope"]:
        raise TokenRequestError("invalid_scope", "none of the requested scopes is offered")
    return token


class ServiceAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def check_access_token(
    authorization: str | None, required_any: set[str], *, settings: DemoSettings, keys: PlatformKeys
) -> dict[str, Any]:
    """A bearer token this platform issued, unexpired, for this client, with a needed scope."""
    parts = (authorization or "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise ServiceAuthError(401, "invalid_token", "a Bearer access token is required")
    try:
        claims: dict[str, Any] = jwt.decode(
            parts[1],
            keys.public_pem,
            algorithms=["RS256"],
            options={"require": ["exp", "iat", "iss", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise ServiceAuthError(401, "invalid_token", f"invalid access token: {exc}") from exc
    if claims["iss"] != settings.issuer or claims["sub"] != settings.client_id:
        raise ServiceAuthError(401, "invalid_token", "access token not issued for this client")
    granted = set(str(claims.get("scopes", "")).split())
    if not granted & required_any:
        raise ServiceAuthError(
            403, "insufficient_scope", f"needs one of: {' '.join(sorted(required_any))}"
        )
    return claims


# -- deep linking ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeepLinkingOutcome:
    user_id: str
    items: list[tuple[ResourceLink, LineItem | None]]
    msg: str | None
    errormsg: str | None


def _text(value: Any, name: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ToolJwtError(f"{name} must be a string")
    return value


def _custom(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ToolJwtError("custom must be an object of strings")
    return dict(value)


def _line_item(value: Any, link_id: str, title: str) -> LineItem | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ToolJwtError("lineItem must be an object")
    maximum = value.get("scoreMaximum")
    if isinstance(maximum, bool) or not isinstance(maximum, int | float) or maximum <= 0:
        raise ToolJwtError("lineItem.scoreMaximum must be a positive number")
    return LineItem(
        id=f"li-{uuid.uuid4().hex[:12]}",
        label=_text(value.get("label"), "lineItem.label", title) or title,
        score_maximum=float(maximum),
        resource_link_id=link_id,
        resource_id=_text(value.get("resourceId"), "lineItem.resourceId") or None,
        tag=_text(value.get("tag"), "lineItem.tag") or None,
    )


def validate_deep_linking_response(
    token: str,
    *,
    settings: DemoSettings,
    keys: PlatformKeys,
    store: DemoStore,
    tool_keys: ToolKeySet,
) -> DeepLinkingOutcome:
    """Check an LtiDeepLinkingResponse (Deep Linking 2.0 §4.2) and turn its items into links.

    Only the `data` token is consumed here; the caller stores the returned links and line items.
    """
    conf = DemoPlatformConf(settings, keys)
    claims = verify_tool_jwt(token, conf, tool_keys)
    conf.set_accepted_deeplinking_types(["ltiResourceLink"])
    try:
        items = conf.validate_deeplinking_resp({"JWT": token})
    except (LtiDeepLinkingResponseException, LtiException, KeyError, TypeError) as exc:
        raise ToolJwtError(str(exc) or "invalid content items") from exc
    if claims.get("iss") != settings.client_id:
        raise ToolJwtError("iss must be the client_id")
    audiences = _audiences(claims)
    if settings.issuer not in audiences:
        raise ToolJwtError("aud must be the platform issuer")
    if len(audiences) > 1 and claims.get("azp") != settings.issuer:
        raise ToolJwtError("azp must be the platform issuer when aud has several values")
    _check_times(claims)
    if not claims.get("nonce"):
        raise ToolJwtError("nonce is required")
    if claims.get(LTI + "deployment_id") != settings.deployment_id:
        raise ToolJwtError("deployment_id does not match")
    if claims.get(LTI + "version") != "1.3.0":
        raise ToolJwtError("version must be 1.3.0")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ToolJwtError("content_items must be a list of objects")
    created: list[tuple[ResourceLink, LineItem | None]] = []
    for item in items:
        url = _text(item.get("url"), "url") or None
        if url is not None and not url.startswith(settings.tool_base_url + "/"):
            raise ToolJwtError(f"url {url!r} is not one of the tool's URLs")
        title = _text(item.get("title"), "title", "Activité / Activity") or "Activité / Activity"
        link = ResourceLink(
            id=f"rl-{uuid.uuid4().hex[:12]}",
            title=title,
            text=_text(item.get("text"), "text"),
            url=url,
            custom=_custom(item.get("custom")),
            from_deep_linking=True,
        )
        line_item = _line_item(item.get("lineItem"), link.id, title)
        created.append((link, line_item))
    data = claims.get(DL + "data")
    user_id = store.take_deep_linking_data(data) if isinstance(data, str) else None
    if user_id is None:
        raise ToolJwtError(
            "data does not match an open deep-linking request (unknown or already used)"
        )
    return DeepLinkingOutcome(
        user_id=user_id,
        items=created,
        msg=_text(claims.get(DL + "msg"), "msg") or None,
        errormsg=_text(claims.get(DL + "errormsg"), "errormsg") or None,
    )
