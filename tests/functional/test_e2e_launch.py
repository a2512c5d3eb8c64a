"""Whole launches over real HTTP against the independent LTI platform implementation
(lti1p3platform, behind the demo LMS): login → authorize → launch → page. The suite runs on SQLite
and again on PostgreSQL + Redis (LTI_TEST_BACKEND=postgres)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import Course, LaunchRecord, Learner, ResourceLink


def test_learner_launch_reaches_the_level_home(live: Any) -> None:
    trace = live.driver.launch("learner")
    response = trace.response
    assert response.status_code == 200, response.text[:500]
    assert response.url.startswith(live.tool_url + "/level?t=")
    assert 'lang="fr"' in response.text
    with live.app.test_request_context():
        session = get_session()
        learner = session.execute(select(Learner)).scalar_one()
        assert learner.name == "Alex Tremblay"
        assert session.execute(select(Course.title)).scalar_one()
        link = session.execute(select(ResourceLink)).scalar_one()
        assert link.lineitem_url and link.lineitem_url.startswith(live.lms.base_url)
        record = session.execute(select(LaunchRecord)).scalar_one()
        assert record.claims["sub"] == trace.claims["sub"]  # launch data kept server-side


def test_instructor_launch_reaches_the_instructor_page(live: Any) -> None:
    response = live.driver.launch("instructor").response
    assert response.status_code == 200, response.text[:500]
    assert "/instructor?t=" in response.url


def test_english_launch(live: Any) -> None:
    response = live.driver.launch("learner", locale="en").response
    assert response.status_code == 200 and 'lang="en"' in response.text


def test_replay_of_a_real_launch_is_refused(live: Any) -> None:
    trace = live.driver.launch("learner")
    assert trace.response.status_code == 200
    replay = live.driver.replay(trace)
    assert replay.status_code == 400
    assert 'data-error-code="unknown_state"' in replay.text


def test_bad_payloads_from_the_real_platform_are_refused(live: Any) -> None:
    cases = [
        ({"headers": {"kid": None}}, "bad_signature"),
        ({"alg": "none"}, "bad_signature"),
        ({"foreign_key": True}, "bad_signature"),
        ({"claims": {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "unknown-9"}},
         "unknown_deployment"),
        ({"claims": {"https://purl.imsglobal.org/spec/lti/claim/version": None}}, "bad_version"),
        ({"claims": {"sub": None}}, "anonymous"),
    ]
    for overrides, code in cases:
        response = live.driver.launch("learner", **overrides).response
        assert 400 <= response.status_code < 500, (overrides, response.status_code)
        assert f'data-error-code="{code}"' in response.text, (overrides, response.text[:300])


def test_several_roles_and_no_pii(live: Any) -> None:
    response = live.driver.launch("learner", claims={
        "name": None, "given_name": None, "family_name": None, "email": None}).response
    assert response.status_code == 200
