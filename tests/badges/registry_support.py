"""A small world for the registry and eligibility tests: a registration with a deployment, a course
and a level link; learners whose progress is written as the player writes it (attempts holding the
engine's state after the best choices, reflections submitted through the cases service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from lti_tool.cases import engine, service
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Level
from lti_tool.db import get_session
from lti_tool.launch.registry import add_platform
from lti_tool.models import Attempt, Course, Learner, ResourceLink

ISSUER = "https://moodle.cssdesrives.example"
CLIENT = "client-1"
DEPLOYMENT = "1"
CONTEXT = "course-1"
NOW = datetime(2026, 3, 12, 18, 0, tzinfo=UTC)
ANSWER = ("Accueillir le dévoilement sans juger, ne jamais regarder l'image, aviser la direction, "
          "joindre le corps de police du territoire, documenter les faits et soutenir l'élève "
          "ainsi que ses parents tout au long de la démarche prévue par le protocole SEXTO.")
# Every table the registry commands write: compared before and after a refused command.
TABLES = ("territory", "territory_agreement", "organisation", "platform", "deployment", "course",
          "learner", "award", "outbox")


@dataclass
class World:
    platform_id: int
    deployment_pk: int
    course_id: int
    link_id: int


def level_of(app: Any) -> Level:
    return get_level(app.extensions["settings"].content_dir)


def build(app: Any) -> World:
    with app.app_context():
        session = get_session()
        platform = add_platform(session, issuer=ISSUER, client_id=CLIENT,
                                auth_url="https://moodle.example/auth",
                                token_url="https://moodle.example/token",
                                jwks_url="https://moodle.example/jwks",
                                deployment_ids=[DEPLOYMENT], name="Moodle")
        session.flush()
        course = Course(platform_id=platform.id, context_id=CONTEXT, title="SEXTO")
        session.add(course)
        session.flush()
        link = ResourceLink(platform_id=platform.id, deployment_id=platform.deployments[0].id,
                            course_id=course.id, resource_link_id="rl-1")
        session.add(link)
        session.commit()
        return World(platform.id, platform.deployments[0].id, course.id, link.id)


def add_learner(app: Any, w: World, sub: str, *, cases: int = 3, reflections: bool = True,
                organisation: str | None = None) -> int:
    """A learner who passed `cases` cases (best choices) and, when all are passed and
    `reflections`, submitted the three answers; `organisation`: the code a launch sent."""
    with app.app_context():
        session = get_session()
        level = level_of(app)
        learner = Learner(platform_id=w.platform_id, sub=sub, name=sub, locale="fr-CA",
                          organisation_code=organisation)
        session.add(learner)
        session.flush()
        for case in list(level.cases.values())[:cases]:
            state = engine.replay(case, [d.best.id for d in case.decisions])
            assert engine.passed(case, state)
            session.add(Attempt(learner_id=learner.id, case_id=case.id, number=1,
                                resource_link_id=w.link_id, state=state.to_dict(),
                                score=engine.score(case, state), outcome=engine.outcome(case, state),
                                passed=True, finished_at=NOW))
        session.flush()
        if reflections and cases == len(level.cases):
            result = service.submit_reflections(session, learner.id, level.reflections,
                                                {q.id: ANSWER for q in level.reflections})
            assert result.ok, result.too_short
        session.commit()
        return learner.id


def snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    engine_ = app.extensions["db_engine"]
    with engine_.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
                for t in TABLES}


def cli(app: Any, *args: str) -> Any:
    from lti_tool.cli import main

    return app.test_cli_runner().invoke(main, list(args))
