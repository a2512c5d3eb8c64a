"""The hot path: the OIDC login request answered without Flask (issue 11).

Every launch starts with a login request, and its answer in the common case — a registered,
active platform found in memory (registry.py's few-second cache), no Platform Storage — is a
302 to the platform with a signed state and a cookie: no database, no template. Flask's request
machinery (request and app contexts, dispatch, hooks, response finalisation) cost more than that
work itself (~0.25 ms a request, profiled), so this WSGI middleware answers it directly, with the
same functions as the view (views.checked_login, views.login_response) and the same headers
(framing.unframed_headers).

Everything else goes to Flask, untouched: another path, a registration not in memory, a login
offering Platform Storage (its page is a template), and every refusal, so error pages, their
language and their log lines have one author. The login writes nothing, so handing a request on
after starting it is always safe. `tests/launch/test_hot_path.py` checks that both answer alike.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.wrappers import Request, Response

from lti_tool import framing
from lti_tool.launch import views
from lti_tool.launch.registry import peek_registration_and_deployment

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
LOGIN_PATH = "/lti/login"


class HotPath:
    """WSGI middleware in front of the Flask app (`app.wsgi_app`)."""

    def __init__(self, app: Flask, wsgi: WSGIApp) -> None:
        self.app = app
        self.wsgi = wsgi
        self.settings = app.extensions["settings"]
        self.max_body = int(app.config["MAX_CONTENT_LENGTH"])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == LOGIN_PATH:
            response = self._login(environ)
            if response is not None:
                return response(environ, start_response)
        return self.wsgi(environ, start_response)

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


def init_app(app: Flask) -> None:
    app.wsgi_app = HotPath(app, app.wsgi_app)  # type: ignore[method-assign]
