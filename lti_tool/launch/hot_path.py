"""The hot path: the two requests of every launch answered in front of Flask (issue 11).

Flask's request machinery (request context, dispatch, hooks, response finalisation) costs
~0.15 ms a request, and the launch used it twice (its own request, and the request context its
first page was rendered in). This WSGI middleware answers the common case of both requests with
the view's own functions, in an app context at most:

- the login (`/lti/login`): a registered, active platform found in memory (registry.py's
  few-second cache) and no Platform Storage: a 302 to the platform with a signed state and a
  cookie (views.checked_login, views.login_response), no database, no template;
- the launch (`/lti/launch`) bound by the login's cookie: views.validate_and_record, then
  views.landing_response — for a learner the launch creates, the level home from its shared page
  (cases/blank_home.py) when it is rendered already; else the page's own view, in the request
  context `_first_page` builds, as before.

Everything else goes to Flask untouched: another path, a login not answerable from memory or
offering Platform Storage, a launch without the cookie. A refusal, or any error, met by the hot
path is answered by Flask too: a login writes nothing, so Flask simply runs it; a launch may
have used its nonce up already (Redis), so the exception is handed to the view
(`views.HANDED_ON`), which raises it as its own — one author for error pages, their language and
their log lines. Headers are framing.py's. `tests/launch/test_hot_path.py` checks that both
answer alike.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.wrappers import Request, Response

from lti_tool import db, framing
from lti_tool.launch import login_state, views
from lti_tool.launch.registry import peek_registration_and_deployment

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
LOGIN_PATH = "/lti/login"
LAUNCH_PATH = "/lti/launch"


class HotPath:
    """WSGI middleware in front of the Flask app (`app.wsgi_app`)."""

    def __init__(self, app: Flask, wsgi: WSGIApp) -> None:
        self.app = app
        self.wsgi = wsgi
        self.settings = app.extensions["settings"]
        self.max_body = int(app.config["MAX_CONTENT_LENGTH"])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        response = None
        if path == LOGIN_PATH:
            response = self._login(environ)
        elif path == LAUNCH_PATH and environ.get("REQUEST_METHOD") == "POST":
            response = self._launch(environ)
        if response is not None:
            return _in_one_piece(response(environ, start_response), environ)
        return _in_one_piece(self.wsgi(environ, start_response), environ)

    def _login(self, environ: dict[str, Any]) -> Response | None:
        method = environ.get("REQUEST_METHOD")
        if method == "POST":
            if not self._buffer_body(environ):
                return None
        elif method != "GET":
            return None
        request = Request(environ)  # Werkzeug's parsing, as Flask's request would parse it
        source = request.form if method == "POST" else request.args
        params = {k: v for k, v in source.items() if isinstance(v, str)}
        if method == "POST":
            environ["wsgi.input"].seek(0)  # Flask reads the body again if it gets the request
        if params.get("lti_storage_target"):
            return None
        found = peek_registration_and_deployment(
            self.app, params.get("iss", ""), params.get("client_id") or None,
            params.get("lti_deployment_id"))
        if found is None:
            return None
        try:
            registration = views.checked_login(params, self.settings, lambda *_: found)
            response = views.login_response(params, self.settings, registration)
        except Exception:  # noqa: BLE001 - a refusal: Flask runs the same checks and answers it
            return None
        return framing.unframed_headers(response)  # type: ignore[no-any-return]

    def _launch(self, environ: dict[str, Any]) -> Response | None:
        if not self._buffer_body(environ):
            return None
        request = Request(environ)
        params = {k: v for k, v in request.form.items() if isinstance(v, str)}
        environ["wsgi.input"].seek(0)
        state = params.get("state", "")
        login = login_state.read(self.settings.secret_key, state) if state else None
        cookie = request.cookies.get(views.COOKIE_PREFIX + login.nonce) if login else None
        if cookie is None:
            return None  # bound through Platform Storage, or refused: Flask's (nothing done yet)
        with self.app.app_context():
            try:
                return db.run_retrying_once(  # type: ignore[no-any-return]
                    lambda: framing.security_headers(views.landing_response(
                        views.validate_and_record(params, cookie, None, None), environ)),
                    lambda: "POST " + LAUNCH_PATH)
            except Exception as exc:  # noqa: BLE001 - answered by the view, as if raised there
                # The nonce may be used up already (Redis): Flask must not launch again, only
                # answer what happened here, with its error pages and log lines.
                environ[views.HANDED_ON] = exc
                return None

    def _buffer_body(self, environ: dict[str, Any]) -> bool:
        """Read a small form body into memory so Flask can read it again; False leaves a body too
        large or of unknown length to Flask (which refuses it)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return False
        if not 0 <= length <= self.max_body:
            return False
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        return True


def _in_one_piece(body: Iterable[bytes], environ: dict[str, Any]) -> Iterable[bytes]:
    """The response body as a one-item list. Werkzeug answers with an iterator (ClosingIterator);
    granian reads an iterator item by item through the Python layer, and that cost as much CPU as
    the launch's SQL (bench/launch.py: 3.0 → 2.3 ms a launch under granian); a list it takes at
    once. Every body here is small and already in memory (the app streams nothing), apart from a
    file the server sends itself (`wsgi.file_wrapper`: static files), which is left as it is."""
    if isinstance(body, list):
        return body
    wrapper = environ.get("wsgi.file_wrapper")
    if isinstance(wrapper, type) and isinstance(body, wrapper):
        return body
    try:
        return [b"".join(body)]
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()  # what the server would have done (PEP 3333), now that it gets a list


def init_app(app: Flask) -> None:
    app.wsgi_app = HotPath(app, app.wsgi_app)  # type: ignore[method-assign]
