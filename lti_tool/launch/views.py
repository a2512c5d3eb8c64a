"""Endpoints of the launch: `/lti/login` (OIDC third-party initiated login), `/lti/launch`
(the redirect URI receiving the id_token) and `/.well-known/jwks.json` (the tool's public keys).

The state is bound to the browser by a `SameSite=None; Secure; Partitioned` cookie (CHIPS) and, when
the platform offers it (`lti_storage_target`), by LTI Platform Storage
(https://www.imsglobal.org/spec/lti-cs-pm/v0p1, https://www.imsglobal.org/spec/lti-pm-s/v0p1):
the login page stores a per-login secret in the platform's frame with `lti.put_data`, the launch page
reads it back with `lti.get_data` when the cookie did not survive.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from lti_tool import framing, http, page_token
from lti_tool.db import get_session
from lti_tool.errors import Bilingual
from lti_tool.launch import claims as c
from lti_tool.launch.registry import (
    find_registration,
    find_registration_and_deployment,
    require_active,
)
from lti_tool.launch.services import activity_of, record_launch
from lti_tool.launch.validation import LaunchDeps, ToolMessageLaunch, refuse
from lti_tool.launch.wiring import key_cache, login_states, tool_keys

bp = Blueprint("launch", __name__)
log = logging.getLogger("lti_tool.launch")

COOKIE_PREFIX = "lti1p3_state_"
STORAGE_KEY_PREFIX = "lti_state_"
STORAGE_FIELD = "lti_storage_binding"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _redirect_schemes(production: bool) -> tuple[str, ...]:
    return ("https",) if production else ("https", "http")


def _params() -> dict[str, str]:
    source = request.form if request.method == "POST" else request.args
    return {k: v for k, v in source.items() if isinstance(v, str)}


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> Any:
    params = _params()
    settings = current_app.extensions["settings"]
    iss, login_hint = params.get("iss", ""), params.get("login_hint", "")
    target = params.get("target_link_uri", "")
    if not iss or not login_hint:
        raise refuse(
            "bad_login",
            "La demande de connexion LTI est incomplète (iss ou login_hint manquant).",
            "The LTI login request is incomplete (iss or login_hint missing).",
            detail=f"login params {sorted(params)}",
        )
    if not target.startswith(settings.base_url + "/") and target != settings.base_url:
        raise refuse(
            "foreign_target",
            "Ce lancement vise une autre application.",
            "This launch targets another application.",
            detail=f"target_link_uri {target!r}",
        )
    session = get_session()
    client_id = params.get("client_id") or None
    deployment_hint = params.get("lti_deployment_id")
    registration, deployment_pk = find_registration_and_deployment(session, iss, client_id, deployment_hint)
    if registration is None:
        raise refuse(
            "unknown_platform",
            "Cette plateforme n'est pas inscrite dans l'outil.",
            "This platform is not registered with the tool.",
            hint=Bilingual(
                f"Administrateur de l'outil\u00a0: inscrivez l'émetteur {iss} (client_id "
                f"{client_id or '?'}) avec «\u00a0lti-tool platform add\u00a0» ou donnez à "
                "l'administrateur de la plateforme une invitation à l'inscription dynamique "
                "(«\u00a0lti-tool platform invite\u00a0»).",
                f"Tool administrator: register issuer {iss} (client_id {client_id or '?'}) with "
                "`lti-tool platform add`, or give the platform's administrator a dynamic "
                "registration invitation (`lti-tool platform invite`).",
            ),
            detail=f"no registration for ({iss}, {client_id})",
            status=403,
        )
    require_active(registration)  # a pending registration launches nothing
    if urlsplit(registration.auth_url).scheme not in _redirect_schemes(settings.is_production):
        # Never send a browser to plain http (or anything else) in production (issue 6, finding 8).
        raise refuse(
            "insecure_auth_url",
            "L'adresse d'authentification inscrite pour cette plateforme n'est pas une adresse "
            "https\u00a0: l'outil n'y envoie pas le navigateur.",
            "The authentication address registered for this platform is not an https address: "
            "the tool does not send the browser there.",
            hint=Bilingual(
                "Administrateur de l'outil\u00a0: réinscrivez la plateforme avec son adresse https "
                "(lti-tool platform remove, puis lti-tool platform add).",
                "Tool administrator: register the platform again with its https address "
                "(lti-tool platform remove, then lti-tool platform add).",
            ),
            detail=f"auth_url {registration.auth_url!r} of registration {registration.id}",
            status=403,
        )
    if deployment_hint and deployment_pk is None:
        raise refuse(
            "unknown_deployment",
            f"Le déploiement « {deployment_hint} » n'est pas inscrit pour cette plateforme.",
            f"Deployment \u201c{deployment_hint}\u201d is not registered for this platform.",
            hint=Bilingual(
                "Administrateur de l'outil : exécutez lti-tool platform add --issuer "
                f"{iss} --client-id {registration.client_id} … --deployment-id {deployment_hint}",
                "Tool administrator: run lti-tool platform add --issuer "
                f"{iss} --client-id {registration.client_id} … --deployment-id {deployment_hint}",
            ),
            detail=f"unknown deployment {deployment_hint!r}",
            status=403,
        )
    state, nonce, binding = (
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(24),
    )
    storage_target = params.get("lti_storage_target") or None
    # A second secret, only ever handed to the platform's storage: the cookie's value is never
    # accepted as a storage proof, and no proof at all for a login that did not use storage.
    storage_binding = secrets.token_urlsafe(24) if storage_target else None
    login_states().save(
        state,
        {
            "nonce": nonce,
            "binding": binding,
            "platform_id": registration.id,
            "iss": iss,
            "client_id": registration.client_id,
            "target_link_uri": target,
            "storage_target": storage_target,
            "storage_binding": storage_binding,
        },
        settings.login_state_ttl,
    )
    auth_params = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": settings.base_url + "/lti/launch",
        "state": state,
        "nonce": nonce,
        "login_hint": login_hint,
    }
    if params.get("lti_message_hint"):
        auth_params["lti_message_hint"] = params["lti_message_hint"]
    sep = "&" if "?" in registration.auth_url else "?"
    auth_url = registration.auth_url + sep + urlencode(auth_params)
    response: WerkzeugResponse
    if storage_target:
        framing.allow([registration.issuer, registration.auth_url])
        response = Response(
            render_template(
                "launch/storage_login.html",
                auth_url=auth_url,
                target=storage_target,
                origin=_origin(registration.auth_url),
                key=STORAGE_KEY_PREFIX + state,
                value=storage_binding,
            )
        )
        response.headers["Cache-Control"] = "no-store"
    else:
        response = redirect(auth_url, code=302)
    response.set_cookie(
        COOKIE_PREFIX + state,
        binding,
        max_age=settings.login_state_ttl,
        path="/lti/",
        secure=True,
        httponly=True,
        samesite="None",
        partitioned=True,
    )
    return response


@bp.post("/lti/launch")
def launch() -> Any:
    params = _params()
    settings = current_app.extensions["settings"]
    state = params.get("state", "")
    cookie = request.cookies.get(COOKIE_PREFIX + state) if state else None
    proof = params.get(STORAGE_FIELD)
    if cookie is None and proof is None and state:
        login = login_states().peek(state)
        if login and login.get("storage_target"):
            # Third-party cookie blocked: read the binding back from the platform's storage.
            registration = find_registration(get_session(), login["iss"], login["client_id"])
            if registration is None:
                raise refuse(
                    "unknown_registration",
                    "Cette plateforme n'est plus inscrite dans l'outil.",
                    "This platform is no longer registered with the tool.",
                    detail=f"no registration for ({login['iss']}, {login['client_id']})",
                )
            origin = _origin(registration.auth_url)
            framing.allow([registration.issuer, registration.auth_url])
            page = Response(render_template(
                "launch/storage_launch.html",
                id_token=params.get("id_token", ""),
                state=state,
                target=login["storage_target"],
                origin=origin,
                key=STORAGE_KEY_PREFIX + state,
                field=STORAGE_FIELD,
            ))
            # The page's own POST must carry our Origin (checked below); with no-referrer the
            # browser would send `Origin: null` (Fetch, "append a request Origin header").
            page.headers["Referrer-Policy"] = "same-origin"
            page.headers["Cache-Control"] = "no-store"
            return page
    session = get_session()
    deps = LaunchDeps(
        session=session,
        login_states=login_states(),
        keys=key_cache(),
        http=http.session(),
        tool_base_url=settings.base_url,
        leeway=settings.jwt_leeway,
        browser_bound=lambda login: _browser_bound(login, cookie, proof),
    )
    message = ToolMessageLaunch(params, deps)
    body = message.validated_body()
    recorded = record_launch(
        session, body, message.registration, message.deployment_pk, ttl=settings.launch_data_ttl
    )
    ctx = recorded.context
    log.info(
        "launch ok platform=%s deployment=%s type=%s role=%s",
        ctx.platform_id,
        ctx.deployment_id,
        ctx.message_type,
        ctx.role,
    )
    viewer = page_token.Viewer(
        recorded.learner_id,
        ctx.platform_id,
        recorded.resource_link_pk,
        recorded.course_id,
        ctx.launch_id,
        ctx.role,
        ctx.locale,
        activity_of(ctx),
    )
    token = page_token.issue(viewer)
    response = redirect(_landing(ctx.message_type, viewer, token), code=303)
    response.delete_cookie(
        COOKIE_PREFIX + state,
        path="/lti/",
        secure=True,
        httponly=True,
        samesite="None",
        partitioned=True,
    )
    return response


def _browser_bound(login: dict[str, Any], cookie: str | None, proof: str | None) -> bool:
    """The launch comes from the browser that logged in: the login's cookie, or — only for a login
    that offered `lti_storage_target` — the secret it stored in the platform's storage, posted by
    our own storage page. An attacker who ran a login knows its secrets and can make a victim's
    browser post them (login CSRF); a cross-site form cannot carry our Origin, so a proof from
    anywhere else is refused."""
    if cookie is not None:
        return hmac.compare_digest(cookie, str(login.get("binding", "")))
    expected = login.get("storage_binding")
    if proof is None or not login.get("storage_target") or not isinstance(expected, str):
        if proof is not None:
            log.warning("storage binding refused: the login did not use platform storage")
        return False
    if request.headers.get("Origin") != _origin(current_app.extensions["settings"].base_url):
        log.warning("storage binding refused: posted from origin %r", request.headers.get("Origin"))
        return False
    return hmac.compare_digest(proof, expected)


def _landing(message_type: str, viewer: page_token.Viewer, token: str) -> str:
    endpoints = current_app.extensions["landing_endpoints"]
    if message_type == c.DEEP_LINKING_REQUEST:
        endpoint = endpoints["deep_linking"]
    elif viewer.is_instructor:
        endpoint = endpoints["instructor"]
    else:
        endpoint = endpoints["learner"]
    return url_for(endpoint, t=token)


@bp.get("/.well-known/jwks.json")
def jwks() -> Any:
    response = jsonify(tool_keys().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
