"""Learner data rights (issue 8, item 7; Quebec's Law 25): `lti-tool learner export` holds what was
stored; `lti-tool learner delete` leaves no personal data of that learner in any table (every
column of every table is read back, JSON included), keeps the anonymised aggregates, and revokes
or keeps badges as told; the retention purge that the outbox worker runs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from lti_tool.config import ConfigError, load_settings
from lti_tool.db import Base, get_session, utcnow
from lti_tool.models import (
    Attempt,
    Award,
    Course,
    Learner,
    ReflectionAnswer,
    ReflectionReview,
    ReflectionSubmission,
    Score,
)
from lti_tool.privacy_cli import learner as learner_cli
from tests.badges.attestation_support import ANSWERS, EMAIL, NAME, SUB, build_world, learner_token

ISSUER = "https://moodle.cssdesrives.example"
WHO = ["--issuer", ISSUER, "--client-id", "client-1", "--sub", SUB]
PERSONAL = [NAME, EMAIL, SUB, "Élodie", "Côté-Bérubé", *ANSWERS.values(),
            "Précisez l'étape 3"]  # the instructor's comment on their reflections


def _cli(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(learner_cli, list(args))


def _every_value(app: Any) -> list[tuple[str, str, str]]:
    """(table, column, text) for every non-null value of every table of the schema."""
    found = []
    engine = app.extensions["db_engine"]
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    shown = json.dumps(value, ensure_ascii=False) \
                        if isinstance(value, dict | list) else str(value)
                    found.append((table.name, column, shown))
    return found


def _where(app: Any, needle: str) -> list[tuple[str, str]]:
    return [(t, c) for t, c, v in _every_value(app) if needle in v]


def _snapshot(app: Any) -> list[tuple[str, str, str]]:
    return sorted(_every_value(app))


def test_export_contains_what_was_stored(app) -> None:  # type: ignore[no-untyped-def]
    w = build_world(app)
    result = _cli(app, "export", *WHO)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["registration"] == {"issuer": ISSUER, "client_id": "client-1", "name": "Moodle"}
    assert data["learner"]["id"] == w.learner_id
    assert (data["learner"]["sub"], data["learner"]["name"], data["learner"]["email"]) == (SUB, NAME, EMAIL)
    assert [(a["case_id"], a["score"], a["passed"]) for a in data["attempts"]] == [("case-1", 0.9, True)]
    reflections = {r["question_id"]: r for r in data["reflections"]}
    assert set(reflections) == set(ANSWERS)
    for question, answer in ANSWERS.items():
        assert reflections[question]["submitted_text"] == answer
        assert reflections[question]["draft"] == answer
        assert [s["text"] for s in reflections[question]["submissions"]] == [answer]
    assert [r["comment"] for r in data["reflection_reviews"]] == [f"Précisez l'étape 3, {NAME}."]
    assert [(s["reason"], s["score_given"]) for s in data["scores"]] == [("reflections_submitted", 90.0)]
    assert [(a["status"], a["issuer_ref"]) for a in data["awards"]] == [
        ("awarded", "urn:uuid:7f0c1c55-6d8e-4f0e-9a7e-0c5d1b2a3c4d")]
    assert data["launches"][0]["claims"] == {"sub": SUB, "name": NAME, "email": EMAIL}
    assert [e["member"]["email"] for e in data["class_list_entries"]] == [EMAIL]
    # Nothing of anyone else.
    assert "autre@example.org" not in result.output and "Camille" not in result.output


def test_unknown_learner_or_registration_changes_nothing(app) -> None:  # type: ignore[no-untyped-def]
    build_world(app)
    before = _snapshot(app)
    for args in (["export", "--issuer", ISSUER, "--client-id", "client-1", "--sub", "nobody"],
                 ["delete", "--issuer", ISSUER, "--client-id", "nope", "--sub", SUB, "--revoke-badges"],
                 ["delete", *WHO]):  # neither --revoke-badges nor --keep-badges
        result = _cli(app, *args)
        assert result.exit_code != 0
        assert "nobody" in result.output or "client id" in result.output or "--keep-badges" in result.output
    assert _snapshot(app) == before


def test_delete_revoking_badges_leaves_no_personal_data_anywhere(app, client) -> None:  # type: ignore[no-untyped-def]
    w = build_world(app, issuer="lms")  # the LMS's badge: the tool records the revocation
    html = client.get(f"/attestation?t={learner_token(app, w)}").get_data(as_text=True)
    start = html.index("https://tool.test/badges/attestation/")
    share = html[start:html.index('"', start)].replace("https://tool.test", "")
    assert client.get(share).status_code == 200
    for needle in PERSONAL:  # the scan finds them before
        assert _where(app, needle), needle

    result = _cli(app, "delete", *WHO, "--revoke-badges")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["awards_revoked"] == [w.award_id] and report["reflections_deleted"] == 3

    for needle in PERSONAL:
        assert _where(app, needle) == [], needle
    with app.app_context():
        session = get_session()
        # Aggregates kept, linked to a tombstone that names no one.
        tombstone = session.get(Learner, w.learner_id)
        assert tombstone is not None and tombstone.sub.startswith("erased:")
        assert (tombstone.name, tombstone.email, tombstone.given_name, tombstone.family_name) == (
            None, None, None, None)
        assert session.scalar(select(func.count()).select_from(Attempt).where(
            Attempt.learner_id == w.learner_id, Attempt.score == 0.9)) == 1
        assert session.scalar(select(func.count()).select_from(Score).where(
            Score.learner_id == w.learner_id)) == 1
        for model in (ReflectionAnswer, ReflectionSubmission, ReflectionReview):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        award = session.get(Award, w.award_id)
        assert award is not None and award.status == "revoked" and award.credential is None
        assert award.revocation_reason
        # The class list keeps the other learners.
        course = session.get(Course, w.course_id)
        assert [m["user_id"] for m in course.roster] == ["someone-else"]
    assert client.get(share).status_code == 404  # the employer's link is dead
    # The old page token names an erased learner: it opens nothing personal.
    page = client.get(f"/attestation?t={learner_token(app, w)}")
    assert NAME not in page.get_data(as_text=True)
    assert _cli(app, "export", *WHO).exit_code == 1  # the sub is gone


def test_delete_keeping_badges(app) -> None:  # type: ignore[no-untyped-def]
    w = build_world(app)
    result = _cli(app, "delete", *WHO, "--keep-badges")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["awards_kept"] == [w.award_id]
    with app.app_context():
        award = get_session().get(Award, w.award_id)
        assert award is not None and award.status == "awarded" and award.credential
    # The learner's own signed badge is kept on purpose (it is what they carry); nothing else.
    assert _where(app, NAME) == [("award", "credential")]
    for needle in [EMAIL, SUB, *ANSWERS.values()]:
        assert _where(app, needle) == [], needle


def test_retention_setting() -> None:
    assert load_settings({"LTI_TOOL_ENV": "test"}).reflection_retention_days == 730
    assert load_settings({"LTI_TOOL_ENV": "test",
                          "LTI_TOOL_REFLECTION_RETENTION_DAYS": "0"}).reflection_retention_days == 0
    with pytest.raises(ConfigError, match="LTI_TOOL_REFLECTION_RETENTION_DAYS"):
        load_settings({"LTI_TOOL_ENV": "test", "LTI_TOOL_REFLECTION_RETENTION_DAYS": "two years"})


def test_worker_purges_reflections_of_inactive_learners(app) -> None:  # type: ignore[no-untyped-def]
    from lti_tool.grading.worker import Drainer

    w = build_world(app)
    with app.app_context():
        session = get_session()
        active = Learner(platform_id=w.platform_id, sub="active-1", name="Active")
        session.add(active)
        session.flush()
        session.add(ReflectionAnswer(learner_id=active.id, question_id="steps", draft="récent"))
        session.execute(update(Learner).where(Learner.id == w.learner_id).values(
            last_launch_at=utcnow() - timedelta(days=40)))
        session.commit()
        active_id = active.id

    def answers() -> dict[int, int]:
        with app.app_context():
            rows = get_session().execute(select(ReflectionAnswer.learner_id, func.count())
                                         .group_by(ReflectionAnswer.learner_id))
            return dict(rows.all())

    app.extensions["settings"] = app.extensions["settings"].with_overrides(reflection_retention_days=0)
    Drainer(app).drain(once=True)
    assert answers() == {w.learner_id: 3, active_id: 1}  # 0 keeps everything

    app.extensions["settings"] = app.extensions["settings"].with_overrides(reflection_retention_days=30)
    Drainer(app).drain(once=True)
    assert answers() == {active_id: 1}
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(ReflectionSubmission)) == 0
        assert session.scalar(select(func.count()).select_from(ReflectionReview)) == 0
        # Only reflections go: the learner, their attempts and award stay.
        assert session.get(Learner, w.learner_id).name == NAME
        assert session.scalar(text("SELECT count(*) FROM attempt")) == 1
