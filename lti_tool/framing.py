"""Who may frame the tool's pages: `Content-Security-Policy: frame-ancestors`, never `*`.

The tool lives in LMS iframes, so it cannot forbid framing; it allows only the platform a page
belongs to (CSP Level 3 §7.7, https://www.w3.org/TR/CSP3/#directive-frame-ancestors):
- a page behind a page token: the origins of the learner's launch — the registration's issuer and
  authorization endpoint, and the launch's `return_url` (Canvas serves courses from the customer's
  own domain, not from its issuer https://canvas.instructure.com);
- a page that knows its registration (the Platform Storage login and launch pages): that
  registration's origins, set by the view with `allow()`;
- anything else (errors before a registration is known, the configuration pages): the origins of
  every active registration.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g
from sqlalchemy import text

from lti_tool.db import get_session

BASE_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
               "form-action *")
_LAUNCH_CACHE_MAX = 10_000


def origin(url: str | None) -> str | None:
    """scheme://host[:port] of an http(s) URL, else None (never a wildcard or a bare scheme)."""
    if not url or not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    if any(ch in parts.netloc for ch in " ;,'\"*"):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def allow(urls: Iterable[str | None]) -> None:
    """For this response: the page may be framed by these URLs' origins (and by the tool)."""
    g.frame_origins = sorted({o for o in (origin(u) for u in urls) if o})


def _launch_origins(launch_id: str) -> list[str]:
    cache: dict[str, list[str]] = current_app.extensions.setdefault("frame_origins_by_launch", {})
    found = cache.get(launch_id)
    if found is not None:
        return found
    row = get_session().execute(
        text("SELECT p.issuer, p.auth_url, r.claims FROM launch_record r "
             "JOIN platform p ON p.id = r.platform_id WHERE r.id = :id"),
        {"id": launch_id},
    ).first()
    if row is None:
        return []  # launch data purged: the page token has outlived it and will be refused
    claims = json.loads(row[2]) if isinstance(row[2], str | bytes) else row[2]
    presentation = claims.get("https://purl.imsglobal.org/spec/lti/claim/launch_presentation")
    return_url = presentation.get("return_url") if isinstance(presentation, dict) else None
    found = sorted({o for o in (origin(row[0]), origin(row[1]), origin(return_url)) if o})
    if len(cache) >= _LAUNCH_CACHE_MAX:
        cache.clear()
    cache[launch_id] = found  # a launch's origins never change: safe to keep
    return found


def _registered_origins() -> list[str]:
    """Not cached: these pages are off the hot path, and a platform registered a second ago must
    be able to frame them (another worker may have registered it)."""
    rows = get_session().execute(
        text("SELECT issuer, auth_url FROM platform WHERE status = 'active'")
    ).all()
    return sorted({o for row in rows for o in (origin(row[0]), origin(row[1])) if o})


def frame_ancestors() -> str:
    origins = g.get("frame_origins")
    if origins is None:
        viewer = g.get("viewer")
        origins = _launch_origins(viewer.launch_id) if viewer is not None else _registered_origins()
    return " ".join(["'self'", *origins])


def unframed_headers(response: Any) -> Any:
    """JSON, scripts, styles, redirects (never rendered): nothing to frame. Also what the hot path
    (launch/hot_path.py) sets on the login's redirect, which does not go through Flask."""
    response.headers["Content-Security-Policy"] = f"{BASE_POLICY}; frame-ancestors 'none'"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def security_headers(response: Any) -> Any:
    """Every response's framing and hardening headers (an `after_request` hook; the hot path,
    launch/hot_path.py, calls it on the responses it makes without Flask)."""
    if "Content-Security-Policy" in response.headers:
        pass
    elif response.mimetype != "text/html" or 300 <= response.status_code < 400:
        unframed_headers(response)
    else:
        try:
            ancestors = frame_ancestors()
        except Exception:  # the database is down: the page is an error page anyway
            current_app.logger.warning("frame-ancestors: origins unavailable", exc_info=True)
            ancestors = "'self'"
        response.headers["Content-Security-Policy"] = (
            f"{BASE_POLICY}; frame-ancestors {ancestors}"
        )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def init_app(app: Flask) -> None:
    app.after_request(security_headers)
