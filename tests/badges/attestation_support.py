"""A small world for the attestation and privacy tests: a registration with a course and its
activity, a learner with three submitted reflections and an awarded badge, their instructor, and
an instructor of another course; page tokens as a launch would hand them out."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lti_tool import page_token
from lti_tool.cases import service
from lti_tool.cases.loader import get_level
from lti_tool.db import get_session
from lti_tool.launch.registry import add_platform
from lti_tool.models import (
    Attempt,
    Award,
    Course,
    LaunchRecord,
    Learner,
    ReflectionReview,
    ResourceLink,
    Score,
)

NNBSP = "\u202f"
FOOTER = re.compile(r"— (Page) \d+/\d+\s*$")
NAME = "Élodie Côté-Bérubé"
EMAIL = "elodie.cote-berube@cssdesrives.example"
SUB = "moodle-user-4242-élodie"
ANSWERS = {
    "steps": f"Accueillir le dévoilement sans juger{NNBSP}; ne jamais regarder l'image{NNBSP}! "
             "Aviser la direction, joindre le corps de police, documenter les faits, soutenir "
             "l'élève et ses parents. « SEXTO » se suit étape par étape — sans raccourci, "
             "même quand la pression monte dans l'école.",
    "learned": "J'ai appris que le réflexe disciplinaire nuit à l'enquête et que la victime doit "
               "être protégée d'abord. Les trois cas m'ont montré l'importance de la rapidité, "
               "de la confidentialité et de la collaboration avec les policiers du territoire.",
    "delicate": "L'étape la plus délicate est l'accueil du dévoilement : trouver les mots justes, "
                "ne pas promettre le secret, rester calme devant l'élève et ses pairs, et "
                "garder l'image hors de toute circulation pendant que la police intervient.",
}
AWARDED_AT = datetime(2026, 3, 12, 18, 5, tzinfo=UTC)  # 14 h 05 in Quebec (EDT, UTC-4)


@dataclass
class World:
    platform_id: int
    other_platform_id: int
    course_id: int
    other_course_id: int
    link_id: int
    other_link_id: int
    learner_id: int
    instructor_id: int
    other_instructor_id: int
    foreign_instructor_id: int
    foreign_course_id: int
    foreign_link_id: int
    award_id: int | None


def build_world(app: Any, *, award: bool = True, answers: dict[str, str] | None = None,
                issuer: str = "embedded") -> World:
    with app.app_context():
        session = get_session()
        level = get_level(app.extensions["settings"].content_dir)
        platform = add_platform(session, issuer="https://moodle.cssdesrives.example",
                                client_id="client-1", auth_url="https://moodle.example/auth",
                                token_url="https://moodle.example/token",
                                jwks_url="https://moodle.example/jwks",
                                deployment_ids=["1"], name="Moodle")
        foreign = add_platform(session, issuer="https://canvas.example", client_id="client-2",
                               auth_url="https://canvas.example/auth",
                               token_url="https://canvas.example/token",
                               jwks_url="https://canvas.example/jwks", deployment_ids=["9"])
        session.flush()
        course = Course(platform_id=platform.id, context_id="course-1", title="SEXTO",
                        roster=[{"user_id": SUB, "name": NAME, "email": EMAIL,
                                 "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                                 "status": "Active"},
                                {"user_id": "someone-else", "name": "Autre Personne",
                                 "email": "autre@example.org",
                                 "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                                 "status": "Active"}])
        other_course = Course(platform_id=platform.id, context_id="course-2", title="Autre")
        foreign_course = Course(platform_id=foreign.id, context_id="course-1", title="Canvas")
        session.add_all([course, other_course, foreign_course])
        session.flush()
        links = [ResourceLink(platform_id=p.id, deployment_id=p.deployments[0].id, course_id=c.id,
                              resource_link_id=f"rl-{c.id}")
                 for p, c in ((platform, course), (platform, other_course), (foreign, foreign_course))]
        session.add_all(links)
        learner = Learner(platform_id=platform.id, sub=SUB, name=NAME, given_name="Élodie",
                          family_name="Côté-Bérubé", email=EMAIL, locale="fr-CA")
        teacher = Learner(platform_id=platform.id, sub="teacher-1", name="Camille Roy")
        other_teacher = Learner(platform_id=platform.id, sub="teacher-2", name="Autre Prof")
        foreign_teacher = Learner(platform_id=foreign.id, sub="teacher-9", name="Canvas Prof")
        session.add_all([learner, teacher, other_teacher, foreign_teacher])
        session.flush()
        # The learner played in the course's activity (that makes them a member for the instructor).
        attempt = Attempt(learner_id=learner.id, case_id="case-1", number=1,
                          resource_link_id=links[0].id, state={"case_id": "case-1"}, score=0.9,
                          outcome="conforme", passed=True, finished_at=AWARDED_AT)
        session.add(attempt)
        texts = answers or ANSWERS
        result = service.submit_reflections(session, learner.id, level.reflections, texts)
        assert result.ok, result.too_short
        session.add(ReflectionReview(learner_id=learner.id, course_id=course.id,
                                     reviewer_id=teacher.id, status="returned",
                                     comment=f"Précisez l'étape 3, {NAME}."))
        session.add(Score(learner_id=learner.id, resource_link_id=links[0].id,
                          reason="reflections_submitted", score_given=90.0,
                          activity_progress="Completed", grading_progress="FullyGraded",
                          comment="Niveau terminé", timestamp=AWARDED_AT,
                          lms_message=f"user {SUB} ok"))
        session.add(LaunchRecord(id="launch-1", platform_id=platform.id, learner_id=learner.id,
                                 resource_link_id=links[0].id,
                                 message_type="LtiResourceLinkRequest",
                                 claims={"sub": SUB, "name": NAME, "email": EMAIL},
                                 expires_at=datetime(2099, 1, 1, tzinfo=UTC)))
        award_id = None
        if award:
            row = Award(learner_id=learner.id, achievement="architecte", status="awarded",
                        issuer=issuer, issuer_ref="urn:uuid:7f0c1c55-6d8e-4f0e-9a7e-0c5d1b2a3c4d",
                        credential=f"header.{NAME}.sig", awarded_at=AWARDED_AT,
                        organisation_code="css-des-rives")
            session.add(row)
            session.flush()
            award_id = row.id
        session.commit()
        return World(platform.id, foreign.id, course.id, other_course.id, links[0].id, links[1].id,
                     learner.id, teacher.id, other_teacher.id, foreign_teacher.id,
                     foreign_course.id, links[2].id, award_id)


def token(app: Any, *, learner_id: int, platform_id: int, course_id: int | None,
          link_id: int | None, role: str = "learner", locale: str = "fr") -> str:
    with app.app_context():
        return page_token.issue(page_token.Viewer(
            learner_id=learner_id, platform_id=platform_id, resource_link_pk=link_id,
            course_id=course_id, launch_id="launch-x", role=role, locale=locale,
            activity="level"))


def learner_token(app: Any, w: World, locale: str = "fr") -> str:
    return token(app, learner_id=w.learner_id, platform_id=w.platform_id, course_id=w.course_id,
                 link_id=w.link_id, locale=locale)


def instructor_token(app: Any, w: World, locale: str = "fr") -> str:
    return token(app, learner_id=w.instructor_id, platform_id=w.platform_id,
                 course_id=w.course_id, link_id=w.link_id, role="instructor", locale=locale)


def pdf_text(data: bytes) -> tuple[str, int]:
    """The PDF's text with whitespace collapsed (an independent reader: pypdf), and its pages."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    # Each page's footer ("<title> — <learner> — Page n/N") is left out, so a text that runs over
    # a page break reads as one.
    lines = [line for page in reader.pages for line in page.extract_text().splitlines()
             if not FOOTER.search(line)]
    text = "\n".join(lines)
    return " ".join(text.replace(NNBSP, " ").replace("\u00a0", " ").split()), len(reader.pages)


def squash(text: str) -> str:
    return " ".join(text.replace(NNBSP, " ").replace("\u00a0", " ").split())
