"""Gathering the eligibility `Facts` of one learner from the database (issue 8, item 2): the rules
themselves are pure (eligibility.py); this is their only reader of stored state. Reads only.

The context (deployment, course) is the resource link the learner is on, or else the one they last
played on: it says whether reflections are reviewed, whether the Explorer level is required, and
which course and deployment mappings apply to the organisation (registry.resolve_organisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.badges import eligibility, registry
from lti_tool.cases import progress
from lti_tool.cases import service as cases
from lti_tool.cases.model import Level
from lti_tool.models import Attempt, Deployment, Learner, Organisation, ReflectionReview, Territory

# The award date is a Quebec calendar date (the agreements are Quebec dates).
QUEBEC = ZoneInfo("America/Toronto")


def award_date(now: datetime) -> datetime:
    return now.astimezone(QUEBEC)


def facts_for(session: Session, learner_id: int, *, level: Level, now: datetime,
              resource_link_id: int | None = None,
              attempts: Sequence[Attempt] | None = None) -> eligibility.Facts:
    """`resource_link_id`: the link the learner is on (else the one they last played on);
    `attempts`: the learner's attempts when the caller has loaded them already."""
    context = registry.learner_context(session, learner_id, resource_link_id)
    if attempts is None:
        attempts = cases.learner_attempts(session, learner_id)
    passed = progress.level_cases_passed(level.cases, cases.best_states(level, attempts))
    answers = cases.reflection_answers(session, learner_id)
    submitted = [at for q in level.reflections
                 if q.id in answers and (at := answers[q.id].submitted_at) is not None]

    review_on = require_explorer = False
    if context is not None and context.deployment_pk is not None:
        row = session.execute(select(Deployment.reflection_review, Deployment.require_explorer)
                              .where(Deployment.id == context.deployment_pk)).first()
        if row is not None:
            review_on, require_explorer = bool(row[0]), bool(row[1])

    review = None
    if review_on and submitted:
        review = _review_covering(session, learner_id, context, max(submitted))

    resolution = registry.resolve_organisation(session, learner_id, context)
    organisation = territory = None
    if resolution.code:
        organisation = session.scalars(
            select(Organisation).where(Organisation.code == resolution.code)).first()
    if organisation is not None and organisation.territory_id is not None:
        territory = session.get(Territory, organisation.territory_id)
    agreement = (registry.agreement_facts(registry.current_agreement(session, territory.id))
                 if territory is not None else None)
    explorer_at = session.scalar(select(Learner.explorer_completed_at)
                                 .where(Learner.id == learner_id))

    return eligibility.Facts(
        on=award_date(now).date(),
        cases_total=len(level.cases), cases_passed=len(passed),
        reflections_total=len(level.reflections), reflections_submitted=len(submitted),
        review_on=review_on, review=review,
        organisation_code=resolution.code, organisation_known=organisation is not None,
        organisation_name=organisation.name if organisation is not None else None,
        organisation_source=resolution.source,
        territory_code=territory.code if territory is not None else None,
        territory_name=territory.name if territory is not None else None,
        police_force=territory.police_force if territory is not None else None,
        agreement=agreement,
        require_explorer=require_explorer, explorer_completed=explorer_at is not None)


def _review_covering(session: Session, learner_id: int, context: registry.LearnerContext | None,
                     last_submitted: datetime) -> str | None:
    """The newest review's decision when it came after the current submission (a revision
    submitted after an acceptance waits for a new review), in the context's course when known."""
    query = select(ReflectionReview).where(ReflectionReview.learner_id == learner_id)
    if context is not None and context.course_pk is not None:
        query = query.where(ReflectionReview.course_id == context.course_pk)
    newest = session.scalars(query.order_by(ReflectionReview.created_at.desc(),
                                            ReflectionReview.id.desc()).limit(1)).first()
    if newest is None or newest.created_at < last_submitted:
        return None
    return newest.status if newest.status in ("accepted", "returned") else None
