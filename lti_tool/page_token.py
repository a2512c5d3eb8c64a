"""The page token: after the launch, pages do not depend on third-party cookies; every page and form
carries a short-lived signed token bound to the learner, the registration (platform), the resource
link and the launch. Used by every feature (case player, instructor page, deep linking…).

- Idle lifetime `page_token_ttl`: each page hands out a fresh token, so an active learner never
  runs out; an idle one relaunches from the LMS.
- Absolute lifetime `session_max_age` counted from the launch (carried in the token): the sliding
  refresh never extends a session past it (tokens travel in URLs, which end up in histories and
  logs).
- Tenant binding: every request that reads a token checks, in one primary-key query cached for the
  request, that the learner still exists and belongs to that platform, that the platform is still
  registered and active, and that the resource link and course named belong to it. A removed
  registration's tokens stop working at once; a token can never read a row that reuses its ids.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import current_app, g, request
from sqlalchemy.orm import Session

from lti_tool.db import get_session
from lti_tool.errors import NO_SESSION, AccessDenied, Bilingual, NoSession, SessionExpired

F = TypeVar("F", bound=Callable[..., Any])
PARAM = "t"
HEADER = "X-Page-Token"
ACTIVE = "active"
# A launch time this far in the future is not one we signed at a launch (clock steps aside).
_CLOCK_SKEW = 300


def now() -> int:
    """The one clock of page tokens (signing time, idle and absolute lifetimes)."""
    return int(time.time())


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: what the token carries, nothing else."""

    learner_id: int
    platform_id: int
    resource_link_pk: int | None
    course_id: int | None
    launch_id: str
    role: str
    locale: str
    activity: str
    # When the launch happened (epoch seconds): the start of the absolute session lifetime.
    launched_at: int = field(default_factory=now)

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


@dataclass(frozen=True)
class Identity:
    """Who the page says is signed in (the token's learner, read from the database)."""

    name: str | None
    course: str | None


# The token is `base64url(JSON list).base64url(HMAC-SHA256)`: the Viewer's nine fields, then the
# signing time (for the idle lifetime). A plain HMAC rather than itsdangerous: it runs on every page
# and in the launch, and itsdangerous's serializer layers cost about 70 µs a token (issue 11).
_MAC_BYTES = 20


def _key() -> bytes:
    key = current_app.extensions.get("page_token_key")
    if key is None:
        key = current_app.extensions["page_token_key"] = hmac.new(
            current_app.config["SECRET_KEY"].encode(), b"lti-page-token", hashlib.sha256
        ).digest()
    return key  # type: ignore[no-any-return]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(data: list[Any]) -> str:
    payload = _b64(json.dumps(data, separators=(",", ":")).encode())
    mac = hmac.new(_key(), payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return f"{payload}.{_b64(mac)}"


def _unsign(token: str) -> Any:
    """The signed data, or ValueError (bad shape, bad signature)."""
    payload, _, mac = token.partition(".")
    if not payload or not mac or len(token) > 4096:
        raise ValueError("page token shape")
    expected = hmac.new(_key(), payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    try:
        given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
        if not hmac.compare_digest(given, expected):
            raise ValueError("page token signature")
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("page token encoding") from exc


def unverified_locale(token: str) -> str | None:
    """The locale a token names, its signature not checked: only for choosing the language of the
    page that refuses it (errors.py)."""
    payload = token.partition(".")[0][:4096]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    locale = data[6] if isinstance(data, list) and len(data) > 6 else None  # the order of `issue`
    return locale if locale in ("fr", "en") else None


def issue(viewer: Viewer) -> str:
    return _sign(
        [
            viewer.learner_id,
            viewer.platform_id,
            viewer.resource_link_pk,
            viewer.course_id,
            viewer.launch_id,
            viewer.role,
            viewer.locale,
            viewer.activity,
            viewer.launched_at,
            now(),
        ]
    )


EXPIRED = Bilingual(
    "Votre session dans l'activité a expiré. Relancez-la depuis votre cours\u00a0: "
    "vos réponses enregistrées sont conservées.",
    "Your session in the activity has expired. Launch it again from your course: "
    "your saved answers are kept.",
)
INVALID = Bilingual(
    "Le jeton de session de cette page est invalide. Relancez l'activité depuis votre cours.",
    "This page's session token is not valid. Launch the activity again from your course.",
)
REVOKED = Bilingual(
    "Cette session n'est plus valide\u00a0: la plateforme qui a lancé l'activité ou votre profil "
    "n'est plus inscrit dans l'outil.",
    "This session is no longer valid: the platform that launched the activity, or your profile, "
    "is no longer registered in the tool.",
)
REVOKED_HINT = Bilingual(
    "Relancez l'activité depuis votre cours. Si le problème persiste, communiquez avec "
    "l'administrateur ou l'administratrice de votre plateforme.",
    "Launch the activity again from your course. If the problem persists, contact your "
    "platform's administrator.",
)
NOT_ACTIVE = Bilingual(
    "L'inscription de la plateforme qui a lancé l'activité n'est pas active (en attente "
    "d'approbation ou suspendue).",
    "The registration of the platform that launched the activity is not active (awaiting "
    "approval or suspended).",
)


def read(token: str | None) -> Viewer:
    """The token's Viewer, signature and both lifetimes checked (no database access)."""
    if not token:  # never a session here (a bookmark, a copied address): not "expired"
        raise NoSession(NO_SESSION, detail="no page token")
    settings = current_app.extensions["settings"]
    try:
        data = _unsign(token)
    except ValueError as exc:
        raise SessionExpired(INVALID, detail=str(exc), status=403, code="bad_token") from exc
    # Nine fields and the signing time exactly: a token signed before the launch time was carried
    # has no absolute lifetime and must not be accepted (the default launch time would make it new).
    if (not isinstance(data, list) or len(data) != 10 or not isinstance(data[8], int)
            or not isinstance(data[9], int)):
        raise SessionExpired(INVALID, detail="page token shape", status=403, code="bad_token")
    if now() - data[9] > settings.page_token_ttl:
        raise SessionExpired(EXPIRED, detail="page token expired")
    try:
        viewer = Viewer(*data[:9])
    except TypeError as exc:
        raise SessionExpired(INVALID, detail="page token shape", status=403, code="bad_token") from exc
    age = now() - viewer.launched_at
    if age > settings.session_max_age:
        raise SessionExpired(EXPIRED, detail=f"session older than {settings.session_max_age}s")
    if age < -_CLOCK_SKEW:
        raise SessionExpired(
            INVALID, detail="page token launched in the future", status=403, code="bad_token"
        )
    return viewer


# One primary-key lookup per table (learner, platform, course, resource link), written by hand and
# run on the request's DBAPI connection: it runs before every page, and building a SQLAlchemy
# statement costs more than the query itself (see launch/hot_sql.py).
_BINDING = (
    "SELECT p.status, l.name, l.given_name, l.family_name, c.id, c.title, r.id, p.name "
    "FROM learner l JOIN platform p ON p.id = l.platform_id "
    "LEFT JOIN course c ON c.id = :course AND c.platform_id = l.platform_id "
    "LEFT JOIN resource_link r ON r.id = :link AND r.platform_id = l.platform_id "
    "WHERE l.id = :learner AND l.platform_id = :platform"
)
_BINDING_PG = (
    _BINDING.replace(":course", "%(course)s")
    .replace(":link", "%(link)s")
    .replace(":learner", "%(learner)s")
    .replace(":platform", "%(platform)s")
)


def check_live(session: Session, viewer: Viewer) -> Identity:
    """Refuses the token unless its learner, platform, course and link are still one live tenant.

    Returns what the page shows about who is signed in.
    """
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            _BINDING_PG if postgres else _BINDING,
            {
                "learner": viewer.learner_id,
                "platform": viewer.platform_id,
                "course": viewer.course_id,
                "link": viewer.resource_link_pk,
            },
        )
        row = cursor.fetchone()
    finally:
        cursor.close()
    where = f"learner={viewer.learner_id} platform={viewer.platform_id}"
    if row is None:
        raise SessionExpired(REVOKED, hint=REVOKED_HINT, code="session_revoked",
                             detail=f"page token of a removed learner or registration: {where}")
    status, name, given, family, course_pk, course_title, link_pk, platform_name = row
    if status != ACTIVE:
        raise AccessDenied(NOT_ACTIVE, hint=REVOKED_HINT, code="registration_not_active",
                           detail=f"page token of a {status} registration: {where}")
    if (viewer.course_id is not None and course_pk is None) or (
        viewer.resource_link_pk is not None and link_pk is None
    ):
        raise SessionExpired(
            REVOKED, hint=REVOKED_HINT, code="session_revoked",
            detail=f"page token names a course or link gone from its platform: {where} "
            f"course={viewer.course_id} link={viewer.resource_link_pk}",
        )
    display = name or " ".join(part for part in (given, family) if part) or None
    return Identity(display, course_title or platform_name or None)


def token_from_request() -> str | None:
    return request.values.get(PARAM) or request.headers.get(HEADER)


def require_viewer(view: F) -> F:
    """Decorator: the page needs a valid token of a live tenant; sets `g.viewer`, `g.page_token`
    and `g.identity` (shown in the page header, so a session opened by someone else's link is
    visible)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        viewer = read(token_from_request())
        identity = _identity_for(viewer)
        g.viewer = viewer
        g.identity = identity
        g.locale = (
            request.args.get("lang") if request.args.get("lang") in ("fr", "en") else viewer.locale
        )
        g.page_token = issue(
            viewer
            if g.locale == viewer.locale
            else Viewer(**{**viewer.__dict__, "locale": g.locale})
        )
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _identity_for(viewer: Viewer) -> Identity:
    """`check_live` once per request and viewer (a view may be reached through several checks)."""
    cache: dict[Viewer, Identity] = g.setdefault("page_token_live", {})
    identity = cache.get(viewer)
    if identity is None:
        identity = cache[viewer] = check_live(get_session(), viewer)
    return identity
