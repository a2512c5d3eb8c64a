"""Where an instructor's launch lands: a page of their own about the course and the activity.
(Learners land on the level home of the case player, lti_tool/cases/views.py.)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from sqlalchemy import distinct, func, select

from lti_tool.db import get_session
from lti_tool.errors import AccessDenied, Bilingual
from lti_tool.models import Course, Learner, ResourceLink
from lti_tool.models.attempt import Attempt
from lti_tool.page_token import require_viewer

bp = Blueprint("home", __name__)


def _activity_context() -> dict[str, Any]:
    session = get_session()
    viewer = g.viewer
    learner = session.get(Learner, viewer.learner_id)
    course = session.get(Course, viewer.course_id) if viewer.course_id else None
    link = session.get(ResourceLink, viewer.resource_link_pk) if viewer.resource_link_pk else None
    return {"viewer": viewer, "learner": learner, "course": course, "link": link}


@bp.get("/instructor")
@require_viewer
def instructor() -> Any:
    if not g.viewer.is_instructor:
        raise AccessDenied(
            Bilingual(
                "Cette page est réservée aux personnes qui enseignent le cours.",
                "This page is for the course's instructors only.",
            ),
            detail="learner token on the instructor page",
        )
    ctx = _activity_context()
    started = 0
    if ctx["link"] is not None:
        # Learners who played here; instructors previewing the activity have no attempt.
        started = (
            get_session()
            .execute(
                select(func.count(distinct(Attempt.learner_id))).where(
                    Attempt.resource_link_id == ctx["link"].id
                )
            )
            .scalar_one()
        )
    return render_template("home/instructor.html", learners=started, **ctx)
