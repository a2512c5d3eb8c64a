"""The issuer interface (issue 8, item 3; ../shared/docs/BADGES.md "Issuer adapters").

Every adapter — `embedded`, `badgr`, `credly`, `obf`, `lms`, `none` — answers three calls:
`award(award, recipient) -> IssueResult`, `revoke(award, reason)`, `status(award)`. They raise
two kinds of error, the way `lti_tool.http` does: `IssuerUnavailable` (5xx, 429, a timeout, an
expired token that could not be renewed now: the outbox tries again with backoff, never before
`retry_after`) and `IssuerRefused` (a 4xx, a learner without an email: recorded on the award with
the issuer's message, not retried until an operator says so). Messages never carry a remote body
(an operator reads them; the body goes to the log).

The adapters receive snapshots (`AwardInfo`, `Recipient`), not ORM rows: the delivery calls them
outside any database transaction, so a slow issuer holds no lock.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from lti_tool import http

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 1000


class IssuerError(Exception):
    """An issuer call failed; `status` is the provider's HTTP status when there was one."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message[:MESSAGE_LIMIT])
        self.message = message[:MESSAGE_LIMIT]
        self.status = status
        self.retry_after = retry_after


class IssuerUnavailable(IssuerError):
    """Try again later (with backoff, not before `retry_after` seconds)."""

    retryable = True


class IssuerRefused(IssuerError):
    """Permanent: recorded on the award (status failed) with the message; an operator decides."""


@dataclass(frozen=True)
class Recipient:
    """Who receives the badge, as the platform shared them (LTI claims)."""

    learner_id: int
    sub: str
    email: str | None
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None
    locale: str = "fr"

    def require_email(self, issuer: str) -> str:
        """An external badge is addressed to an email; without one it can never be issued."""
        if not self.email or "@" not in self.email:
            raise IssuerRefused(
                f"the learner has no email address (the LMS did not share it): the {issuer} "
                "issuer addresses badges by email; have the platform share the email "
                "(LTI privacy settings), relaunch, then `lti-tool awards retry`")
        return self.email.strip()

    def names(self) -> tuple[str, str]:
        """(first, last), from the claims the platform sent; a full name split when only it came."""
        first, last = (self.given_name or "").strip(), (self.family_name or "").strip()
        if not (first or last) and self.name:
            parts = self.name.strip().split(" ", 1)
            first, last = parts[0], parts[1] if len(parts) > 1 else ""
        return first, last


@dataclass(frozen=True)
class AwardInfo:
    """What an adapter needs of an `Award` row."""

    id: int
    learner_id: int
    achievement: str
    issuer: str
    issuer_ref: str | None
    eligible_at: datetime
    awarded_at: datetime | None
    # An access-controlled page of the tool (the learner's attestation link) and a short
    # narrative: never the learner's reflection text (BADGES.md).
    evidence_url: str
    narrative: str

    @classmethod
    def of(cls, award: Any, *, evidence_url: str, narrative: str) -> AwardInfo:
        return cls(id=award.id, learner_id=award.learner_id, achievement=award.achievement,
                   issuer=award.issuer, issuer_ref=award.issuer_ref, eligible_at=award.eligible_at,
                   awarded_at=award.awarded_at, evidence_url=evidence_url, narrative=narrative)


@dataclass(frozen=True)
class IssueResult:
    """An issued badge: the provider's id (look-up, revocation), the credential for `embedded`."""

    issuer_ref: str | None
    awarded_at: datetime | None = None
    credential: str | None = None
    note: str = ""  # e.g. "already awarded (found by look-up)", "awarded by the LMS"


class Issuer(Protocol):
    name: str

    def award(self, award: AwardInfo, recipient: Recipient) -> IssueResult: ...

    def revoke(self, award: AwardInfo, reason: str) -> None: ...

    def status(self, award: AwardInfo) -> str:
        """"awarded", "revoked" or "unknown", as the issuer sees it."""
        ...


# -- helpers for the HTTP adapters ----------------------------------------------------------------
def call(method: str, url: str, **kwargs: Any) -> Any:
    """One guarded call (`lti_tool.http`) whose errors become issuer errors; the body is logged,
    never put in the message."""
    try:
        return http.request(method, url, **kwargs)
    except http.HttpUnavailable as exc:
        log.warning("badge issuer %s %s unavailable: %s %s", method, url, exc.status, exc.body[:500])
        raise IssuerUnavailable(str(exc), status=exc.status, retry_after=exc.retry_after) from exc
    except http.HttpRefused as exc:
        log.warning("badge issuer %s %s refused: %s %s", method, url, exc.status, exc.body[:500])
        raise  # the adapter reads the status and body (duplicate, 401) before giving up


def refused(exc: http.HttpRefused, what: str) -> IssuerRefused:
    """A permanent refusal, with the provider's own words where it gave some (for the operator)."""
    return IssuerRefused(f"{what}: {exc.status or ''} {provider_message(exc.body)}".strip(),
                         status=exc.status)


def provider_message(body: str) -> str:
    """The provider's error text from a JSON body (first 300 characters), else nothing: it is
    shown to the operator, not to learners."""
    from lti_tool import safe_json

    try:
        data = safe_json.loads(body)
    except ValueError:
        return ""
    found: list[str] = []

    def walk(value: Any) -> None:
        if len(found) >= 3:
            return
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for key in ("message", "description", "error_description", "error", "detail",
                        "validationErrors", "fieldErrors", "errors", "status", "data"):
                if key in value:
                    walk(value[key])
    walk(data)
    return "; ".join(found)[:300]


class TokenStore:
    """Access tokens per issuer account, with their expiry: in Redis when the tool has one (all
    workers share a token), else in this process. Entries are dropped `margin` seconds before
    the provider's expiry, so a token is renewed before it expires rather than refused mid-call."""

    prefix = "lti:badge-token:"

    def __init__(self, redis_client: Any | None = None, *, margin: float = 300.0) -> None:
        self.redis = redis_client
        self.margin = margin
        self._memory: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        if self.redis is not None:
            value = self.redis.get(self.prefix + key)
            return value.decode() if isinstance(value, bytes) else value
        with self._lock:
            entry = self._memory.get(key)
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def put(self, key: str, token: str, expires_in: float | None) -> None:
        lifetime = float(expires_in) if expires_in else 3600.0
        # A short-lived token is still used once: never a negative or zero lifetime.
        ttl = max(1.0, lifetime - self.margin) if lifetime > self.margin else max(1.0, lifetime / 2)
        if self.redis is not None:
            self.redis.set(self.prefix + key, token, px=int(ttl * 1000))
            return
        with self._lock:
            self._memory[key] = (token, time.time() + ttl)

    def drop(self, key: str) -> None:
        if self.redis is not None:
            self.redis.delete(self.prefix + key)
            return
        with self._lock:
            self._memory.pop(key, None)


def account_key(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
