"""Local HTTP servers that answer like the badge providers' documented APIs (no mocks: the
adapters make real HTTP calls through lti_tool.http to loopback).

- Badgr / badgr-server API v2 (https://api.badgr.io/docs/v2/): `POST /o/token` (password grant,
  tokens of `expires_in` seconds), `POST /v2/badgeclasses/{id}/assertions` (400 "A previous award
  of this badge already exists for this recipient." when `allowDuplicateAwards` is false and the
  recipient has one), `GET …/assertions?recipient=`, `DELETE /v2/assertions/{id}` (needs
  `revocation_reason`), `GET /v2/assertions/{id}`; answers in the v2 envelope
  `{status, result, validationErrors, fieldErrors}`.
- Credly Web Service API v1: HTTP Basic with the organisation token, `POST /v1/organizations/
  {org}/badges` (422 when the recipient already has the template's badge), `GET …/badges?filter=`,
  `PUT …/badges/{id}/revoke`, `GET …/badges/{id}`; answers `{data, metadata}`.
- Open Badge Factory: `POST /v1/client/oauth2/token` (client credentials), `GET /v2/event/{client}
  ?badge_id=&email=`, `POST /v2/event/{client}/{badge}/issue` (201 + Location of the event),
  `PUT /v2/event/{client}/{event}/revoke`, `GET /v2/event/{client}/{event}`.

Each server keeps what it received (`calls`, `bodies`), what it issued, and knobs for the tests:
`fail_next(status, body, retry_after)` answers the next award call with an error,
`expire_tokens()` makes every token handed out so far answer 401.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.support.platform_server import serve_app


@dataclass
class Provider:
    url: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    issued: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.time())
    token_requests: int = 0
    failures: list[tuple[int, Any, str | None]] = field(default_factory=list)
    token_lifetime: int = 86400
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, status: int, body: Any = None, retry_after: str | None = None) -> None:
        self.failures.append((status, body if body is not None else {"error": "boom"}, retry_after))

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {t: 0.0 for t in self.tokens}

    def award_calls(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] == "POST" and not c[1].endswith("token")]

    # -- helpers for the apps -------------------------------------------------------------
    def record(self) -> None:
        with self.lock:
            self.calls.append((request.method, request.path))
            self.bodies.append(request.get_json(silent=True) if request.is_json else request.form.to_dict())

    def new_token(self) -> dict[str, Any]:
        with self.lock:
            self.token_requests += 1
            token = f"tok-{next(self._ids)}"
            self.tokens[token] = time.time() + self.token_lifetime
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime,
                "refresh_token": f"refresh-{token}", "scope": "rw:issuer"}

    def bearer_ok(self) -> bool:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        return self.tokens.get(token, 0.0) > time.time()

    def injected(self) -> Response | None:
        with self.lock:
            if not self.failures:
                return None
            status, body, retry_after = self.failures.pop(0)
        response = jsonify(body)
        response.status_code = status
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"


def _answer(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


# -- Badgr ----------------------------------------------------------------------------------------
USERNAME, PASSWORD, BADGECLASS = "issuer@cssdesrives.example", "s3cret-pass", "K829IK8RS6ercwkpeFOn-Q"


def badgr_app(p: Provider) -> Flask:
    app = Flask("badgr")

    def envelope(result: list[Any], status: int = 200, *, success: bool = True,
                 validation: list[str] | None = None) -> Response:
        return _answer({"status": {"success": success, "description": "ok" if success else "error"},
                        "result": result, "validationErrors": validation or [], "fieldErrors": {}},
                       status)

    def unauthorised() -> Response:
        return _answer({"detail": "Authentication credentials were not provided."}, 401)

    @app.post("/o/token")
    def token() -> Response:
        p.record()
        form = request.form
        if form.get("grant_type") != "password" or form.get("username") != USERNAME \
                or form.get("password") != PASSWORD:
            return _answer({"error": "invalid_grant", "error_description": "Invalid credentials"}, 400)
        return _answer(p.new_token())

    @app.post("/v2/badgeclasses/<bc>/assertions")
    def award(bc: str) -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        failure = p.injected()
        if failure is not None:
            return failure
        if bc != BADGECLASS:
            return envelope([], 404, success=False)
        data = request.get_json(force=True)
        recipient = data.get("recipient") or {}
        if recipient.get("type") != "email" or "@" not in str(recipient.get("identity", "")):
            return envelope([], 400, success=False, validation=["recipient: invalid identity"])
        with p.lock:
            existing = [a for a in p.issued.values()
                        if a["recipient"]["identity"] == recipient["identity"] and not a["revoked"]]
            if existing and data.get("allowDuplicateAwards", True) is False:
                return envelope([], 400, success=False, validation=[
                    "A previous award of this badge already exists for this recipient."])
            entity = p.next_id("assert")
            p.issued[entity] = {"entityId": entity, "badgeclass": bc, "recipient": recipient,
                                "issuedOn": data.get("issuedOn"), "narrative": data.get("narrative"),
                                "evidence": data.get("evidence"), "revoked": False,
                                "revocationReason": None}
            return envelope([p.issued[entity]], 201)

    @app.get("/v2/badgeclasses/<bc>/assertions")
    def find(bc: str) -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        who = request.args.get("recipient")
        return envelope([a for a in p.issued.values()
                         if a["badgeclass"] == bc and a["recipient"]["identity"] == who])

    @app.delete("/v2/assertions/<entity>")
    def revoke(entity: str) -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        assertion = p.issued.get(entity)
        if assertion is None:
            return envelope([], 404, success=False)
        reason = (request.get_json(silent=True) or {}).get("revocation_reason")
        if not reason:
            return envelope([], 400, success=False, validation=["Must provide a revocation reason"])
        if assertion["revoked"]:
            return envelope([], 400, success=False, validation=["Assertion is already revoked."])
        assertion["revoked"], assertion["revocationReason"] = True, reason
        return envelope([])

    @app.get("/v2/assertions/<entity>")
    def show(entity: str) -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        assertion = p.issued.get(entity)
        return envelope([assertion]) if assertion else envelope([], 404, success=False)

    return app


# -- Credly ---------------------------------------------------------------------------------------
ORG, CREDLY_TOKEN, TEMPLATE = "6bb8a6b1-org", "credly-org-token", "tmpl-architecte"


def credly_app(p: Provider) -> Flask:
    app = Flask("credly")
    base = f"/v1/organizations/{ORG}/badges"

    def authorised() -> bool:
        expected = "Basic " + base64.b64encode(f"{CREDLY_TOKEN}:".encode()).decode()
        return request.headers.get("Authorization") == expected

    def unauthorised() -> Response:
        return _answer({"data": {"message": "You are not authorized to perform this action."}}, 401)

    @app.post(base)
    def award() -> Response:
        p.record()
        if not authorised():
            return unauthorised()
        failure = p.injected()
        if failure is not None:
            return failure
        data = request.get_json(force=True)
        missing = [k for k in ("recipient_email", "badge_template_id", "issued_to_first_name",
                               "issued_at") if not data.get(k)]
        if missing:
            return _answer({"data": {"message": f"Missing {', '.join(missing)}"}}, 422)
        if data["badge_template_id"] != TEMPLATE:
            return _answer({"data": {"message": "Badge template not found"}}, 404)
        with p.lock:
            if any(b["recipient_email"] == data["recipient_email"] and b["state"] != "revoked"
                   for b in p.issued.values()):
                return _answer({"data": {"message": "User already has this badge",
                                         "errors": [{"attribute": "recipient_email",
                                                     "messages": ["already has this badge"]}]}},
                               422)
            badge_id = p.next_id("credly-")
            p.issued[badge_id] = {**data, "id": badge_id, "state": "pending"}
            return _answer({"data": p.issued[badge_id], "metadata": {}}, 201)

    @app.get(base)
    def find() -> Response:
        p.record()
        if not authorised():
            return unauthorised()
        filters = dict(part.split("::", 1) for part in request.args.get("filter", "").split("|")
                       if "::" in part)
        found = [b for b in p.issued.values()
                 if b["recipient_email"] == filters.get("recipient_email")
                 and b["badge_template_id"] == filters.get("badge_template_id")]
        return _answer({"data": found, "metadata": {"count": len(found)}})

    @app.put(f"{base}/<badge_id>/revoke")
    def revoke(badge_id: str) -> Response:
        p.record()
        if not authorised():
            return unauthorised()
        badge = p.issued.get(badge_id)
        if badge is None:
            return _answer({"data": {"message": "Not found"}}, 404)
        if not (request.get_json(silent=True) or {}).get("reason"):
            return _answer({"data": {"message": "reason is required"}}, 422)
        badge["state"], badge["revoke_reason"] = "revoked", request.get_json()["reason"]
        return _answer({"data": badge, "metadata": {}})

    @app.get(f"{base}/<badge_id>")
    def show(badge_id: str) -> Response:
        p.record()
        if not authorised():
            return unauthorised()
        badge = p.issued.get(badge_id)
        return _answer({"data": badge}) if badge else _answer({"data": {"message": "Not found"}}, 404)

    return app


# -- Open Badge Factory -----------------------------------------------------------------------------
CLIENT_ID, CLIENT_SECRET, BADGE_ID = "OBFCLIENT1", "obf-secret", "BADGE42"


def obf_app(p: Provider) -> Flask:
    app = Flask("obf")
    events = f"/v2/event/{CLIENT_ID}"

    def unauthorised() -> Response:
        return _answer({"error": "invalid_token"}, 401)

    @app.post("/v1/client/oauth2/token")
    def token() -> Response:
        p.record()
        form = request.form
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != CLIENT_ID \
                or form.get("client_secret") != CLIENT_SECRET:
            return _answer({"error": "invalid_client"}, 401)
        return _answer(p.new_token())

    @app.get(events)
    def find() -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        email = request.args.get("email")
        return _answer([e for e in p.issued.values()
                        if e["badge_id"] == request.args.get("badge_id")
                        and any(r["email"] == email for r in e["recipient"])])

    @app.post(f"{events}/<badge>/issue")
    def award(badge: str) -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        failure = p.injected()
        if failure is not None:
            return failure
        if badge != BADGE_ID:
            return _answer({"error": "badge not found"}, 404)
        data = request.get_json(force=True)
        recipients = data.get("recipient")
        if not (isinstance(recipients, list) and recipients and all("email" in r for r in recipients)):
            return _answer({"error": "recipient: a list of {email, name} is required"}, 400)
        with p.lock:
            event = p.next_id("EV")
            p.issued[event] = {"id": event, "badge_id": badge, "recipient": recipients,
                               "issued_on": data.get("issued_on"), "revoked": False,
                               "evidence": data.get("evidence")}
        response = _answer({"id": event}, 201)
        response.headers["Location"] = f"{p.url}{events}/{event}"
        return response

    @app.put(f"{events}/<event>/revoke")
    def revoke(event: str) -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        found = p.issued.get(event)
        if found is None:
            return _answer({"error": "event not found"}, 404)
        found["revoked"], found["reason"] = True, (request.get_json(silent=True) or {}).get("reason")
        return Response(status=204)

    @app.get(f"{events}/<event>")
    def show(event: str) -> Response:
        p.record()
        if not p.bearer_ok():
            return unauthorised()
        found = p.issued.get(event)
        return _answer(found) if found else _answer({"error": "event not found"}, 404)

    return app


APPS = {"badgr": badgr_app, "credly": credly_app, "obf": obf_app}


def settings_for(name: str, url: str) -> dict[str, Any]:
    """The tool's settings for an adapter pointed at the local server."""
    return {
        "badgr": {"badge_issuer": "badgr", "badgr_url": url, "badgr_username": USERNAME,
                  "badgr_password": PASSWORD, "badgr_badgeclass": BADGECLASS},
        "credly": {"badge_issuer": "credly", "credly_url": url, "credly_org": ORG,
                   "credly_token": CREDLY_TOKEN, "credly_template": TEMPLATE},
        "obf": {"badge_issuer": "obf", "obf_url": url, "obf_client_id": CLIENT_ID,
                "obf_client_secret": CLIENT_SECRET, "obf_badge_id": BADGE_ID},
    }[name]


@contextmanager
def serve(name: str) -> Iterator[Provider]:
    provider = Provider()

    def factory(url: str) -> Flask:
        provider.url = url
        return APPS[name](provider)

    with serve_app(factory) as _url:
        yield provider


# -- the tool's side: an app pointed at a provider, learners, awards, delivery ---------------------

def make_app(database_url: str, redis_url: str | None, keys_dir: Any, tmp: Any,
             **extra: Any) -> Any:
    from lti_tool import create_app
    from tests.conftest import make_settings

    return create_app(make_settings(database_url, redis_url, keys_dir, tmp, **extra))


def close_app(app: Any) -> None:
    from tests import backends
    from tests.conftest import _truncate

    _truncate(app)
    if app.extensions["settings"].redis_url:
        backends.redis_client().flushdb()
    app.extensions["db_engine"].dispose()


def make_learner(app: Any, sub: str = "moodle-user-7", *, email: str | None = "anne.roy@css.example",
                 given: str | None = "Anne", family: str | None = "Roy") -> int:
    from lti_tool.models import Learner, Platform

    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            platform = session.query(Platform).first()
            if platform is None:
                platform = Platform(issuer="https://moodle.css.example", client_id="c1",
                                    auth_url="https://moodle.css.example/auth",
                                    token_url="https://moodle.css.example/token",
                                    jwks_url="https://moodle.css.example/jwks")
                session.add(platform)
                session.flush()
            learner = Learner(platform_id=platform.id, sub=sub, email=email, given_name=given,
                              family_name=family, name=" ".join(x for x in (given, family) if x) or None,
                              locale="fr-CA")
            session.add(learner)
            session.commit()
            return learner.id


def make_award(app: Any, learner_id: int, issuer: str | None = None) -> int:
    """An eligible learner's award, written as `award_if_eligible` writes it (one transaction)."""
    from lti_tool.badges.awards import record_award
    from lti_tool.db import utcnow

    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            award = record_award(session, learner_id, now=utcnow(),
                                 issuer=issuer or app.extensions["settings"].badge_issuer)
            assert award is not None
            session.commit()
            return award.id


def delivery(app: Any) -> Any:
    from lti_tool.badges.delivery import from_app
    from lti_tool.grading.outbox import Backoff

    return from_app(app, backoff=Backoff(multiplier=0.05, maximum=0.3))


def run(app: Any, d: Any | None = None, *, later: bool = False) -> Any:
    """One batch; `later`: as if the backoff had passed (rows due within the hour)."""
    from datetime import timedelta

    from lti_tool.db import utcnow

    with app.app_context():
        return (d or delivery(app)).run_batch(50, due=utcnow() + timedelta(hours=1) if later else None)


def award_row(app: Any, award_id: int) -> Any:
    from lti_tool.models import Award

    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            award = session.get(Award, award_id)
            session.expunge_all()
            return award


def outbox_rows(app: Any) -> list[Any]:
    from sqlalchemy import select

    from lti_tool.models import OutboxMessage

    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "badge.award")
                                        .order_by(OutboxMessage.id)))
            session.expunge_all()
            return rows
