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
    # The first page comes in the launch response (issue 11), its own URL in Content-Location.
    assert response.headers["Content-Location"].startswith("/level?t=")
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
    # Refused before anything is written: without the login's cookie (state not bound to this
    # browser) or with it (nonce already used).
    assert ('data-error-code="state_not_bound"' in replay.text
            or 'data-error-code="nonce_used"' in replay.text)


def test_bad_payloads_from_the_real_platform_are_refused(live: Any) -> None:
    cases = [
        ({"headers": {"kid": None}}, "bad_signature"),
        ({"alg": "none"}, "bad_signature"),
        ({"foreign_key": True}, "bad_signature"),
        (
            {"claims": {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "unknown-9"}},
            "unknown_deployment",
        ),
        ({"claims": {"https://purl.imsglobal.org/spec/lti/claim/version": None}}, "bad_version"),
        ({"claims": {"sub": None}}, "anonymous"),
    ]
    for overrides, code in cases:
        response = live.driver.launch("learner", **overrides).response
        assert 400 <= response.status_code < 500, (overrides, response.status_code)
        assert f'data-error-code="{code}"' in response.text, (overrides, response.text[:300])


def test_several_roles_and_no_pii(live: Any) -> None:
    response = live.driver.launch(
        "learner", claims={"name": None, "given_name": None, "family_name": None, "email": None}
    ).response
    assert response.status_code == 200


def test_deep_linking_round_trip_accepted_by_the_platform(live: Any) -> None:
    """Instructor picks the level and one case; lti1p3platform validates the signed response and
    creates the links, which then launch what was chosen."""
    from tests.support.platform_server import parse_forms

    before = {link["id"] for link in live.driver.state()["resource_links"]}
    picker = live.driver.launch("instructor", deep_linking=True).response
    assert picker.status_code == 200, picker.text[:400]
    form = parse_forms(picker.text, picker.url)[0]
    field = next(name for name in ("activity", "activities") if name in picker.text)
    session = live.driver.session
    answer = session.post(form.action, data={"t": form.fields["t"], field: ["level", "case-2"]})
    assert answer.status_code == 200, answer.text[:400]
    response_form = parse_forms(answer.text, answer.url)[0]
    assert "JWT" in response_form.fields
    accepted = session.post(response_form.action, data=response_form.fields)
    assert accepted.status_code < 400, accepted.text[:400]
    links = [link for link in live.driver.state()["resource_links"]
             if link["id"] not in before]
    activities = sorted(str(link.get("custom", {}).get("sexto_activity")) for link in links)
    assert activities == ["case-2", "level"]
    case_link = next(link for link in links if link["custom"]["sexto_activity"] == "case-2")
    launched = live.driver.launch("learner", resource_link_id=case_link["id"]).response
    assert launched.status_code == 200, launched.text[:300]
    assert "Le groupe" in launched.text and "Une seule personne" not in launched.text
