"""Gathering the eligibility `Facts` of one learner from the database (issue 8, item 2): the rules
themselves are pure (eligibility.py); this is their only reader of stored state. Reads only.

The context (deployment, course) is the resource link the learner is on, or else the one they last
played on: it says whether reflections are reviewed, whether the Explorer level is required, and
which course and deployment mappings apply to the organisation (registry.resolve_organisation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from lti_tool.badges import eligibility, registry
from lti_tool.cases import progress
from lti_tool.cases import service as cases
from lti_tool.cases.model import Level
from lti_tool.db import core_execute
from lti_tool.models import (
    Attempt,
    Organisation,
    ReflectionAnswer,
    ReflectionReview,
    Territory,
    TerritoryAgreement,
)

# The award date is a Quebec calendar date (the agreements are Quebec dates).
QUEBEC = ZoneInfo("America/Toronto")


def award_date(now: datetime) -> datetime:
    return now.astimezone(QUEBEC)


# The organisation, its territory and that territory's current agreement (its newest row), in one
# statement built once: the level home reads it on every visit.
_NEWEST_AGREEMENT = (
    select(TerritoryAgreement.id).where(TerritoryAgreement.territory_id == Territory.id)
    .order_by(TerritoryAgreement.recorded_at.desc(), TerritoryAgreement.id.desc()).limit(1)
    .correlate(Territory).scalar_subquery())
_ORGANISATION = (
    select(Organisation.name, Territory.code, Territory.name, Territory.police_force,
           TerritoryAgreement.status, TerritoryAgreement.concluded_on, TerritoryAgreement.verified)
    .outerjoin(Territory, Territory.id == Organisation.territory_id)
    .outerjoin(TerritoryAgreement, TerritoryAgreement.id == _NEWEST_AGREEMENT)
    .where(Organisation.code == bindparam("code")).limit(1))


def facts_for(session: Session, learner_id: int, *, level: Level, now: datetime,
              resource_link_id: int | None = None,
              attempts: Sequence[Attempt] | None = None,
              answers: Mapping[str, ReflectionAnswer] | None = None) -> eligibility.Facts:
    """`resource_link_id`: the link the learner is on (else the one they last played on);
    `attempts`, `answers`: the learner's attempts and reflection answers when the caller has
    loaded them already."""
    context = registry.learner_context(session, learner_id, resource_link_id)
    if attempts is None:
        attempts = cases.learner_attempts(session, learner_id)
    passed = progress.level_cases_passed(level.cases, cases.best_states(level, attempts))
    if answers is None:
        answers = cases.reflection_answers(session, learner_id)
    submitted = [at for q in level.reflections
                 if q.id in answers and (at := answers[q.id].submitted_at) is not None]

    review_on = context is not None and context.reflection_review
    review = None
    if review_on and submitted:
        review = _review_covering(session, learner_id, context, max(submitted))

    resolution = registry.resolve_organisation(context)
    found = (core_execute(session, _ORGANISATION, {"code": resolution.code}).first()
             if resolution.code else None)
    organisation_name = territory_code = territory_name = police_force = agreement = None
    if found is not None:
        (organisation_name, territory_code, territory_name, police_force, status, concluded_on,
         verified) = found
        if status is not None:  # the territory has an agreement recorded
            agreement = eligibility.Agreement(status, concluded_on, verified)

    return eligibility.Facts(
        on=award_date(now).date(),
        cases_total=len(level.cases), cases_passed=len(passed),
        reflections_total=len(level.reflections), reflections_submitted=len(submitted),
        review_on=review_on, review=review,
        organisation_code=resolution.code, organisation_known=found is not None,
        organisation_name=organisation_name, organisation_source=resolution.source,
        territory_code=territory_code, territory_name=territory_name, police_force=police_force,
        agreement=agreement,
        require_explorer=context is not None and context.require_explorer,
        explorer_completed=context is not None and context.explorer_completed_at is not None)


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
