"""Learner data rights under Quebec's Law 25 (issue 8, item 7): export, delete, retention.

- `export_learner`: everything the tool holds about one learner (found by registration and `sub`)
  as JSON-ready data — the learner row, attempts with their events, reflection answers (drafts and
  every submitted version) and the instructors' reviews, scores with their delivery, outbox rows
  that carry them, awards, launch records (the claims the LMS sent) and the learner's entries in
  cached class lists.
- `delete_learner`: removes the learner's personal data and reflections and keeps anonymised
  aggregates. What we chose: the learner row stays as a *tombstone* — `sub` replaced by a random
  `erased:` id, name, email, locale and Explorer record cleared — so attempt scores and outcomes,
  scores sent and award counts still add up in the statistics but point to no one; every free text
  is deleted (reflection drafts, submissions, reviews of their reflections with their comments), so
  are launch records (claims: name, email, roles), pending logins naming them, their entries in
  cached class lists, and the LMS's or issuer's messages stored with their scores and awards (those
  echo user ids). Awarded badges are revoked or kept, as the operator says (`revoke_badges`): a
  revoked badge keeps its row, status `revoked`, so the status list keeps answering "revoked", and
  its credential is dropped; a kept badge keeps its credential so the learner's copy still verifies.
  A new launch with the old `sub` starts a new, empty learner.
- `purge_inactive_reflections`: reflections of learners with no launch for longer than the
  retention period (`LTI_TOOL_REFLECTION_RETENTION_DAYS`, 0 = keep) are deleted; the outbox
  worker calls it now and then.

Services in the house style: they take the session, flush, never commit.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, inspect, select, update
from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.models import (
    Attempt,
    AttemptEvent,
    Award,
    Course,
    LaunchRecord,
    Learner,
    LoginState,
    OutboxMessage,
    Platform,
    ReflectionAnswer,
    ReflectionReview,
    ReflectionSubmission,
    Score,
)

log = logging.getLogger(__name__)

ERASED_PREFIX = "erased:"
EXPORT_FORMAT = "sexto-architect.learner-export.v1"


class LearnerNotFound(LookupError):
    """No learner with that `sub` on that registration (or no such registration)."""


# --- finding the learner ------------------------------------------------------------------------


def find_learner(session: Session, *, issuer: str, client_id: str, sub: str) -> Learner:
    platform = session.scalars(select(Platform).where(
        Platform.issuer == issuer, Platform.client_id == client_id)).first()
    if platform is None:
        raise LearnerNotFound(f"no registration for issuer {issuer!r} and client id {client_id!r}")
    learner = session.scalars(select(Learner).where(
        Learner.platform_id == platform.id, Learner.sub == sub)).first()
    if learner is None:
        raise LearnerNotFound(f"no learner with sub {sub!r} on that registration")
    return learner


# --- export -------------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_dict(row: Any) -> dict[str, Any]:
    """Every mapped column of a row, JSON-ready."""
    return {attr.key: _value(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs}


def export_learner(session: Session, learner: Learner) -> dict[str, Any]:
    platform = session.get(Platform, learner.platform_id)
    attempts = list(session.scalars(select(Attempt).where(Attempt.learner_id == learner.id)
                                    .order_by(Attempt.case_id, Attempt.number)))
    events: dict[int, list[AttemptEvent]] = {}
    if attempts:
        for event in session.scalars(select(AttemptEvent).where(
                AttemptEvent.attempt_id.in_([a.id for a in attempts]))
                .order_by(AttemptEvent.attempt_id, AttemptEvent.seq)):
            events.setdefault(event.attempt_id, []).append(event)
    answers = list(session.scalars(select(ReflectionAnswer).where(
        ReflectionAnswer.learner_id == learner.id).order_by(ReflectionAnswer.question_id)))
    submissions: dict[int, list[ReflectionSubmission]] = {}
    if answers:
        for sub in session.scalars(select(ReflectionSubmission).where(
                ReflectionSubmission.answer_id.in_([a.id for a in answers]))
                .order_by(ReflectionSubmission.submitted_at, ReflectionSubmission.id)):
            submissions.setdefault(sub.answer_id, []).append(sub)
    reviews = session.scalars(select(ReflectionReview).where(
        ReflectionReview.learner_id == learner.id).order_by(ReflectionReview.created_at))
    reviews_written = session.scalars(select(ReflectionReview).where(
        ReflectionReview.reviewer_id == learner.id).order_by(ReflectionReview.created_at))
    scores = list(session.scalars(select(Score).where(Score.learner_id == learner.id)
                                  .order_by(Score.timestamp, Score.id)))
    awards = list(session.scalars(select(Award).where(Award.learner_id == learner.id)
                                  .order_by(Award.id)))
    launches = session.scalars(select(LaunchRecord).where(LaunchRecord.learner_id == learner.id)
                               .order_by(LaunchRecord.created_at))
    return {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "registration": {"issuer": platform.issuer if platform else None,
                         "client_id": platform.client_id if platform else None,
                         "name": platform.name if platform else None},
        "learner": row_dict(learner),
        "attempts": [{**row_dict(a), "events": [row_dict(e) for e in events.get(a.id, [])]}
                     for a in attempts],
        "reflections": [{**row_dict(a), "submissions": [row_dict(s) for s in submissions.get(a.id, [])]}
                        for a in answers],
        "reflection_reviews": [row_dict(r) for r in reviews],
        "reflection_reviews_written": [row_dict(r) for r in reviews_written],
        "scores": [row_dict(s) for s in scores],
        "deliveries": [row_dict(m) for m in _outbox_rows(session, scores, awards)],
        "awards": [row_dict(a) for a in awards],
        "launches": [row_dict(r) for r in launches],
        "class_list_entries": [{"course_id": course.id, "context_id": course.context_id,
                                "member": member}
                               for course, member in _roster_entries(session, learner)],
    }


def _outbox_rows(session: Session, scores: list[Score], awards: list[Award]) -> list[OutboxMessage]:
    rows: list[OutboxMessage] = []
    if scores:
        rows += session.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "ags.score", OutboxMessage.ref_id.in_([s.id for s in scores])))
    if awards:
        rows += session.scalars(select(OutboxMessage).where(
            OutboxMessage.topic.like("badge.%"), OutboxMessage.ref_id.in_([a.id for a in awards])))
    return rows


def _is_member(member: Any, learner: Learner) -> bool:
    return isinstance(member, dict) and member.get("user_id") == learner.sub


def _roster_entries(session: Session, learner: Learner) -> list[tuple[Course, Any]]:
    found = []
    for course in session.scalars(select(Course).where(Course.platform_id == learner.platform_id,
                                                       Course.roster.is_not(None))):
        found += [(course, m) for m in (course.roster or []) if _is_member(m, learner)]
    return found


# --- delete -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteReport:
    learner_id: int
    reflections_deleted: int
    reviews_deleted: int
    launches_deleted: int
    logins_deleted: int
    class_lists_cleaned: int
    attempts_kept: int
    scores_kept: int
    awards_revoked: tuple[int, ...]
    awards_kept: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "awards_revoked": list(self.awards_revoked),
                "awards_kept": list(self.awards_kept)}


RevokeFn = Callable[[Session, Award, str, datetime], None]
REVOKE_REASON = "learner data deleted on request (Law 25)"


def _revoke_with_badges_service(session: Session, award: Award, reason: str, now: datetime) -> None:
    """The badges' own revocation (lti_tool.badges.awards): the award's issuer first (status
    list, provider call), then the record. An issuer that fails raises `IssuerError`: the caller
    rolls back and nothing is deleted (the operator tries again, or keeps the badges)."""
    from lti_tool.badges import awards as badge_awards
    from lti_tool.badges.issuers import issuer_for

    badge_awards.revoke(session, award.id, reason=reason, now=now, issuer_for=issuer_for)


def delete_learner(session: Session, learner: Learner, *, revoke_badges: bool,
                   now: datetime | None = None, revoke: RevokeFn | None = None) -> DeleteReport:
    now = now or utcnow()
    revoke = revoke or _revoke_with_badges_service
    old_sub, old_email = learner.sub, learner.email
    answer_ids = list(session.scalars(select(ReflectionAnswer.id).where(
        ReflectionAnswer.learner_id == learner.id)))
    if answer_ids:
        session.execute(delete(ReflectionSubmission).where(
            ReflectionSubmission.answer_id.in_(answer_ids)))
        session.execute(delete(ReflectionAnswer).where(ReflectionAnswer.id.in_(answer_ids)))
    reviews = session.execute(delete(ReflectionReview).where(
        ReflectionReview.learner_id == learner.id)).rowcount  # type: ignore[attr-defined]
    launches = session.execute(delete(LaunchRecord).where(
        LaunchRecord.learner_id == learner.id)).rowcount  # type: ignore[attr-defined]
    logins = _delete_logins_naming(session, [v for v in (old_sub, old_email) if v])
    cleaned = 0
    for course, _member in _roster_entries(session, learner):
        if course.roster is not None:
            course.roster = [m for m in course.roster if not _is_member(m, learner)]
            cleaned += 1
    score_ids = list(session.scalars(select(Score.id).where(Score.learner_id == learner.id)))
    if score_ids:  # an LMS's refusal may quote the user id
        session.execute(update(Score).where(Score.id.in_(score_ids)).values(lms_message=None))
    revoked: list[int] = []
    kept: list[int] = []
    awards = list(session.scalars(select(Award).where(Award.learner_id == learner.id)))
    for award in awards:
        if revoke_badges:
            if award.status != "revoked":
                revoke(session, award, REVOKE_REASON, now)
                session.refresh(award)
            award.credential = None  # revoked: no one needs the signed copy with their identity
            revoked.append(award.id)
        else:
            kept.append(award.id)
        award.last_error = None
    session.flush()
    outbox = _outbox_rows(session, [s for s in (session.get(Score, i) for i in score_ids) if s], awards)
    for message in outbox:
        message.last_error = None
    learner.sub = ERASED_PREFIX + secrets.token_hex(16)
    learner.name = learner.given_name = learner.family_name = learner.email = None
    learner.locale = None
    learner.explorer_completed_at = None
    learner.explorer_source = None
    session.flush()
    attempts = len(list(session.scalars(select(Attempt.id).where(Attempt.learner_id == learner.id))))
    log.info("learner %s erased: %s reflections, %s launches, awards revoked %s kept %s",
             learner.id, len(answer_ids), launches, revoked, kept)
    return DeleteReport(learner.id, len(answer_ids), reviews or 0, launches or 0, logins, cleaned,
                        attempts, len(score_ids), tuple(revoked), tuple(kept))


def _delete_logins_naming(session: Session, needles: list[str]) -> int:
    """Logins not yet completed whose stored request names the learner (`login_hint` is often
    the user id); they expire within minutes anyway."""
    if not needles:
        return 0
    doomed = [row.state for row in session.scalars(select(LoginState))
              if any(n in json.dumps(row.data, ensure_ascii=False) for n in needles)]
    if doomed:
        session.execute(delete(LoginState).where(LoginState.state.in_(doomed)))
    return len(doomed)


# --- retention ----------------------------------------------------------------------------------


def purge_inactive_reflections(session: Session, *, retention_days: int,
                               now: datetime | None = None) -> int:
    """Deletes the reflections (drafts, submissions, reviews with their comments) of learners
    whose last launch is older than `retention_days`; 0 keeps everything. Returns the number of
    learners whose reflections went."""
    if retention_days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    stale = list(session.scalars(
        select(Learner.id).where(Learner.last_launch_at < cutoff,
                                 Learner.id.in_(select(ReflectionAnswer.learner_id)))))
    if not stale:
        return 0
    answer_ids = select(ReflectionAnswer.id).where(ReflectionAnswer.learner_id.in_(stale))
    session.execute(delete(ReflectionSubmission).where(ReflectionSubmission.answer_id.in_(answer_ids)))
    session.execute(delete(ReflectionAnswer).where(ReflectionAnswer.learner_id.in_(stale)))
    session.execute(delete(ReflectionReview).where(ReflectionReview.learner_id.in_(stale)))
    session.flush()
    log.info("retention: reflections of %d learners inactive for %d days deleted", len(stale),
             retention_days)
    return len(stale)


class RetentionSchedule:
    """The retention purge, run from the outbox worker's loop at most once per `interval` seconds
    (one indexed query when nothing is due); a failure is logged and tried at the next interval,
    never stopping deliveries."""

    def __init__(self, interval: float = 3600.0) -> None:
        self.interval = interval
        self._next_at = 0.0

    def run_if_due(self, app: Any) -> int | None:
        import time

        moment = time.monotonic()
        if moment < self._next_at:
            return None
        self._next_at = moment + self.interval
        days = app.extensions["settings"].reflection_retention_days
        if days <= 0:
            return 0
        session = app.extensions["db_sessionmaker"]()
        try:
            purged = purge_inactive_reflections(session, retention_days=days)
            session.commit()
            return purged
        except Exception:
            session.rollback()
            log.exception("retention purge failed; trying again in %.0f s", self.interval)
            return None
        finally:
            session.close()
