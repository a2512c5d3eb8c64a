"""Issue 8's remaining pieces: `lti-tool demo`'s seeding and the demo LMS's badge list; the Explorer
level recorded by the instructor and by the launch's custom parameter, and the award waiting for
it; the links between the level home, the instructor's page, the attestation and the
verification page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from lti_tool.badges import explorer
from lti_tool.badges.awards import award_if_eligible
from lti_tool.db import get_session
from lti_tool.demo import DemoSettings, create_demo_lms
from lti_tool.demo.badges import DemoBadge
from lti_tool.demo.seed import (
    DEMO_USER_ORGANISATIONS,
    ORGANISATION,
    ORGANISATION_WITHOUT,
    TERRITORY,
    TERRITORY_WITHOUT,
    badge_lister,
    seed_demo,
)
from lti_tool.models import Award, Deployment, Learner, Organisation, Platform, Territory
from lti_tool.models.badges import TerritoryAgreement
from tests.badges import attestation_support as att
from tests.badges.embedded_support import issue_badge
from tests.badges.registry_support import NOW, add_learner, build, cli, level_of, snapshot
from tests.cases.player_support import Player
from tests.support.minted import minted_platform

SEED_TABLES = ("territory", "territory_agreement", "organisation", "platform", "deployment")
EXPLORER_PARAM = {"sexto_explorer_completed": "true"}


def _demo_settings(tmp_path: Path) -> DemoSettings:
    return DemoSettings(base_url="http://127.0.0.1:5001", tool_base_url="http://127.0.0.1:5000",
                        keys_dir=tmp_path / "demo-keys", user_organisations=DEMO_USER_ORGANISATIONS)


def _seed(app: Any, settings: DemoSettings) -> tuple[str, ...]:
    with app.app_context():
        session = get_session()
        seeded = seed_demo(session, settings, now=NOW)
        session.commit()
        return seeded.changes


def _href(html: str, testid: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return unescape(found.group(1)) if found else None


# -- the demo ----------------------------------------------------------------------------------------


def test_demo_seeding_gives_the_whole_path_and_a_second_run_changes_nothing(
        app: Any, tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    assert _seed(app, settings)  # the first run did things
    with app.app_context():
        session = get_session()
        platform = session.scalars(select(Platform).where(Platform.issuer == settings.issuer)).one()
        assert platform.organisation_code == ORGANISATION and platform.organisation_from_launch
        organisation = session.scalars(select(Organisation).where(
            Organisation.code == ORGANISATION)).one()
        territory = session.get(Territory, organisation.territory_id)
        assert territory is not None and territory.code == TERRITORY
        [agreement] = session.scalars(select(TerritoryAgreement).where(
            TerritoryAgreement.territory_id == territory.id)).all()
        assert agreement.status == "concluded" and agreement.verified
        assert agreement.concluded_on is not None and agreement.concluded_on < NOW.date()
        other = session.scalars(select(Organisation).where(
            Organisation.code == ORGANISATION_WITHOUT)).one()
        without = session.get(Territory, other.territory_id)
        assert without is not None and without.code == TERRITORY_WITHOUT
        assert session.scalar(select(func.count()).select_from(TerritoryAgreement).where(
            TerritoryAgreement.territory_id == without.id)) == 0
    before = snapshot_of(app)

    assert _seed(app, settings) == ()

    assert snapshot_of(app) == before


def snapshot_of(app: Any) -> dict[str, Any]:
    rows = snapshot(app)
    return {t: rows[t] for t in SEED_TABLES}


def test_demo_lms_page_lists_the_badges_the_callback_gives(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    bare = create_demo_lms(settings).test_client().get("/").get_data(as_text=True)
    assert 'data-testid="demo-badges"' not in bare  # no callback: no tool code, no section
    assert "Comme Alex (apprenant·e)" in bare and "Comme Jade (apprenant·e)" in bare

    badge = DemoBadge(user_id="demo-user-alex-tremblay", title="Architecte", status="awarded",
                      awarded_at="12 mars 2026", verification_url="https://tool.test/badges/verify/x",
                      png_url="https://tool.test/badges/verify/x/badge.png",
                      attestation_url="https://tool.test/badges/attestation/tok")
    page = create_demo_lms(settings, badges=lambda: {badge.user_id: [badge]}).test_client().get("/")
    html = page.get_data(as_text=True)

    assert page.status_code == 200 and 'data-testid="demo-badges"' in html
    assert _href(html, "badge-verify") == badge.verification_url
    assert _href(html, "badge-png") == badge.png_url
    assert _href(html, "badge-attestation") == badge.attestation_url
    section = html[html.index('data-testid="demo-badges"'):]
    jade = section[section.index('data-user-id="demo-user-jade-morin"'):]
    assert "aucun badge" in jade[:400]


def test_demo_callback_lists_a_real_award_with_working_links(
        app: Any, client: Any, tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    _seed(app, settings)
    issued = issue_badge(app, sub="demo-user-alex-tremblay")
    with app.app_context():  # the award is the demo learner's, on the demo registration
        session = get_session()
        demo = session.scalars(select(Platform).where(Platform.issuer == settings.issuer)).one()
        session.execute(update(Learner).where(Learner.id == issued.learner_id)
                        .values(platform_id=demo.id))
        session.commit()

    html = create_demo_lms(settings, badges=badge_lister(app, settings)).test_client().get(
        "/").get_data(as_text=True)

    links = {k: _href(html, k) for k in ("badge-verify", "badge-png", "badge-attestation")}
    assert all(links.values()), links
    assert links["badge-verify"] == f"http://localhost/badges/verify/{issued.credential_id}" \
        or links["badge-verify"].endswith(f"/badges/verify/{issued.credential_id}")
    for key, url in links.items():
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200, (key, url)
    assert client.get(urlsplit(links["badge-png"]).path).mimetype == "image/png"


def _course_world(app: Any) -> dict[str, Any]:
    """registry_support's course with a learner who played it (real engine states), its
    instructor, and the instructor of another course of the same registration."""
    from lti_tool.models import Course, ResourceLink

    w = build(app)
    learner_id = add_learner(app, w, "learner-1")
    with app.app_context():
        session = get_session()
        teacher = Learner(platform_id=w.platform_id, sub="teacher-1", name="Camille Roy")
        other_teacher = Learner(platform_id=w.platform_id, sub="teacher-2", name="Autre Prof")
        other_course = Course(platform_id=w.platform_id, context_id="course-2", title="Autre")
        session.add_all([teacher, other_teacher, other_course])
        session.flush()
        other_link = ResourceLink(platform_id=w.platform_id, deployment_id=w.deployment_pk,
                                  course_id=other_course.id, resource_link_id="rl-2")
        session.add(other_link)
        session.commit()
        ids = {"teacher": teacher.id, "other_teacher": other_teacher.id,
               "other_course": other_course.id, "other_link": other_link.id}
    return {
        "w": w, "learner_id": learner_id,
        "teacher": att.token(app, learner_id=ids["teacher"], platform_id=w.platform_id,
                             course_id=w.course_id, link_id=w.link_id, role="instructor"),
        "other": att.token(app, learner_id=ids["other_teacher"], platform_id=w.platform_id,
                           course_id=ids["other_course"], link_id=ids["other_link"],
                           role="instructor"),
        "learner": att.token(app, learner_id=learner_id, platform_id=w.platform_id,
                             course_id=w.course_id, link_id=w.link_id),
    }


# -- the Explorer level ------------------------------------------------------------------------------


def _require_explorer(app: Any, on: bool = True) -> None:
    with app.app_context():
        session = get_session()
        session.execute(update(Deployment).values(require_explorer=on))
        session.commit()


def _explorer(app: Any, learner_id: int) -> tuple[datetime | None, str | None]:
    with app.app_context():
        learner = get_session().get(Learner, learner_id)
        assert learner is not None
        return learner.explorer_completed_at, learner.explorer_source


def test_instructor_records_and_undoes_the_explorer_level_only_where_required(
        app: Any, client: Any) -> None:
    c = _course_world(app)
    teacher, learner_id = c["teacher"], c["learner_id"]
    page = client.get(f"/instructor/learners/{learner_id}?t={teacher}").get_data(as_text=True)
    assert 'data-testid="learner-name"' in page
    assert 'data-testid="explorer"' not in page  # not required: no button
    url = f"/instructor/learners/{learner_id}/explorer"
    assert client.post(url, data={"t": teacher, "completed": "1"}).status_code == 403
    assert _explorer(app, learner_id) == (None, None)

    _require_explorer(app)
    page = client.get(f"/instructor/learners/{learner_id}?t={teacher}").get_data(as_text=True)
    assert 'data-testid="explorer-record"' in page and "Niveau Explorateur terminé" in page
    # Another course's instructor, and the learner themself: refused, nothing recorded.
    assert client.post(url, data={"t": c["other"], "completed": "1"}).status_code == 404
    assert client.post(url, data={"t": c["learner"], "completed": "1"}).status_code == 403
    assert client.post(url, data={"t": teacher, "completed": "maybe"}).status_code == 400
    assert _explorer(app, learner_id) == (None, None)

    response = client.post(url, data={"t": teacher, "completed": "1"})
    assert response.status_code == 303
    at, source = _explorer(app, learner_id)
    assert at is not None and source == "instructor"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="explorer-undo"' in page and 'data-completed="true"' in page

    assert client.post(url, data={"t": teacher, "completed": "0"}).status_code == 303
    assert _explorer(app, learner_id) == (None, None)


def test_the_launch_parameter_counts_only_where_the_deployment_requires_the_level(
        app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        Player.launch(client, platform, lti_custom=EXPLORER_PARAM)
        with app.app_context():
            learner_id = get_session().scalar(select(Learner.id).where(Learner.sub == "user-1"))
        assert _explorer(app, learner_id) == (None, None)  # not required: nothing stored

        result = cli(app, "deployment", "explorer", "--issuer", platform.issuer, "--client-id",
                     platform.client_id, "--deployment-id", platform.deployment_id, "--on")
        assert result.exit_code == 0, result.output
        Player.launch(client, platform, lti_custom={"sexto_explorer_completed": "false"})
        assert _explorer(app, learner_id) == (None, None)
        Player.launch(client, platform, lti_custom={"sexto_explorer_completed": "2025-09-02"})
        at, source = _explorer(app, learner_id)
        assert source == "launch" and at is not None
        assert at.astimezone(explorer.QUEBEC).date().isoformat() == "2025-09-02"
        Player.launch(client, platform, lti_custom=EXPLORER_PARAM)  # kept as first recorded
        assert _explorer(app, learner_id) == (at, "launch")


def test_explorer_param_values() -> None:
    now = datetime(2026, 3, 12, 18, 0, tzinfo=UTC)
    assert explorer.explorer_param({"sexto_explorer_completed": " TRUE "}, now) == now
    assert explorer.explorer_param({"sexto_explorer_completed": "1"}, now) == now
    assert explorer.explorer_param({"sexto_explorer_completed": "2026-03-01T09:00:00-05:00"},
                                   now) == datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    for ignored in ("false", "0", "", "$User.explorer", "2026-13-01", "2027-01-01",
                    (now + timedelta(hours=1)).isoformat()):
        assert explorer.explorer_param({"sexto_explorer_completed": ignored}, now) is None
    assert explorer.explorer_param({}, now) is None and explorer.explorer_param(None, now) is None


def test_with_explorer_required_the_award_waits_for_it(app: Any, client: Any) -> None:
    w = build(app)
    for args in (("territory", "add", "sq", "--name", "SQ", "--police", "Sûreté du Québec"),
                 ("organisation", "add", "css-des-rives", "--name", "CSS des Rives",
                  "--territory", "sq"),
                 ("territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified")):
        assert cli(app, *args).exit_code == 0
    _require_explorer(app)
    learner_id = add_learner(app, w, "learner-1", organisation="css-des-rives")
    with app.app_context():
        session = get_session()
        session.execute(update(Platform).values(organisation_from_launch=True))
        session.commit()
        assert award_if_eligible(session, learner_id, level=level_of(app), now=NOW,
                                 issuer="embedded") is None  # everything but the Explorer level
        session.commit()
        assert session.scalar(select(func.count()).select_from(Award)) == 0

    with app.test_request_context():
        session = get_session()
        learner = session.get(Learner, learner_id)
        assert learner is not None
        assert explorer.set_explorer(session, learner, completed=True, now=NOW)
        assert not explorer.set_explorer(session, learner, completed=True, now=NOW)  # once
        session.commit()
        [award] = session.scalars(select(Award)).all()
        assert award.learner_id == learner_id and award.status == "pending"


# -- the links ---------------------------------------------------------------------------------------


def test_level_home_links_the_draft_then_the_awarded_attestation(app: Any, client: Any) -> None:
    w = build(app)
    learner_id = add_learner(app, w, "learner-1")
    unfinished = add_learner(app, w, "learner-2", cases=2)
    token = att.token(app, learner_id=learner_id, platform_id=w.platform_id, course_id=w.course_id,
                      link_id=w.link_id)
    html = client.get(f"/level?t={token}").get_data(as_text=True)
    link = re.search(r'data-testid="attestation-link" data-awarded="(\w+)">\s*<a[^>]*href="([^"]+)"',
                     html)
    assert link is not None and link.group(1) == "false"
    assert "brouillon" in html
    draft = client.get(unescape(link.group(2))).get_data(as_text=True)
    assert 'data-testid="attestation-draft"' in draft

    other = att.token(app, learner_id=unfinished, platform_id=w.platform_id, course_id=w.course_id,
                      link_id=w.link_id)
    assert 'data-testid="attestation-link"' not in client.get(
        f"/level?t={other}").get_data(as_text=True)  # level not done: no link yet

    with app.app_context():
        session = get_session()
        session.add(Award(learner_id=learner_id, achievement="architecte", status="awarded",
                          issuer="embedded", issuer_ref="0b6f5b0e-7d1c-4b8e-9f6a-2d3c4b5a6978",
                          credential="x.y.z", awarded_at=NOW))
        session.commit()
    html = client.get(f"/level?t={token}").get_data(as_text=True)
    assert 'data-testid="attestation-link" data-awarded="true"' in html


def test_instructor_page_links_to_the_learners_attestation(app: Any, client: Any) -> None:
    c = _course_world(app)
    learner_id = c["learner_id"]
    html = client.get(f"/instructor/learners/{learner_id}?t={c['teacher']}").get_data(as_text=True)
    href = _href(html, "learner-attestation")
    assert href is not None and f"/instructor/learners/{learner_id}/attestation?t=" in href
    assert client.get(href).status_code == 200


def test_attestation_and_verification_page_link_each_other_with_the_share_token(
        app: Any, client: Any) -> None:
    issued = issue_badge(app)
    with app.app_context():
        platform_id = get_session().get(Learner, issued.learner_id).platform_id  # type: ignore[union-attr]
    token = att.token(app, learner_id=issued.learner_id, platform_id=platform_id, course_id=None,
                      link_id=None)
    html = client.get(f"/attestation?t={token}").get_data(as_text=True)
    verify = _href(html, "attestation-verify")
    assert verify is not None and f"/badges/verify/{issued.credential_id}?a=" in verify

    page = client.get(urlsplit(verify).path + "?" + urlsplit(verify).query)
    back = _href(page.get_data(as_text=True), "badge-attestation")
    assert page.status_code == 200 and back is not None and "/badges/attestation/" in back
    assert "Voir l'attestation" in page.get_data(as_text=True) or \
        "Voir l&#39;attestation" in page.get_data(as_text=True)
    assert client.get(back).status_code == 200

    plain = client.get(f"/badges/verify/{issued.credential_id}").get_data(as_text=True)
    forged = client.get(f"/badges/verify/{issued.credential_id}?a=forged").get_data(as_text=True)
    assert _href(plain, "badge-attestation") is None and _href(forged, "badge-attestation") is None
