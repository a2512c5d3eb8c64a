"""HTTP front of the demo LMS: the course page, the OIDC/launch endpoints and the LTI services.

A Flask adapter for lti1p3platform, which ships Django and FastAPI ones only. Views stay thin:
the protocol lives in platform.py and services.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import flask
from flask import Blueprint, current_app, jsonify, render_template, request
from lti1p3platform.response import Response as LibResponse
from lti1p3platform.service_connector import BasicService
from werkzeug.exceptions import HTTPException

from .badges import BadgeLister, DemoBadge
from .gradebook import build_gradebook, canvas_submission, other_extensions
from .keys import PlatformKeys
from .outage import Refusal, ScoreEndpointSwitch, SwitchError
from .platform import (
    DEEP_LINKING_REQUEST,
    RESOURCE_LINK_REQUEST,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_NRPS,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    AuthRequestError,
    DemoPlatformConf,
    FlaskRequest,
    ServiceAuthError,
    TokenRequestError,
    ToolJwtError,
    ToolKeySet,
    check_access_token,
    issue_access_token,
    lineitem_url,
    login_initiation_url,
    run_launch,
    validate_deep_linking_response,
)
from .services import DemoAgs, DemoNrps
from .settings import COURSE, DEFAULT_LINK_ID, LOCALES, DemoSettings
from .storage import DemoStore, LaunchOverrides, PendingLaunch, ResourceLink

EXTENSION = "sexto_demo_lms"
log = logging.getLogger(__name__)
bp = Blueprint("demo_lms", __name__)


@dataclass
class DemoLms:
    settings: DemoSettings
    keys: PlatformKeys
    store: DemoStore
    tool_keys: ToolKeySet
    score_switch: ScoreEndpointSwitch = field(default_factory=ScoreEndpointSwitch)
    # The badges the tool awarded, per user id (`lti-tool demo` gives it; None: no badge section).
    badges: BadgeLister | None = None


def lms() -> DemoLms:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/demo/api/", "/lti/token", "/lti/jwks"))


def error_page(status: int, message: str) -> flask.Response:
    resp = flask.make_response(
        render_template("demo/error.html", status=status, message=message), status
    )
    return resp


def json_error(status: int, error: str, description: str) -> flask.Response:
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    return resp


@bp.app_errorhandler(HTTPException)
def handle_http_error(exc: HTTPException) -> flask.Response:
    status = exc.code or 500
    if _is_api(request.path):
        return json_error(
            status, (exc.name or "error").lower().replace(" ", "_"), exc.description or ""
        )
    return error_page(status, exc.description or exc.name)


@bp.app_context_processor
def frame_context() -> dict[str, Any]:
    """`framed`: the page loads in the course page's tool frame (a refused launch, the
    deep-linking answer), which already shows the DEMO banner: base.html shows a tag instead."""
    return {"framed": request.headers.get("Sec-Fetch-Dest") == "iframe"}


@bp.get("/favicon.ico")
def favicon() -> flask.Response:
    """Browsers ask for /favicon.ico whatever the page links: the demo's icon, not a 404."""
    return current_app.send_static_file("demo/favicon.ico")


@bp.after_app_request
def security_headers(resp: flask.Response) -> flask.Response:
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if resp.mimetype == "text/html":
        tool = _origin(lms().settings.tool_base_url)
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"frame-src 'self' {tool}; "
            f"form-action 'self' {tool}; "
            "frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
        )
    return resp


# -- the course page ---------------------------------------------------------------------------
def _page_context() -> dict[str, Any]:
    demo = lms()
    store = demo.store
    line_items = {li.id: li for li in store.list_line_items()}
    users = {u.id: u for u in COURSE.users}
    links = store.list_links()
    link_titles = {li.id: li.label for li in line_items.values()}
    return {
        "settings": demo.settings,
        "course": COURSE,
        "links": links,
        "line_items": line_items,
        "scores": list(reversed(store.list_scores())),
        "users": users,
        "link_titles": link_titles,
        "locales": LOCALES,
        "tool_origin": _origin(demo.settings.tool_base_url),
        "json": json,
        "gradebook": build_gradebook(line_items.values(), store.list_scores(), COURSE.users),
        "canvas_submission": canvas_submission,
        "other_extensions": other_extensions,
        "switch": demo.score_switch.state(),
        "badges": _badges(demo),
    }


def _badges(demo: DemoLms) -> Mapping[str, Sequence[DemoBadge]] | None:
    if demo.badges is None:
        return None
    try:
        return demo.badges()
    except Exception:  # the tool's database is the tool's business: the course page still shows
        log.exception("demo LMS: listing the tool's badges failed")
        return {}


@bp.get("/")
def home() -> str:
    return render_template("demo/home.html", **_page_context())


@bp.get("/grades")
def grades() -> str:
    """The gradebook page: every score received, per line item and learner, and the outage switch."""
    return render_template("demo/gradebook.html", **_page_context())


@bp.get("/grades/table")
def grades_table() -> str:
    """The gradebook tables alone, fetched by the course page's refresh button."""
    return render_template("demo/grades.html", **_page_context())


def _same_origin_form() -> bool:
    """The switch form has no session to carry a CSRF token: refuse posts from other sites."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin == _origin(request.host_url)


@bp.post("/grades/score-endpoint")
def switch_score_endpoint() -> flask.Response:
    """The gradebook page's outage form (plain HTML POST, then back to the page)."""
    if not _same_origin_form():
        return error_page(403, "Cross-site form refused. / Formulaire d'un autre site refusé.")
    form = request.form
    try:
        lms().score_switch.set(form.get("mode"), form.get("retry_after"), form.get("calls"))
    except SwitchError as exc:
        return error_page(400, str(exc))
    return flask.make_response(flask.redirect(flask.url_for(".grades") + "#score-endpoint", 303))


@bp.route("/demo/api/score-endpoint", methods=["GET", "POST"])
def api_score_endpoint() -> flask.Response:
    """JSON twin of the outage form, for tests of the tool's outbox:
    `{"mode": "up"|"down"|"busy"|"sequence", "retry_after": 5, "calls": 3}`. It can do nothing the
    page's form cannot, so it is not behind `allow_test_overrides`."""
    switch = lms().score_switch
    if request.method == "GET":
        return jsonify(switch.state().as_json())
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return json_error(400, "invalid_request", "a JSON object is required")
    try:
        state = switch.set(data.get("mode"), data.get("retry_after"), data.get("calls"))
    except SwitchError as exc:
        return json_error(400, "invalid_request", str(exc))
    return jsonify(state.as_json())


@bp.get("/storage-frame")
def storage_frame() -> str:
    """Hidden frame answering Platform Storage messages when the target is a named frame."""
    return render_template("demo/storage_frame.html")


@bp.get("/healthz")
def healthz() -> flask.Response:
    return jsonify({"status": "ok", "demo": True})


class LaunchRequestError(Exception):
    pass


def start_launch(
    user_key: str,
    message_type: str,
    resource_link_id: str | None,
    locale: str,
    overrides: LaunchOverrides | None = None,
) -> tuple[PendingLaunch, str]:
    """Record a pending launch and return the tool's login-initiation URL for it."""
    demo = lms()
    user = COURSE.user(user_key)
    if user is None:
        raise LaunchRequestError(f"unknown user {user_key!r}")
    if locale not in LOCALES:
        raise LaunchRequestError(f"locale must be one of {', '.join(LOCALES)}")
    link: ResourceLink | None = None
    if message_type == DEEP_LINKING_REQUEST:
        if user.key != "instructor":
            raise LaunchRequestError("only the instructor can add activities (deep linking)")
        resource_link_id = None
    elif message_type == RESOURCE_LINK_REQUEST:
        link = demo.store.get_link(resource_link_id or DEFAULT_LINK_ID)
        if link is None:
            raise LaunchRequestError(f"unknown resource link {resource_link_id!r}")
        resource_link_id = link.id
    else:
        raise LaunchRequestError(f"unknown message type {message_type!r}")
    pending = demo.store.create_pending_launch(
        user.id, message_type, resource_link_id, locale, overrides
    )
    url = login_initiation_url(pending, settings=demo.settings, keys=demo.keys, link=link)
    return pending, url


def _message_type(kind: str) -> str:
    return {"resource_link": RESOURCE_LINK_REQUEST, "deep_linking": DEEP_LINKING_REQUEST}.get(
        kind, kind
    )


@bp.post("/launch")
def launch_from_page() -> flask.Response:
    """The page's launch buttons post here, into the tool frame; off to the tool's login."""
    form = request.form
    try:
        _, url = start_launch(
            form.get("user", "learner"),
            _message_type(form.get("kind", "resource_link")),
            form.get("link") or None,
            form.get("locale", "fr-CA"),
        )
    except LaunchRequestError as exc:
        return error_page(400, str(exc))
    return flask.make_response(flask.redirect(url, code=303))


def _overrides(data: Any) -> LaunchOverrides | None:
    if data is None:
        return None
    if not lms().settings.allow_test_overrides:
        raise PermissionError("claim overrides are disabled (DemoSettings.allow_test_overrides)")
    if not isinstance(data, dict):
        raise LaunchRequestError("overrides must be an object")
    claims, headers = data.get("claims") or {}, data.get("headers") or {}
    alg = data.get("alg") or "RS256"
    if not isinstance(claims, dict) or not isinstance(headers, dict):
        raise LaunchRequestError("overrides.claims and overrides.headers must be objects")
    if alg not in ("RS256", "none", "HS256"):
        raise LaunchRequestError("overrides.alg must be RS256, none or HS256")
    return LaunchOverrides(
        claims=claims, headers=headers, alg=alg, foreign_key=bool(data.get("foreign_key", False))
    )


@bp.post("/demo/api/launches")
def api_create_launch() -> flask.Response:
    """JSON twin of the launch buttons, for scripts and tests (tests/support/platform_server.py)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return json_error(400, "invalid_request", "a JSON object is required")
    try:
        pending, url = start_launch(
            str(data.get("user", "learner")),
            _message_type(str(data.get("message_type", RESOURCE_LINK_REQUEST))),
            data.get("resource_link_id"),
            str(data.get("locale", "fr-CA")),
            _overrides(data.get("overrides")),
        )
    except PermissionError as exc:
        return json_error(403, "overrides_disabled", str(exc))
    except LaunchRequestError as exc:
        return json_error(400, "invalid_request", str(exc))
    resp = jsonify(
        {
            "launch_id": pending.id,
            "login_url": url,
            "user_id": pending.user_id,
            "message_type": pending.message_type,
            "resource_link_id": pending.resource_link_id,
        }
    )
    resp.status_code = 201
    return resp


@bp.get("/demo/api/state")
def api_state() -> flask.Response:
    """What the tool sent back: links, line items (with their AGS URL) and scores."""
    demo = lms()
    return jsonify(
        {
            "resource_links": [asdict(rl) for rl in demo.store.list_links()],
            "line_items": [
                {**asdict(li), "url": lineitem_url(demo.settings, li.id)}
                for li in demo.store.list_line_items()
            ],
            "scores": [asdict(s) for s in demo.store.list_scores()],
            "score_endpoint": demo.score_switch.state().as_json(),
        }
    )


# -- OIDC authentication, JWKS, token ----------------------------------------------------------
def _no_store(resp: flask.Response) -> flask.Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


@bp.route("/lti/authorize", methods=["GET", "POST"])
def authorize() -> flask.Response:
    """OIDC authentication endpoint: answers with the auto-submitting id_token form."""
    demo = lms()
    params = (request.args if request.method == "GET" else request.form).to_dict()
    try:
        body = run_launch(params, settings=demo.settings, store=demo.store, keys=demo.keys)
    except AuthRequestError as exc:
        return _no_store(error_page(400, f"Authentication request refused: {exc}"))
    return _no_store(flask.make_response(body))


@bp.get("/lti/jwks.json")
def jwks() -> flask.Response:
    demo = lms()
    return jsonify(DemoPlatformConf(demo.settings, demo.keys).get_jwks())


@bp.post("/lti/token")
def token() -> flask.Response:
    demo = lms()
    try:
        result = issue_access_token(
            request.form.to_dict(),
            settings=demo.settings,
            keys=demo.keys,
            store=demo.store,
            tool_keys=demo.tool_keys,
        )
    except TokenRequestError as exc:
        return _no_store(json_error(exc.status, exc.error, exc.description))
    return _no_store(jsonify(result))


# -- deep linking ------------------------------------------------------------------------------
@bp.post("/lti/deep-linking/return")
def deep_linking_return() -> flask.Response:
    demo = lms()
    token_value = request.form.get("JWT")
    if not token_value:
        return error_page(400, "The deep-linking response has no JWT field.")
    try:
        outcome = validate_deep_linking_response(
            token_value,
            settings=demo.settings,
            keys=demo.keys,
            store=demo.store,
            tool_keys=demo.tool_keys,
        )
    except ToolJwtError as exc:
        return error_page(400, f"Deep-linking response refused: {exc}")
    for link, line_item in outcome.items:
        demo.store.add_link(link, line_item)
    return flask.make_response(
        render_template(
            "demo/deep_linking_done.html",
            outcome=outcome,
            line_items={li.id: li for _, li in outcome.items if li is not None},
        )
    )


# -- AGS and NRPS ------------------------------------------------------------------------------
def to_flask(resp: LibResponse) -> flask.Response:
    """The library's service response as Flask's, with a correctly quoted `rel="next"` Link."""
    if not 200 <= resp.code < 300:
        return json_error(resp.code, "error", resp.message)
    result = resp.result
    next_url = None
    body = ""
    if result is not None:
        data = result
        if isinstance(result, dict):
            next_url = result.get("next")
            if "content" in result:
                data = result["content"]
            else:
                data = {k: v for k, v in result.items() if k not in ("next", "has_next")}
        body = json.dumps(data)
    out = flask.Response(body, status=resp.code, mimetype=resp.media_type)
    if next_url:
        out.headers["Link"] = f'<{next_url}>; rel="next"'
    return out


def _authorize(required_any: set[str]) -> None:
    demo = lms()
    check_access_token(
        request.headers.get("Authorization"), required_any, settings=demo.settings, keys=demo.keys
    )


def _service_error(exc: ServiceAuthError) -> flask.Response:
    resp = json_error(exc.status, exc.error, exc.description)
    resp.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    return resp


def _call(service: BasicService, handler: Any, **kwargs: Any) -> flask.Response:
    return to_flask(service.handle_resp(handler, **kwargs))


def _require_json() -> None:
    if not request.is_json:
        flask.abort(415, "a JSON body (application/vnd.ims.lis.*+json) is required")


def _check_context(context_id: str) -> None:
    if context_id != COURSE.id:
        flask.abort(404, "unknown context")


@bp.route("/api/lti/contexts/<context_id>/lineitems", methods=["GET", "POST"])
def lineitems(context_id: str) -> flask.Response:
    _check_context(context_id)
    demo = lms()
    try:
        if request.method == "GET":
            _authorize({SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY})
        else:
            _authorize({SCOPE_LINEITEM})
            _require_json()
    except ServiceAuthError as exc:
        return _service_error(exc)
    svc = DemoAgs(
        FlaskRequest(request), DemoPlatformConf(demo.settings, demo.keys), demo.settings, demo.store
    )
    handler = svc.handle_get_lineitems if request.method == "GET" else svc.handle_create_lineitem
    return _call(svc, handler)


@bp.route(
    "/api/lti/contexts/<context_id>/lineitems/<line_item_id>", methods=["GET", "PUT", "DELETE"]
)
def lineitem(context_id: str, line_item_id: str) -> flask.Response:
    _check_context(context_id)
    demo = lms()
    try:
        if request.method == "GET":
            _authorize({SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY})
        else:
            _authorize({SCOPE_LINEITEM})
            if request.method == "PUT":
                _require_json()
    except ServiceAuthError as exc:
        return _service_error(exc)
    conf = DemoPlatformConf(demo.settings, demo.keys)
    svc = DemoAgs(FlaskRequest(request), conf, demo.settings, demo.store, line_item_id)
    handler = {
        "GET": svc.handle_get_lineitem,
        "PUT": svc.handle_update_lineitem,
        "DELETE": svc.handle_delete_lineitem,
    }[request.method]
    return _call(svc, handler, line_item_id=line_item_id)


@bp.post("/api/lti/contexts/<context_id>/lineitems/<line_item_id>/scores")
def scores(context_id: str, line_item_id: str) -> flask.Response:
    demo = lms()
    refusal = demo.score_switch.refusal()
    if refusal is not None:  # an LMS that is down answers before reading anything
        return _outage(refusal)
    _check_context(context_id)
    try:
        _authorize({SCOPE_SCORE})
        _require_json()
    except ServiceAuthError as exc:
        return _service_error(exc)
    conf = DemoPlatformConf(demo.settings, demo.keys)
    svc = DemoAgs(FlaskRequest(request), conf, demo.settings, demo.store, line_item_id)
    return _call(svc, svc.handle_update_score, line_item_id=line_item_id)


def _outage(refusal: Refusal) -> flask.Response:
    if refusal.status == 429:
        resp = json_error(429, "too_many_requests", "DEMO outage switch: busy, retry later")
        resp.headers["Retry-After"] = str(refusal.retry_after)
    else:
        resp = json_error(503, "temporarily_unavailable", "DEMO outage switch: score endpoint down")
    return _no_store(resp)


@bp.get("/api/lti/contexts/<context_id>/lineitems/<line_item_id>/results")
def results(context_id: str, line_item_id: str) -> flask.Response:
    _check_context(context_id)
    demo = lms()
    try:
        _authorize({SCOPE_RESULT_READONLY})
    except ServiceAuthError as exc:
        return _service_error(exc)
    conf = DemoPlatformConf(demo.settings, demo.keys)
    svc = DemoAgs(FlaskRequest(request), conf, demo.settings, demo.store, line_item_id)
    return _call(svc, svc.handle_get_results, line_item_id=line_item_id)


@bp.get("/api/lti/contexts/<context_id>/memberships")
def memberships(context_id: str) -> flask.Response:
    _check_context(context_id)
    demo = lms()
    try:
        _authorize({SCOPE_NRPS})
    except ServiceAuthError as exc:
        return _service_error(exc)
    svc = DemoNrps(
        FlaskRequest(request), DemoPlatformConf(demo.settings, demo.keys), demo.settings, demo.store
    )
    return _call(svc, svc.handle_get_members)
