"""Reflection review (issue 7, item 4): where the deployment switches it on
(`Deployment.reflection_review`), an instructor accepts or returns a learner's submitted
reflections with a comment. The decision is a `ReflectionReview` row (the newest per learner and
course is the current one) and a new score for the learner's level link(s) — accepted: Completed /
FullyGraded; returned: InProgress with the comment — written by `grading.service.record_progress`
in the same transaction, so the outbox delivers it. Flushes, never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lti_tool.cases import service as cases_service
from lti_tool.cases.model import Level
from lti_tool.db import utcnow
from lti_tool.errors import AccessDenied, Bilingual, ToolError
from lti_tool.models import Attempt, Learner, ReflectionReview, ResourceLink, Score

Decision = Literal["accepted", "returned"]
MAX_COMMENT = 2_000


class ReviewRefused(ToolError):
    status = 409
    code = "review_refused"
    title = Bilingual("Révision impossible", "Review not possible")


class ReviewOff(AccessDenied):
    code = "review_off"
    title = Bilingual("Révision désactivée", "Review switched off")


class BadReview(ToolError):
    status = 400
    code = "bad_review"


def latest_review(session: Session, learner_id: int, course_id: int | None) -> ReflectionReview | None:
    if course_id is None:
        return None
    return session.scalars(
        select(ReflectionReview)
        .where(ReflectionReview.learner_id == learner_id, ReflectionReview.course_id == course_id)
        .order_by(ReflectionReview.created_at.desc(), ReflectionReview.id.desc()).limit(1)
    ).first()


def review_history(session: Session, learner_id: int, course_id: int) -> list[ReflectionReview]:
    return list(session.scalars(
        select(ReflectionReview)
        .where(ReflectionReview.learner_id == learner_id, ReflectionReview.course_id == course_id)
        .order_by(ReflectionReview.created_at, ReflectionReview.id)))


def returned_comment(session: Session, learner_id: int, course_id: int | None,
                     last_submitted: object) -> ReflectionReview | None:
    """The review the learner should read on the reflections page: the newest, when it returned
    the answers and came after their last submission (a new submission answers it)."""
    review = latest_review(session, learner_id, course_id)
    if review is None or review.status != "returned":
        return None
    if last_submitted is not None and review.created_at < last_submitted:  # type: ignore[operator]
        return None
    return review


def level_links(session: Session, learner_id: int, course_id: int, platform_id: int,
                viewer_link: ResourceLink | None) -> list[int]:
    """The course's whole-level links the learner played or was graded on (the review changes
    their level grade), and the instructor's own link when it is a level link."""
    played = set(session.scalars(
        select(ResourceLink.id).where(
            ResourceLink.course_id == course_id, ResourceLink.platform_id == platform_id,
            ResourceLink.activity == "level",
            or_(ResourceLink.id.in_(select(Attempt.resource_link_id)
                                    .where(Attempt.learner_id == learner_id)),
                ResourceLink.id.in_(select(Score.resource_link_id)
                                    .where(Score.learner_id == learner_id))))))
    if viewer_link is not None and viewer_link.activity == "level":
        played.add(viewer_link.id)
    return sorted(played)


def review_reflections(session: Session, level: Level, *, learner: Learner, course_id: int,
                       reviewer_id: int, decision: str, comment: str,
                       link_ids: Sequence[int]) -> ReflectionReview:
    """Record the decision and the score it causes. Refuses (changing nothing) a decision other
    than accepted/returned, a return without a comment, and answers not submitted."""
    if decision not in ("accepted", "returned"):
        raise BadReview(Bilingual("Choisissez d'accepter ou de retourner les réponses.",
                                  "Choose to accept or to return the answers."),
                        detail=f"review decision {decision[:40]!r}")
    comment = cases_service.normalise_text(comment).strip()
    if len(comment) > MAX_COMMENT:
        raise BadReview(Bilingual(f"Le commentaire ne peut dépasser {MAX_COMMENT} caractères.",
                                  f"The comment cannot exceed {MAX_COMMENT} characters."),
                        detail=f"comment of {len(comment)} characters")
    if decision == "returned" and not comment:
        raise BadReview(Bilingual("Pour retourner les réponses, écrivez un commentaire\u00a0: "
                                  "la personne le lira avant de les réviser.",
                                  "To return the answers, write a comment: the learner reads it "
                                  "before revising them."),
                        detail="returned without a comment")
    answers = cases_service.reflection_answers(session, learner.id)
    if not cases_service.reflections_submitted(level, answers):
        raise ReviewRefused(Bilingual("Cette personne n'a pas encore soumis ses réponses.",
                                      "This learner has not submitted their answers yet."),
                            detail=f"review of learner {learner.id}: nothing submitted")
    review = ReflectionReview(learner_id=learner.id, course_id=course_id, reviewer_id=reviewer_id,
                              status=decision, comment=comment, created_at=utcnow())
    session.add(review)
    session.flush()
    from lti_tool.grading.service import record_progress  # G1's module (the score rules)

    reason = "reflections_accepted" if decision == "accepted" else "reflections_returned"
    for link_id in link_ids:
        record_progress(session, learner_id=learner.id, resource_link_id=link_id, reason=reason,
                        locale=learner.locale or "fr", role="learner", level=level)
    if decision == "accepted":  # accepted reflections may complete the badge's conditions
        from lti_tool.badges.awards import award_if_eligible

        award_if_eligible(session, learner.id, level=level, now=review.created_at)
    return review
