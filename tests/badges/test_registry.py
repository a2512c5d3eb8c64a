"""The territory registry on the real database: `lti-tool territory …` and `lti-tool organisation
…` with good and bad input (a refused command exits non-zero, says why and changes nothing), the
agreement history, the starter list, the order in which a learner's organisation is found, and
the facts the rules get from stored progress."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from lti_tool.badges import eligibility, registry
from lti_tool.badges.facts import facts_for
from lti_tool.db import get_session, utcnow
from lti_tool.models import (
    Award,
    Course,
    Deployment,
    Learner,
    OutboxMessage,
    Platform,
    ReflectionReview,
    Territory,
    TerritoryAgreement,
)
from tests.badges.registry_support import (
    CLIENT,
    CONTEXT,
    DEPLOYMENT,
    ISSUER,
    NOW,
    World,
    add_learner,
    build,
    cli,
    level_of,
    snapshot,
)

MAP = ["--issuer", ISSUER, "--client-id", CLIENT]


def _facts(app: Any, learner_id: int, **kw: Any) -> eligibility.Facts:
    with app.app_context():
        return facts_for(get_session(), learner_id, level=level_of(app), now=kw.pop("now", NOW),
                         **kw)


def _ok(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return str(result.output)


def _refused(app: Any, *args: str, says: str) -> None:
    before = snapshot(app)
    result = cli(app, *args)
    assert result.exit_code != 0, result.output
    assert says in result.output, result.output
    assert snapshot(app) == before, "a refused command changed something"


@pytest.fixture
def world(app: Any) -> World:
    return build(app)


@pytest.fixture
def sq(app: Any, world: World) -> World:
    _ok(cli(app, "territory", "add", "sq", "--name", "Territoires de la SQ", "--police",
            "Sûreté du Québec"))
    _ok(cli(app, "organisation", "add", "css-des-rives", "--name", "CSS des Rives",
            "--territory", "sq"))
    return world


# -- territory ---------------------------------------------------------------------------------------


def test_territory_add_and_list_show_status_and_verified_flag(app: Any, world: World) -> None:
    out = _ok(cli(app, "territory", "add", "sq", "--name", "Territoires de la SQ", "--police",
                  "Sûreté du Québec"))
    assert "added territory sq" in out
    listed = _ok(cli(app, "territory", "list"))
    assert "sq  status=none  unverified  concluded_on=-  in_force=no" in listed
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06"))
    assert "status=concluded  unverified  concluded_on=2020-11-06  in_force=no" in _ok(
        cli(app, "territory", "list"))
    out = _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06",
                  "--verified", "--note", "confirmed with the DPCP"))
    assert "verified" in out and "UNVERIFIED" not in out
    listed = _ok(cli(app, "territory", "list"))
    assert "sq  status=concluded  verified  concluded_on=2020-11-06  in_force=yes" in listed
    assert "confirmed with the DPCP" in listed
    _ok(cli(app, "territory", "set-agreement", "sq", "--suspended"))
    rows = json.loads(_ok(cli(app, "territory", "list", "--json")))
    assert rows == [{"code": "sq", "name": "Territoires de la SQ",
                     "police_force": "Sûreté du Québec", "status": "suspended",
                     "concluded_on": "2020-11-06", "verified": False, "in_force": False,
                     "organisations": 0, "note": ""}]
    with app.app_context():  # the history is kept: one row per change, the newest is current
        history = registry.agreement_history(get_session(), get_session().scalar(
            select(Territory.id)))
        assert [(h.status, h.verified) for h in history] == [
            ("concluded", False), ("concluded", True), ("suspended", False)]


@pytest.mark.parametrize("args, says", [
    (["territory", "add", "sq", "--name", "Autre", "--police", "SQ"], "already exists"),
    (["territory", "add", "bad code", "--name", "X", "--police", "Y"], "invalid territory code"),
    (["territory", "add", "x", "--name", " ", "--police", "Y"], "needs a name"),
    (["territory", "add", "x", "--name", "X"], "Missing option '--police'"),
    (["territory", "set-agreement", "nowhere", "--concluded", "2020-01-01", "--verified"],
     "no territory 'nowhere'"),
    (["territory", "set-agreement", "sq", "--concluded", "2020-13-01", "--verified"],
     "invalid date '2020-13-01'"),
    (["territory", "set-agreement", "sq", "--concluded", "6 nov 2020"], "expected YYYY-MM-DD"),
    (["territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified",
      "--suspended"], "--verified and --suspended"),
    (["territory", "set-agreement", "sq", "--suspended", "--concluded", "2020-11-06"],
     "--suspended cannot be combined"),
    (["territory", "set-agreement", "sq", "--verified"], "--verified needs the date"),
    (["territory", "set-agreement", "sq"], "say --concluded"),
    (["organisation", "add", "css-x", "--name", "X", "--territory", "nowhere"],
     "no territory 'nowhere'"),
    (["organisation", "add", "css-des-rives", "--name", "X", "--territory", "sq"],
     "already exists"),
    (["organisation", "add", "css-x", "--name", "X", "--territory", "sq", "--kind", "cegep"],
     "invalid kind"),
    (["organisation", "map", "nope", *MAP], "no organisation 'nope'"),
    (["organisation", "map", "css-des-rives", "--issuer", ISSUER, "--client-id", "other"],
     "no registration"),
    (["organisation", "map", "css-des-rives", *MAP, "--deployment-id", "99"],
     "no deployment '99'"),
    (["organisation", "map", "css-des-rives", *MAP, "--course", "course-404"],
     "no course 'course-404'"),
    (["organisation", "map", "css-des-rives", *MAP, "--deployment-id", DEPLOYMENT, "--course",
      CONTEXT], "not both"),
    (["platform", "allow-organisation-param", "--issuer", ISSUER, "--client-id", "other", "--on"],
     "no registration"),
])
def test_bad_input_is_refused_and_changes_nothing(app: Any, sq: World, args: list[str],
                                                  says: str) -> None:
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06"))
    _refused(app, *args, says=says)


# -- organisations and mappings ----------------------------------------------------------------------


def test_organisation_map_each_level_and_list(app: Any, sq: World) -> None:
    assert "registration" in _ok(cli(app, "organisation", "map", "css-des-rives", *MAP))
    _ok(cli(app, "territory", "add", "laval", "--name", "Laval", "--police", "SPL"))
    _ok(cli(app, "organisation", "add", "css-laval", "--name", "CSS de Laval", "--territory",
            "laval", "--kind", "school_board"))
    assert "deployment 1" in _ok(cli(app, "organisation", "map", "css-laval", *MAP,
                                     "--deployment-id", DEPLOYMENT))
    assert "course course-1" in _ok(cli(app, "organisation", "map", "css-laval", *MAP,
                                        "--course", CONTEXT))
    with app.app_context():
        session = get_session()
        assert session.scalar(select(Platform.organisation_code)) == "css-des-rives"
        assert session.scalar(select(Deployment.organisation_code)) == "css-laval"
        assert session.scalar(select(Course.organisation_code)) == "css-laval"
    listed = _ok(cli(app, "organisation", "list"))
    assert "css-des-rives  css  territory=sq  registrations=1  deployments=0  courses=0" in listed
    assert "css-laval  school_board  territory=laval  registrations=0  deployments=1  courses=1" \
        in listed


def test_the_learners_organisation_most_specific_first(app: Any, sq: World) -> None:
    for code in ("css-course", "css-deploy", "css-reg", "css-launch"):
        _ok(cli(app, "organisation", "add", code, "--name", code, "--territory", "sq"))
    learner = add_learner(app, sq, "u1", organisation="css-launch")

    def resolved() -> tuple[str | None, str | None]:
        f = _facts(app, learner)
        return f.organisation_code, f.organisation_source

    assert resolved() == (None, None)  # the launch's code is ignored: not allowed
    _ok(cli(app, "organisation", "map", "css-reg", *MAP))
    assert resolved() == ("css-reg", "registration")
    _ok(cli(app, "organisation", "map", "css-deploy", *MAP, "--deployment-id", DEPLOYMENT))
    assert resolved() == ("css-deploy", "deployment")
    _ok(cli(app, "organisation", "map", "css-course", *MAP, "--course", CONTEXT))
    assert resolved() == ("css-course", "course")
    _ok(cli(app, "platform", "allow-organisation-param", *MAP, "--on"))
    assert resolved() == ("css-launch", "launch")
    _ok(cli(app, "platform", "allow-organisation-param", *MAP, "--off"))
    assert resolved() == ("css-course", "course")  # switched off: the stored code counts no more


def test_an_unknown_code_named_by_the_launch_is_not_overruled(app: Any, sq: World) -> None:
    _ok(cli(app, "organisation", "map", "css-des-rives", *MAP))
    _ok(cli(app, "platform", "allow-organisation-param", *MAP, "--on"))
    learner = add_learner(app, sq, "u1", organisation="css-inconnu")
    result = eligibility.evaluate(_facts(app, learner))
    assert result.condition("organisation").reason == "organisation_not_registered"  # type: ignore[union-attr]


# -- facts and rules on stored progress --------------------------------------------------------------


def test_stored_progress_gives_each_condition(app: Any, sq: World) -> None:
    _ok(cli(app, "organisation", "map", "css-des-rives", *MAP))
    done = add_learner(app, sq, "done")
    two = add_learner(app, sq, "two-cases", cases=2)
    silent = add_learner(app, sq, "no-reflections", reflections=False)
    assert eligibility.evaluate(_facts(app, done)).unmet == ("no_agreement",)
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified"))
    assert eligibility.evaluate(_facts(app, done)).eligible
    assert eligibility.evaluate(_facts(app, two)).unmet == ("cases_not_passed",
                                                            "reflections_not_submitted")
    assert eligibility.evaluate(_facts(app, silent)).unmet == ("reflections_not_submitted",)
    # In force on the award date, a Quebec calendar date: 2026-03-12 is in force from that day on.
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2026-03-13", "--verified"))
    assert eligibility.evaluate(_facts(app, done)).unmet == ("agreement_not_yet_in_force",)
    assert eligibility.evaluate(_facts(app, done, now=NOW + timedelta(days=1))).eligible


def test_review_must_accept_the_current_submission(app: Any, sq: World) -> None:
    _ok(cli(app, "organisation", "map", "css-des-rives", *MAP))
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified"))
    learner = add_learner(app, sq, "u1")
    with app.app_context():
        session = get_session()
        session.execute(update(Deployment).values(reflection_review=True, require_explorer=True))
        session.commit()
    assert eligibility.evaluate(_facts(app, learner)).unmet == ("reflections_awaiting_review",
                                                                "explorer_missing")
    with app.app_context():
        session = get_session()
        session.add(ReflectionReview(learner_id=learner, course_id=sq.course_id,
                                     status="returned", comment="Précisez", created_at=utcnow()))
        session.commit()
    assert "reflections_returned" in eligibility.evaluate(_facts(app, learner)).unmet
    with app.app_context():
        session = get_session()
        session.add(ReflectionReview(learner_id=learner, course_id=sq.course_id,
                                     status="accepted", created_at=utcnow() + timedelta(seconds=1)))
        session.execute(update(Learner).where(Learner.id == learner)
                        .values(explorer_completed_at=utcnow(), explorer_source="instructor"))
        session.commit()
    assert eligibility.evaluate(_facts(app, learner)).eligible
    # A revision submitted after the acceptance waits for a new review.
    with app.app_context():
        from lti_tool.models import ReflectionAnswer

        session = get_session()
        session.execute(update(ReflectionAnswer).where(ReflectionAnswer.learner_id == learner)
                        .values(submitted_at=utcnow() + timedelta(minutes=5)))
        session.commit()
    assert eligibility.evaluate(_facts(app, learner)).unmet == ("reflections_awaiting_review",)


def test_no_organisation_anywhere_makes_no_one_eligible(app: Any, sq: World) -> None:
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified"))
    learner = add_learner(app, sq, "u1")
    result = eligibility.evaluate(_facts(app, learner))
    assert not result.eligible and result.territory_status == "no_organisation"
    assert result.unmet == ("no_organisation", "territory_unknown")


# -- recording an agreement or a mapping awards the learners who were waiting, once ------------------


def test_set_agreement_and_map_award_the_waiting_learners_once(app: Any, sq: World) -> None:
    waiting = add_learner(app, sq, "waiting")
    unfinished = add_learner(app, sq, "unfinished", cases=2)
    out = _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06",
                  "--verified"))
    assert "newly eligible" not in out  # no organisation mapped yet: no one
    out = _ok(cli(app, "organisation", "map", "css-des-rives", *MAP))
    assert "1 learner(s) newly eligible" in out
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified"))
    _ok(cli(app, "organisation", "map", "css-des-rives", *MAP, "--deployment-id", DEPLOYMENT))
    with app.app_context():
        session = get_session()
        assert session.scalars(select(Award.learner_id)).all() == [waiting]
        assert session.scalar(select(Award.organisation_code)) == "css-des-rives"
        assert session.scalars(select(OutboxMessage.topic)
                               .where(OutboxMessage.topic == "badge.award")).all() == ["badge.award"]
    assert unfinished  # never awarded: two cases only


def test_an_unverified_or_suspended_agreement_awards_no_one(app: Any, sq: World) -> None:
    _ok(cli(app, "organisation", "map", "css-des-rives", *MAP))
    add_learner(app, sq, "u1")
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06"))
    _ok(cli(app, "territory", "set-agreement", "sq", "--suspended"))
    with app.app_context():
        assert get_session().scalar(select(Award.id)) is None


# -- the starter list --------------------------------------------------------------------------------


def test_the_starter_list_loads_unverified_and_makes_no_one_eligible(app: Any,
                                                                     world: World) -> None:
    entries = registry.starter_entries()
    codes = [e.code for e in entries]
    assert {"sq", "montreal", "gatineau", "laval", "saint-jerome", "quebec"} <= set(codes)
    assert all(e.sources for e in entries)
    raw = registry.STARTER_LIST.read_text(encoding="utf-8").split("\nterritories:\n")[1]
    for campaign in ("gardeçapourtoi", "porno", "Richelieu-Saint-Laurent"):
        assert campaign not in raw  # earlier campaigns, not SEXTO: not listed
    out = _ok(cli(app, "territory", "seed"))
    assert f"added {len(entries)} territories (unverified)" in out
    with app.app_context():
        session = get_session()
        agreements = session.scalars(select(TerritoryAgreement)).all()
        assert len(agreements) == len(entries)
        assert all(not a.verified and a.status == "concluded" for a in agreements)
        sq_id = session.scalar(select(Territory.id).where(Territory.code == "sq"))
        assert registry.current_agreement(session, sq_id).concluded_on == date(2020, 11, 6)  # type: ignore[union-attr]
    listed = _ok(cli(app, "territory", "list"))
    assert listed.count("  unverified  ") == len(entries) and "in_force=yes" not in listed
    # A complete learner of an organisation in a seeded territory: not eligible, no award.
    _ok(cli(app, "organisation", "add", "css-des-rives", "--name", "CSS des Rives",
            "--territory", "sq"))
    out = _ok(cli(app, "organisation", "map", "css-des-rives", *MAP))
    assert "newly eligible" not in out
    learner = add_learner(app, world, "u1")
    result = eligibility.evaluate(_facts(app, learner))
    assert result.unmet == ("agreement_unverified",) and result.territory_status == "waiting"
    with app.app_context():
        assert get_session().scalar(select(Award.id)) is None
    # Seeding again keeps what is there (the operator's records win).
    _ok(cli(app, "territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified"))
    again = _ok(cli(app, "territory", "seed"))
    assert "added 0 territories" in again and "kept as they are" in again
    assert "sq  status=concluded  verified" in _ok(cli(app, "territory", "list"))
