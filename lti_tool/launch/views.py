"""Endpoints of the launch: `/lti/login` (OIDC third-party initiated login), `/lti/launch`
(the redirect URI receiving the id_token) and `/.well-known/jwks.json` (the tool's public keys).

The state is bound to the browser by a `SameSite=None; Secure; Partitioned` cookie (CHIPS) and, when
the platform offers it (`lti_storage_target`), by LTI Platform Storage
(https://www.imsglobal.org/spec/lti-cs-pm/v0p1, https://www.imsglobal.org/spec/lti-pm-s/v0p1):
the login page stores a per-login secret in the platform's frame with `lti.put_data`, the launch page
reads it back with `lti.get_data` when the cookie did not survive. The state itself is signed and
stateless (login_state.py); only its nonce is written, once, at the launch. When neither binding
works, the refusal offers to continue in a new top-level window (`_state_not_bound`).

`launch` is the hot path of the tool (issue 11): it ends with the learner's first page rendered
into its own response (`_first_page`) instead of a 303 and a second request.
"""

from __future__ import annotations

import hmac
import io
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
)
from markupsafe import escape
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import MapAdapter
from werkzeug.utils import redirect as redirect_to
from werkzeug.wrappers import Response as WerkzeugResponse

from lti_tool import framing, http, page_token
from lti_tool.db import get_session
from lti_tool.errors import Bilingual, error_lang
from lti_tool.launch import claims as c
from lti_tool.launch import login_state
from lti_tool.launch.login_state import purge_now_and_then
from lti_tool.launch.registry import (
    Registration,
    cached_registration_and_deployment,
    require_active,
)
from lti_tool.launch.services import RecordedLaunch, activity_of, record_launch
from lti_tool.launch.validation import LaunchDeps, StateNotBound, ToolMessageLaunch, refuse
from lti_tool.launch.wiring import key_cache, nonces, tool_keys

bp = Blueprint("launch", __name__)
log = logging.getLogger("lti_tool.launch")

COOKIE_PREFIX = "lti1p3_state_"
# The WSGI environ key under which the hot path hands the launch view an exception to answer.
HANDED_ON = "lti_tool.launch.handed_on"
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

    def lookup(iss: str, client_id: str | None, deployment: str | None) -> Any:
        # From memory for a few seconds (registry.py): the login does no I/O at all.
        return cached_registration_and_deployment(get_session(), iss, client_id, deployment)

    registration = checked_login(params, settings, lookup)
    return login_response(params, settings, registration)


def checked_login(params: dict[str, str], settings: Any, lookup: Any) -> Registration:
    """Every check of a login request; raises the refusal. `lookup(iss, client_id, deployment)`
    gives (registration, deployment pk) as `cached_registration_and_deployment` does. Shared with
    the hot path (hot_path.py), which passes what it found in memory."""
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
    client_id = params.get("client_id") or None
    deployment_hint = params.get("lti_deployment_id")
    registration, deployment_pk = lookup(iss, client_id, deployment_hint)
    if registration is None:
        raise refuse(
            "unknown_platform",
            "Cette plateforme n'est pas inscrite dans l'outil.",
            "This platform is not registered with the tool.",
            admin=Bilingual(
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
            admin=Bilingual(
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
            admin=Bilingual(
                "Administrateur de l'outil : exécutez lti-tool platform add-deployment --issuer "
                f"{iss} --client-id {registration.client_id} --deployment-id {deployment_hint}",
                "Tool administrator: run lti-tool platform add-deployment --issuer "
                f"{iss} --client-id {registration.client_id} --deployment-id {deployment_hint}",
            ),
            detail=f"unknown deployment {deployment_hint!r}",
            status=403,
        )
    return registration  # type: ignore[no-any-return]


def login_response(
    params: dict[str, str], settings: Any, registration: Registration
) -> WerkzeugResponse:
    """The answer to a checked login: the redirect to the platform's authorization endpoint (or,
    when the platform offers its storage, the page that stores the browser binding there), with
    the state's cookie. Needs a Flask context only for the storage page."""
    iss, login_hint = params["iss"], params["login_hint"]
    target = params.get("target_link_uri", "")
    storage_target = params.get("lti_storage_target") or None
    # Stateless: the state is signed and carries what the launch checks (login_state.py).
    state, login = login_state.issue(
        settings.secret_key, platform_id=registration.id, iss=iss,
        client_id=registration.client_id, target_link_uri=target, ttl=settings.login_state_ttl,
        storage_target=storage_target, login_params=params,
    )
    nonce = login.nonce
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
                key=STORAGE_KEY_PREFIX + nonce,
                # A second secret, only ever handed to the platform's storage: the cookie's value
                # is never accepted as a storage proof, and no proof for a login without storage.
                value=login_state.binding(settings.secret_key, state, "storage"),
            )
        )
        response.headers["Cache-Control"] = "no-store"
    else:
        response = redirect_to(auth_url, code=302)
    response.set_cookie(
        COOKIE_PREFIX + nonce,
        login_state.binding(settings.secret_key, state, "cookie"),
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
    """The launch, and the hot path of a learner's day: one request from the platform's form post
    to the learner's first page (issue 11). In order: the signed state (no I/O), the id_token
    checks (validation.py; the registration from memory, the platform key cached), then the writes
    — the nonce consumed, learner, course, link and launch data recorded — and one commit; then the
    landing page rendered into this response (`_first_page`), rather than a 303 and a second
    request that would check the token and read the tenant again. Its common case is answered
    before Flask, by hot_path.py, with the same functions (`validate_and_record`,
    `landing_response`); what the hot path met and could not answer reaches this view as
    `HANDED_ON`, and is answered here as if raised here."""
    handed_on = request.environ.get(HANDED_ON)
    if handed_on is not None:
        raise handed_on
    params = _params()
    settings = current_app.extensions["settings"]
    state = params.get("state", "")
    login = login_state.read(settings.secret_key, state) if state else None
    cookie = request.cookies.get(COOKIE_PREFIX + login.nonce) if login else None
    proof = params.get(STORAGE_FIELD)
    if login is not None and cookie is None and proof is None and login.storage_target:
        # Third-party cookie blocked: read the binding back from the platform's storage.
        registration, _ = cached_registration_and_deployment(
            get_session(), login.iss, login.client_id, None
        )
        if registration is None:
            raise refuse(
                "unknown_registration",
                "Cette plateforme n'est plus inscrite dans l'outil.",
                "This platform is no longer registered with the tool.",
                detail=f"no registration for ({login.iss}, {login.client_id})",
            )
        origin = _origin(registration.auth_url)
        framing.allow([registration.issuer, registration.auth_url])
        page = Response(render_template(
            "launch/storage_launch.html",
            id_token=params.get("id_token", ""),
            state=state,
            target=login.storage_target,
            origin=origin,
            key=STORAGE_KEY_PREFIX + login.nonce,
            field=STORAGE_FIELD,
        ))
        # The page's own POST must carry our Origin (checked below); with no-referrer the
        # browser would send `Origin: null` (Fetch, "append a request Origin header").
        page.headers["Referrer-Policy"] = "same-origin"
        page.headers["Cache-Control"] = "no-store"
        return page
    return landing_response(
        validate_and_record(params, cookie, proof, request.headers.get("Origin")), request.environ
    )


@dataclass(frozen=True)
class Launched:
    """A launch validated and recorded (not committed yet), and where it lands."""

    message: ToolMessageLaunch
    recorded: RecordedLaunch
    viewer: page_token.Viewer
    token: str
    endpoint: str


def validate_and_record(
    params: dict[str, str], cookie: str | None, proof: str | None, origin: str | None
) -> Launched:
    """The launch itself: the id_token checks (validation.py; the registration from memory, the
    platform key cached), then the writes — the nonce consumed, learner, course, link and launch
    data recorded — in the app context's session. `cookie`/`proof`/`origin`: the browser binding
    (`_browser_bound`). Shared by the view and the hot path (hot_path.py); needs an app context
    only, never the request."""
    settings = current_app.extensions["settings"]
    session = get_session()
    deps = LaunchDeps(
        session=session,
        secret_key=settings.secret_key,
        nonces=nonces(),
        keys=key_cache(),
        http=http.session(),
        tool_base_url=settings.base_url,
        leeway=settings.jwt_leeway,
        browser_bound=lambda state, login: _browser_bound(state, login, cookie, proof, origin),
    )
    message = ToolMessageLaunch(params, deps)
    body = message.validated_body()
    try:
        recorded = record_launch(
            session, body, message.registration, message.deployment_pk, ttl=settings.launch_data_ttl
        )
    except IntegrityError as exc:
        # The registration or deployment was removed within the cache's few seconds (registry.py).
        raise refuse(
            "unknown_registration",
            "Cette plateforme n'est plus inscrite dans l'outil.",
            "This platform is no longer registered with the tool.",
            detail=f"launch not recorded: {exc.orig}",
        ) from exc
    purge_now_and_then(session)
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
    return Launched(message, recorded, viewer, page_token.issue(viewer),
                    _landing_endpoint(ctx.message_type, viewer))


def landing_response(launched: Launched, environ: dict[str, Any]) -> WerkzeugResponse:
    """Commits the launch, then answers it: a learner's first page in this response
    (`_first_page`), a 303 to the instructor's or the deep-linking page. `environ`: the launch
    request's (for the page's URL). Needs an app context only."""
    ctx = launched.recorded.context
    urls = current_app.url_map.bind_to_environ(environ)
    response: WerkzeugResponse
    if launched.endpoint == current_app.extensions["landing_endpoints"]["learner"]:
        registration = launched.message.registration
        framing.allow([registration.issuer, registration.auth_url, ctx.return_url])
        identity = page_token.Identity(
            ctx.name or " ".join(p for p in (ctx.given_name, ctx.family_name) if p) or None,
            ctx.context_title,
        ) if ctx.context_title else None
        # A shared page's few reads run in the launch's own transaction (one connection, one
        # commit); any other page is rendered after the commit, so the launch is kept whatever
        # its rendering does.
        shared = _shared_page(launched, identity)
        get_session().commit()
        response = _first_page(environ, urls, launched, shared)
    else:
        get_session().commit()
        response = redirect_to(urls.build(launched.endpoint, {"t": launched.token}), code=303)
    response.delete_cookie(
        COOKIE_PREFIX + launched.message.login.nonce,
        path="/lti/",
        secure=True,
        httponly=True,
        samesite="None",
        partitioned=True,
    )
    return response


def _shared_page(launched: Launched, identity: page_token.Identity | None) -> str | None:
    """The landing page of a learner with nothing yet, from the page shared by every such learner
    when it is rendered already (cases/blank_home.py): no request context, no render. None
    otherwise. Sets in `g` what `require_viewer` would (the page's token is this
    launch's), and what the page's view needs to know about this launch."""
    viewer = launched.viewer
    if identity is not None:
        g.page_token_live = {viewer: identity}
    if launched.recorded.new_learner:
        g.new_learner = viewer.learner_id
    shared = current_app.extensions.get("shared_landing_page")
    if shared is None or identity is None:
        return None
    g.viewer, g.identity, g.locale, g.page_token = viewer, identity, viewer.locale, launched.token
    return shared()  # type: ignore[no-any-return]


def _first_page(
    environ: dict[str, Any], urls: MapAdapter, launched: Launched, html: str | None
) -> WerkzeugResponse:
    """The landing page in the launch response: `html` (a shared page, `_shared_page`), or the
    page rendered by its own view function, in a request context made to look like the GET a 303
    would have led to (its URL, its blueprint, its context processors, its language switch).
    What the view reads about the tenant is what this launch has just written and committed: the
    binding check of `page_token.require_viewer` is answered from the launch (`_shared_page` put
    its identity in `g`), not read back; a learner the launch created has nothing the page need
    look for. A refresh must not post the id_token again: `launch-url.js` replaces this history
    entry with the page's own URL (without JavaScript the browser asks before re-posting, and the
    used nonce refuses it)."""
    url = urls.build(launched.endpoint, {"t": launched.token})
    if html is not None:
        response = Response(html)
    else:
        parts = urlsplit(url)
        page_environ = {
            **environ,
            "REQUEST_METHOD": "GET",
            "PATH_INFO": parts.path[len(environ.get("SCRIPT_NAME", "").rstrip("/")):],
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": "",
            "CONTENT_LENGTH": "0",
            "wsgi.input": io.BytesIO(),
        }
        with current_app.request_context(page_environ):
            view: Any = current_app.view_functions[launched.endpoint]
            response = current_app.make_response(view())
        html = response.get_data(as_text=True)
    script = (
        f'<script src="{escape(urls.build("static", {"filename": "js/launch-url.js"}))}" '
        f'data-url="{escape(url)}"></script>'
    )
    at = html.rfind("</body>")
    response.set_data(html[:at] + script + html[at:] if at >= 0 else html + script)
    response.headers["Content-Location"] = url
    response.headers["Cache-Control"] = "no-store"
    return response


def _browser_bound(
    state: str, login: login_state.LoginState, cookie: str | None, proof: str | None,
    origin: str | None,
) -> bool:
    """The launch comes from the browser that logged in: the login's cookie, or — only for a login
    that offered `lti_storage_target` — the secret it stored in the platform's storage, posted by
    our own storage page. An attacker who ran a login knows its secrets and can make a victim's
    browser post them (login CSRF); a cross-site form cannot carry our Origin, so a proof from
    anywhere else is refused."""
    secret_key = current_app.extensions["settings"].secret_key
    if cookie is not None:
        return hmac.compare_digest(cookie, login_state.binding(secret_key, state, "cookie"))
    if proof is None or not login.storage_target:
        if proof is not None:
            log.warning("storage binding refused: the login did not use platform storage")
        return False
    if origin != _origin(current_app.extensions["settings"].base_url):
        log.warning("storage binding refused: posted from origin %r", origin)
        return False
    return hmac.compare_digest(proof, login_state.binding(secret_key, state, "storage"))


def _landing_endpoint(message_type: str, viewer: page_token.Viewer) -> str:
    endpoints = current_app.extensions["landing_endpoints"]
    if message_type == c.DEEP_LINKING_REQUEST:
        return str(endpoints["deep_linking"])
    if viewer.is_instructor:
        return str(endpoints["instructor"])
    return str(endpoints["learner"])


@bp.errorhandler(StateNotBound)
def _state_not_bound(exc: StateNotBound) -> Any:
    """Neither the cookie nor Platform Storage binds this launch to the browser that logged in
    (LMS in a cross-site frame, third-party cookies blocked, no storage offered): the refusal page
    offers to restart the login in a new window, at top level, where the tool's cookie is a
    first-party one (issue 10, 8b). The restart is a new login with the original parameters;
    nothing of this refused launch is reused."""
    log.warning("refused %s %s: %s [400] %s", request.method, request.path, exc.code, exc.detail)
    lang = error_lang()
    g.locale = lang  # the page's chrome (base.html) in the learner's language
    page = Response(render_template(
        "launch/continue_in_new_window.html",
        code=exc.code,
        params=login_state.restart_params(exc.login),
        order=("fr", "en") if lang == "fr" else ("en", "fr"),
    ), status=400)
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.get("/.well-known/jwks.json")
def jwks() -> Any:
    response = jsonify(tool_keys().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
