"""The AGS client of the outbox: posts a score to a line item, creates a line item when the launch
had none (LTI Assignment and Grade Services 2.0, https://www.imsglobal.org/spec/lti-ags/v2p0).

Every call goes through the tool's guarded HTTP (`lti_tool.http`) with an access token from the
registration's service connector (`launch.wiring.service_connector`), i.e. from stored
registration data: a worker posts long after the launch's id_token expired. The answer is a typed
outcome the outbox acts on, never an exception:

- `Delivered` — 2xx;
- `Superseded` — 409: the LMS already holds a score with this or a newer timestamp (Moodle's rule,
  LTI.md), e.g. the same score stored by a worker that died before recording it; nothing to retry;
- `Retry(after)` — timeout, connection error, 5xx, 429 (with its Retry-After), a token endpoint
  that did not answer or refused, a 401 that persists after the cached token was dropped once;
- `Permanent(status, message)` — 400 (a user who is not gradable), 403, 404 (line item deleted),
  a destination the outbound policy refuses, a registration not trusted for services.

The LMS's message is kept (truncated) for the operator and the instructor; an access token never
appears in a message or a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from pylti1p3.exception import LtiServiceException

from lti_tool import http
from lti_tool.launch.platforms import for_family
from lti_tool.launch.registry import Registration
from lti_tool.launch.service_connector import (
    ServiceNotAllowed,
    ToolServiceConnector,
    token_cache_key,
)

log = logging.getLogger(__name__)

AGS_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_SCORE = AGS_SCOPE + "score"
SCOPE_LINEITEM = AGS_SCOPE + "lineitem"
SCOPE_LINEITEM_READONLY = AGS_SCOPE + "lineitem.readonly"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEM_CONTAINER_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
TOOL_TAG = "sexto-architecte"  # marks the line items the tool created (found again after a crash)
MESSAGE_LIMIT = 500  # characters of the LMS's answer kept on the score and outbox rows

ConnectorFactory = Callable[[Registration], ToolServiceConnector]


# -- outcomes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivered:
    status: int


@dataclass(frozen=True)
class Superseded:
    status: int
    message: str


@dataclass(frozen=True)
class Retry:
    message: str
    status: int | None = None
    after: float | None = None  # the LMS's Retry-After, in seconds


@dataclass(frozen=True)
class Permanent:
    message: str
    status: int | None = None


Outcome = Delivered | Superseded | Retry | Permanent


# -- what is sent --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScorePost:
    """One score as the LMS will see it (from a `Score` row and the learner's `sub`)."""

    user_id: str
    activity_progress: str
    grading_progress: str
    timestamp: str  # ISO 8601 with offset, strictly increasing per learner and line item
    score_given: float | None = None
    score_maximum: float | None = None
    comment: str = ""


def scores_url(lineitem_url: str) -> str:
    """`<lineitem>/scores`, keeping a query string where the LMS put one (AGS §3.4: Moodle's
    line item URLs carry `?type_id=…`)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def score_body(post: ScorePost, family: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "userId": post.user_id,
        "activityProgress": post.activity_progress,
        "gradingProgress": post.grading_progress,
        "timestamp": post.timestamp,
    }
    if post.score_given is not None:
        body["scoreGiven"] = post.score_given
        body["scoreMaximum"] = post.score_maximum if post.score_maximum is not None else 100.0
    if post.comment:
        body["comment"] = post.comment
    body.update(for_family(family).score_extensions(post.activity_progress, post.timestamp))
    return body


def truncate(message: str, limit: int = MESSAGE_LIMIT) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


# -- the client ----------------------------------------------------------------------------------
def _default_connector(registration: Registration) -> ToolServiceConnector:
    from lti_tool.launch.wiring import service_connector

    return service_connector(registration)


class AgsClient:
    """Posts scores and creates line items for registrations; one per worker (connectors are
    kept per registration, their tokens in the app's shared token cache)."""

    def __init__(self, connector: ConnectorFactory = _default_connector,
                 policy: http.OutboundPolicy | None = None) -> None:
        self._connector_factory = connector
        self._connectors: dict[Registration, ToolServiceConnector] = {}
        self.policy = policy

    def _connector(self, registration: Registration) -> ToolServiceConnector:
        connector = self._connectors.get(registration)
        if connector is None:
            connector = self._connectors[registration] = self._connector_factory(registration)
        return connector

    # -- scores ----------------------------------------------------------------------------------
    def post_score(self, registration: Registration, lineitem_url: str, post: ScorePost) -> Outcome:
        body = json.dumps(score_body(post, registration.family))
        result = self._call(registration, [SCOPE_SCORE], "POST", scores_url(lineitem_url),
                            data=body, content_type=SCORE_MEDIA_TYPE)
        if isinstance(result, requests.Response):
            return Delivered(result.status_code)
        return result

    # -- line items ------------------------------------------------------------------------------
    def find_or_create_line_item(self, registration: Registration, lineitems_url: str, *,
                                 label: str, resource_link_id: str,
                                 score_maximum: float = 100.0) -> str | Outcome:
        """The URL of the tool's line item for a resource link: the one an earlier attempt created
        (found by resourceLinkId + tag, so a worker that died after creating it does not add a
        second gradebook column), else a new one."""
        found = self._call(registration, [SCOPE_LINEITEM], "GET", lineitems_url,
                           params={"resource_link_id": resource_link_id, "tag": TOOL_TAG},
                           accept=LINEITEM_CONTAINER_MEDIA_TYPE)
        if isinstance(found, requests.Response):
            try:
                items = found.json()
            except ValueError:
                items = []
            for item in items if isinstance(items, list) else []:
                if (isinstance(item, dict) and item.get("tag") == TOOL_TAG
                        and item.get("resourceLinkId") == resource_link_id
                        and isinstance(item.get("id"), str)):
                    return str(item["id"])
        elif isinstance(found, Retry):
            return found
        # Any other answer to the look-up (a platform without GET filters): create.
        body = json.dumps({"label": label[:255] or "Sexto", "scoreMaximum": score_maximum,
                           "resourceLinkId": resource_link_id, "tag": TOOL_TAG})
        created = self._call(registration, [SCOPE_LINEITEM], "POST", lineitems_url, data=body,
                             content_type=LINEITEM_MEDIA_TYPE)
        if not isinstance(created, requests.Response):
            return created
        try:
            url = created.json().get("id")
        except (ValueError, AttributeError):
            url = None
        if not isinstance(url, str) or not url:
            return Permanent("the LMS created a line item but did not give its URL (id)",
                             created.status_code)
        return url

    # -- one authorised call -------------------------------------------------------------------
    def _call(self, registration: Registration, scopes: Sequence[str], method: str, url: str, *,
              data: str | None = None, params: dict[str, str] | None = None,
              content_type: str | None = None, accept: str | None = None,
              ) -> requests.Response | Outcome:
        try:
            connector = self._connector(registration)
        except ServiceNotAllowed as exc:
            return Permanent(f"registration not trusted for services: {exc.detail or exc}")
        for attempt in (1, 2):
            token = self._token(connector, scopes)
            if not isinstance(token, str):
                return token
            headers = {"Authorization": f"Bearer {token}"}
            if content_type:
                headers["Content-Type"] = content_type
            if accept:
                headers["Accept"] = accept
            try:
                return http.request(method, url, headers=headers, data=data, params=params,
                                    policy=self.policy)
            except http.HttpForbiddenTarget as exc:
                return Permanent(f"refused by the outbound policy: {exc}", exc.status)
            except http.HttpUnavailable as exc:
                return Retry(_answer(exc), exc.status, exc.retry_after)
            except http.HttpRefused as exc:
                if exc.status == 401 and attempt == 1:
                    # The LMS no longer accepts the cached token (revoked, rotated keys): drop it
                    # and ask for a new one, once.
                    self.drop_token(connector, scopes)
                    continue
                if exc.status == 401:
                    return Retry(_answer(exc), 401)
                if exc.status == 409:
                    return Superseded(409, _answer(exc))
                if exc.status is not None and 200 <= exc.status < 300:
                    return Delivered(exc.status)  # stored; only the answer was unreadable
                return Permanent(_answer(exc), exc.status)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _token(connector: ToolServiceConnector, scopes: Sequence[str]) -> str | Outcome:
        try:
            return connector.get_access_token(scopes)
        except http.HttpForbiddenTarget as exc:
            return Permanent(f"token endpoint refused by the outbound policy: {exc}")
        except http.HttpError as exc:
            return Retry(f"token endpoint: {exc}", exc.status, exc.retry_after)
        except requests.RequestException as exc:
            return Retry(f"token endpoint unreachable: {type(exc).__name__}")
        except LtiServiceException as exc:
            # A refused assertion (keys not yet installed, client disabled) is fixed by the
            # LMS's administrator, after which deliveries resume by themselves: retried.
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", None)
            body = truncate(getattr(response, "text", "") or "")
            log.warning("token request refused for %s / %s: %s %s", connector.registration.issuer,
                        connector.registration.client_id, status, body)
            return Retry(f"token endpoint refused ({status}): {body}", status)

    @staticmethod
    def drop_token(connector: ToolServiceConnector, scopes: Sequence[str]) -> None:
        reg = connector.registration
        key = token_cache_key(reg.issuer, reg.client_id, scopes)
        connector.cache.delete(key)


def _answer(exc: http.HttpError) -> str:
    """What the LMS said, for the operator: status and the start of its body (never a token:
    the body is the LMS's, the message names the URL only)."""
    body = truncate(exc.body) if exc.body else ""
    return truncate(f"{exc}: {body}" if body else str(exc))
