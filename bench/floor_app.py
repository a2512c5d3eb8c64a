"""The server's floor for bench/launch.py (`--floor`): a bare WSGI app answering the two requests
of a complete launch with constant answers of the same shape and size as the tool's (a 302 with a
state, a nonce and a cookie; a ~20 KB page for the form post), no framework, no work. Its CPU per
launch is what the server and the connection cost whatever the app does."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

PAGE = (b"<!doctype html><html lang=fr><head><title>Page</title></head><body>"
        + b"<p>" + b"x" * 20_000 + b"</p></body></html>")
LOCATION = "https://bench-lms.test/auth?state=" + "s" * 400 + "&nonce=" + "n" * 24


def create_app() -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/lti/login":
            start_response("302 Found", [("Location", LOCATION), ("Content-Length", "0"), (
                "Set-Cookie", "lti1p3_state_" + "n" * 24 + "=" + "b" * 43 +
                "; Secure; HttpOnly; Path=/lti/; SameSite=None; Partitioned")])
            return [b""]
        if path == "/lti/launch":
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                      ("Content-Length", str(len(PAGE)))])
            return [PAGE]
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "15")])
        return [b'{"status":"ok"}']

    return app
