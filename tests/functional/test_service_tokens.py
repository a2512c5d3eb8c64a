"""Service calls from stored registration data against the independent platform: the client
assertion verifies against our JWKS, tokens are cached per (issuer, client_id, scopes) — never
shared between two tenants of one issuer — and an AGS score reaches the platform. A registration
that copies the platform's client_id gets no assertion the platform would accept (issue 6,
finding 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pylti1p3.exception import LtiServiceException
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.keys import new_registration_key_set
from lti_tool.launch.registry import Registration, add_platform, find_registration
from lti_tool.launch.service_connector import (
    RedisTokenCache,
    ServiceNotAllowed,
    ToolServiceConnector,
    token_cache_key,
)
from lti_tool.launch.wiring import service_connector
from lti_tool.models import ResourceLink
from tests import backends
from tests.launch.test_service_trust import recording_server, register

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPES = [AGS + "score", AGS + "lineitem"]


def _registration(live: Any, client_id: str | None = None) -> Registration:
    reg = find_registration(get_session(), live.lms.issuer, client_id or live.lms.client_id)
    assert reg is not None
    return reg


def test_token_is_fetched_once_and_a_score_reaches_the_platform(live: Any) -> None:
    assert live.driver.launch("learner").response.status_code == 200
    with live.app.test_request_context():
        connector = service_connector(_registration(live))
        first = connector.get_access_token(SCOPES)
        assert connector.get_access_token(list(reversed(SCOPES))) == first
        assert connector.token_requests == 1
        lineitem = get_session().execute(select(ResourceLink.lineitem_url)).scalar_one()
        score = {
            "userId": _learner_sub(live),
            "scoreGiven": 80,
            "scoreMaximum": 100,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": datetime.now(UTC).isoformat(),
        }
        connector.make_service_request(
            SCOPES,
            lineitem + "/scores",
            is_post=True,
            data=json.dumps(score),
            content_type="application/vnd.ims.lis.v1.score+json",
        )
    received = live.driver.state()["scores"]
    assert [(s["score_given"], s["user_id"]) for s in received] == [(80, score["userId"])], received


def _learner_sub(live: Any) -> str:
    from lti_tool.models import Learner

    return get_session().execute(select(Learner.sub)).scalar_one()


def test_two_tenants_of_one_issuer_never_share_a_token(live: Any) -> None:
    with live.app.test_request_context():
        session = get_session()
        add_platform(
            session,
            issuer=live.lms.issuer,
            client_id="tenant-B",
            auth_url=live.lms.auth_url,
            token_url=live.lms.token_url,
            jwks_url=live.lms.jwks_url,
            deployment_ids=["b-1"],
        )
        session.commit()
        tenant_a = service_connector(_registration(live))
        assert tenant_a.get_access_token(SCOPES)
        tenant_b = service_connector(_registration(live, "tenant-B"))
        # B has no cached token of its own; the platform does not know client "tenant-B" and
        # refuses: A's token is never handed out for B.
        with pytest.raises(LtiServiceException):
            tenant_b.get_access_token(SCOPES)
        assert tenant_b.token_requests == 1
    assert token_cache_key("i", "tenant-A", SCOPES) != token_cache_key("i", "tenant-B", SCOPES)


def test_workers_share_tokens_through_redis(live: Any) -> None:
    client = backends.redis_client()
    client.flushdb()
    with live.app.test_request_context():
        reg = _registration(live)
        keys = live.app.extensions["tool_keys"]
        worker_a = ToolServiceConnector(reg, keys, RedisTokenCache(backends.redis_client()))
        worker_b = ToolServiceConnector(reg, keys, RedisTokenCache(backends.redis_client()))
        token = worker_a.get_access_token(SCOPES)
        assert worker_b.get_access_token(SCOPES) == token
        assert (worker_a.token_requests, worker_b.token_requests) == (1, 0)
    client.flushdb()


def _replay_at_the_platform(live: Any, assertion: str) -> requests.Response:
    """What the holder of a captured assertion does with it: ask the real platform for a token."""
    return requests.post(live.lms.token_url, timeout=10, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": " ".join(SCOPES),
    })


def test_a_copycat_registration_gets_nothing_the_platform_accepts(live: Any, keys_dir: Any) -> None:
    """Finding 6 against the independent platform: a registration that chose the demo LMS's
    client_id, its own token endpoint and the LMS's token URL as `aud` (a) gets no request at all
    while untrusted, and (b) once trusted, with its own key set, receives an assertion that the
    real LMS refuses. Control: the same copycat signing with the shared key would be accepted —
    which is why registrations made by a platform get their own key set."""
    with recording_server() as attacker:
        copy = {"client_id": live.lms.client_id, "token_url": attacker.url + "/token",
                "auth_audience": live.lms.token_url}
        pending = register(live.app, issuer="https://copycat-pending.test", origin="dynamic",
                           status="pending", **copy)
        with live.app.test_request_context(), pytest.raises(ServiceNotAllowed):
            service_connector(pending).get_access_token(SCOPES)
        assert attacker.received == []

        keyed = register(live.app, issuer="https://copycat.test", origin="invitation",
                         key_set=new_registration_key_set(keys_dir), **copy)
        shared = register(live.app, issuer="https://copycat-shared.test", origin="invitation", **copy)
        with live.app.test_request_context():
            service_connector(keyed).get_access_token(SCOPES)
            service_connector(shared).get_access_token(SCOPES)
    own_key_assertion, shared_key_assertion = attacker.assertions

    refused = _replay_at_the_platform(live, own_key_assertion)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    accepted = _replay_at_the_platform(live, shared_key_assertion)
    assert accepted.status_code == 200 and accepted.json()["access_token"], accepted.text
