"""After the launch, pages do not depend on third-party cookies: every page and form carries a
short-lived signed token bound to the learner, the resource link and the launch. Each page hands out
a fresh token, so an active learner never runs out; an idle one relaunches from the LMS.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lti_tool.errors import Bilingual, SessionExpired

F = TypeVar("F", bound=Callable[..., Any])
PARAM = "t"
HEADER = "X-Page-Token"


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

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


def _serializer() -> URLSafeTimedSerializer:
    ser = current_app.extensions.get("page_token_serializer")
    if ser is None:
        ser = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="lti-page-token")
        current_app.extensions["page_token_serializer"] = ser
    return ser


def issue(viewer: Viewer) -> str:
    return _serializer().dumps(
        [
            viewer.learner_id,
            viewer.platform_id,
            viewer.resource_link_pk,
            viewer.course_id,
            viewer.launch_id,
            viewer.role,
            viewer.locale,
            viewer.activity,
        ]
    )


EXPIRED = Bilingual(
    "Votre session dans l'activité a expiré. Relancez-la depuis votre cours : "
    "vos réponses enregistrées sont conservées.",
    "Your session in the activity has expired. Launch it again from your course: "
    "your saved answers are kept.",
)
INVALID = Bilingual(
    "Le jeton de session de cette page est invalide. Relancez l'activité depuis votre cours.",
    "This page's session token is not valid. Launch the activity again from your course.",
)


def read(token: str | None) -> Viewer:
    if not token:
        raise SessionExpired(EXPIRED, detail="no page token")
    ttl = current_app.extensions["settings"].page_token_ttl
    try:
        data = _serializer().loads(token, max_age=ttl)
    except SignatureExpired as exc:
        raise SessionExpired(EXPIRED, detail="page token expired") from exc
    except BadSignature as exc:
        raise SessionExpired(
            INVALID, detail="page token signature invalid", status=403, code="bad_token"
        ) from exc
    try:
        return Viewer(*data)
    except TypeError as exc:
        raise SessionExpired(
            INVALID, detail="page token shape", status=403, code="bad_token"
        ) from exc


def token_from_request() -> str | None:
    return request.values.get(PARAM) or request.headers.get(HEADER)


def require_viewer(view: F) -> F:
    """Decorator: the page needs a valid token; `g.viewer` and `g.page_token` are set."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        viewer = read(token_from_request())
        g.viewer = viewer
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
