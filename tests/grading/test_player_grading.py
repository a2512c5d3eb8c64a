"""Grading through the real case player (Flask test client, real database): a learner's start,
finished cases and reflections become Score and outbox rows; the level home tells the learner what
was sent to the LMS; instructors previewing and links without AGS send nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lti_tool.models import Course, OutboxMessage, Score
from tests.cases.player_support import Element, Page, Player, best_choices
from tests.support.minted import minted_platform
from tests.support.statements import recorded

AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS = {AGS_CLAIM: {
    "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
              "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
    "lineitems": "https://lms.example.test/course/1/lineitems",
    "lineitem": "https://lms.example.test/course/1/lineitems/7",
}}
INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
NBSP = "\u00a0"


def db(app: Any) -> Session:
    return app.extensions["db_sessionmaker"]()  # type: ignore[no-any-return]


def scores(app: Any) -> list[Score]:
    with db(app) as session:
        return list(session.scalars(select(Score).order_by(Score.timestamp)))


def messages(app: Any) -> list[OutboxMessage]:
    with db(app) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def home(player: Player) -> Page:
    return player.get(f"/level?t={player.token}")


def words(element: Element) -> str:
    """The element's text with runs of ordinary white space collapsed (no-break spaces kept)."""
    return re.sub(r"[ \t\r\n]+", " ", element.raw_text).strip()


def play_worst(app: Any, player: Player, case_id: str) -> None:
    """The lowest-scoring non-critical choice at each decision met, to the ending."""
    from lti_tool.cases.loader import get_level

    case = get_level(app.extensions["settings"].content_dir).cases[case_id]
    while sections := player.page.tree.find_all("section", **{"class": "decision"}):
        decision = case.decision(sections[0].attrs["data-node"])
        player.play([min((c for c in decision.choices if not c.critical),
                         key=lambda c: c.points).id])


GRADING_SQL = re.compile(r"\b(into|from|join|update)\s+(score|outbox|resource_link|deployment)\b"
                         r"|advisory")


def set_delivery(app: Any, score_id: int, **values: Any) -> None:
    with db(app) as session:
        session.execute(update(Score).where(Score.id == score_id).values(**values))
        session.commit()


def statements(app: Any) -> Any:
    """Every SQL statement the app's engine runs inside the block."""
    return recorded(app.extensions["db_engine"])


def test_a_learner_sends_started_then_the_running_grade(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform, **AGS)
    page = player.page
    result = page.tree.find(**{"data-testid": "result"})
    assert result.attrs["data-done"] == "false"
    delivery = page.tree.find(**{"data-testid": "delivery"})
    assert delivery.attrs["data-delivery"] == "none" and "Rien n'a encore été envoyé" in delivery.text
    assert scores(app) == []

    player.start("case-1")
    (started,) = scores(app)
    assert (started.reason, started.activity, started.activity_progress, started.grading_progress,
            started.score_given) == ("started", "level", "Started", "NotReady", None)
    player.play(best_choices(app, "case-1"))
    rows = scores(app)
    assert [(s.reason, s.activity_progress, s.grading_progress, s.score_given) for s in rows] == [
        ("started", "Started", "NotReady", None),
        ("case_completed", "InProgress", "FullyGraded", 33.33)]
    assert rows[1].comment == f"SEXTO — Niveau Architecte{NBSP}: 1 cas réussi sur 3."
    assert rows[0].timestamp < rows[1].timestamp
    (message,) = messages(app)
    assert (message.key, message.ref_id, message.status) == (
        f"{rows[1].learner_id}:{rows[1].resource_link_id}", rows[1].id, "pending")

    page = home(player)
    assert words(page.tree.find(**{"data-testid": "level-score"})) == \
        f"Note du niveau{NBSP}: 33,33 sur 100."
    delivery = page.tree.find(**{"data-testid": "delivery"})
    assert delivery.attrs["data-delivery"] == "pending"
    assert words(delivery) == (f"Note en attente d'envoi à votre plateforme de formation{NBSP}: "
                             "en cours, note de 33,33 sur 100.")
    english = player.get(f"/level?t={player.token}&lang=en")
    assert "Level score: 33.33 out of 100." in english.tree.text
    assert "Grade waiting to be sent to your learning platform: in progress, grade 33.33 out of 100." \
        in english.tree.text


def test_a_step_that_finishes_nothing_touches_no_grading_table(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform, **AGS)
    player.start("case-1")
    choices = best_choices(app, "case-1")
    with statements(app) as seen:
        player.play(choices[:-1])
    grading = [s for s in seen if GRADING_SQL.search(s.lower())]
    assert seen and grading == []
    with statements(app) as seen:
        player.choose(choices[-1])
    assert any("INSERT INTO score" in s for s in seen)


def test_the_completed_level_and_what_the_lms_got(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform, **AGS)
    for case_id in ("case-1", "case-2", "case-3"):
        home(player)
        player.start(case_id)
        player.play(best_choices(app, case_id))
    assert [s.reason for s in scores(app)] == ["started", "case_completed", "case_completed",
                                               "level_completed"]
    page = home(player)
    assert page.tree.find(**{"data-testid": "result"}).attrs["data-done"] == "false"
    player.follow("Répondre aux questions de réflexion")
    texts = {"learned": "appris " * 40, "steps": "étapes " * 40, "delicate": "délicat " * 40}
    player.submit("/reflections", **{f"answer-{q}": t for q, t in texts.items()})
    last = scores(app)[-1]
    assert (last.reason, last.activity_progress, last.grading_progress, last.score_given) == (
        "reflections_submitted", "Completed", "FullyGraded", 100.0)
    assert last.comment.endswith(f"3 cas réussis sur 3{NBSP}; réflexions soumises.")
    (message,) = messages(app)
    assert message.ref_id == last.id

    page = home(player)
    result = page.tree.find(**{"data-testid": "result"})
    assert result.attrs["data-done"] == "true" and result.attrs["data-progress"] == "Completed"
    assert result.find("h2").text == "Niveau terminé"
    assert "Vous avez terminé le niveau" in result.text and "100 sur 100" in result.text

    sent_at = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    set_delivery(app, last.id, delivery="sent", delivered_at=sent_at, lms_status=200)
    delivery = home(player).tree.find(**{"data-testid": "delivery"})
    assert delivery.attrs["data-delivery"] == "sent"
    assert words(delivery) == (f"Note envoyée à votre plateforme de formation le 2 mars 2026, "
                             f"09 h 30{NBSP}: terminé, note de 100 sur 100.")

    set_delivery(app, last.id, delivery="failed", lms_status=400,
                 lms_message="User is not gradable: SECRET-LMS-TEXT")
    page = home(player)
    delivery = page.tree.find(**{"data-testid": "delivery"})
    assert delivery.attrs["data-delivery"] == "failed"
    assert "Note refusée par votre plateforme de formation" in delivery.text
    assert "SECRET-LMS-TEXT" not in page.html and "not gradable" not in page.html


def test_a_single_case_link_grades_that_case_alone(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform, lti_custom={"sexto_activity": "case-2"}, **AGS)
    player.start("case-2")
    play_worst(app, player, "case-2")
    rows = scores(app)
    assert [(s.reason, s.activity, s.activity_progress, s.grading_progress) for s in rows] == [
        ("started", "case-2", "Started", "NotReady"),
        ("case_completed", "case-2", "Completed", "FullyGraded")]
    assert rows[1].score_given is not None and rows[1].score_given < 80
    assert "non réussi" in rows[1].comment
    page = home(player)
    result = page.tree.find(**{"data-testid": "result"})
    assert result.find("h2").text == "Cas terminé" and result.attrs["data-done"] == "true"
    assert "pas encore réussi" in result.text and "meilleur score à ce cas" in result.text
    assert "moyenne" not in result.text and "Note du niveau" not in result.text


def test_an_instructor_preview_writes_no_score(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform, lti_roles=INSTRUCTOR, **AGS)
        player.get(f"/level?t={player.token}")
    assert not player.page.tree.find_all(**{"data-testid": "result"})
    player.start("case-1")
    player.play(best_choices(app, "case-1"))
    assert scores(app) == [] and messages(app) == []


def test_a_link_without_ags_sends_nothing_and_says_so(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    player.play(best_choices(app, "case-1"))
    assert scores(app) == [] and messages(app) == []
    delivery = home(player).tree.find(**{"data-testid": "delivery"})
    assert delivery.attrs["data-delivery"] == "not_gradable"
    assert "ne reçoit pas de notes" in delivery.text


def test_the_launch_keeps_the_nrps_url_on_the_course(app: Any, client: Any) -> None:
    url = "https://lms.example.test/course/1/memberships"
    with minted_platform(app) as platform:
        Player.launch(client, platform, **{NRPS_CLAIM: {"context_memberships_url": url,
                                                        "service_versions": ["2.0"]}})
        with db(app) as session:
            assert session.scalar(select(Course.nrps_url)) == url
        Player.launch(client, platform)  # a launch without the claim does not erase it
        with db(app) as session:
            assert session.scalar(select(Course.nrps_url)) == url
