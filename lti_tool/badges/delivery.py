"""Delivering awards to the badge issuer: the outbox's "badge.award" topic (issue 8, items 3 and
5; grading/outbox.py for the leasing; ../shared/docs/BADGES.md "Awarding exactly once").

For each leased row: load the award and its learner (a snapshot; no transaction stays open during
the call), call the award's issuer (`issuers.issuer_for(award.issuer)`), then record the outcome
in one transaction, only while the row is still leased to this worker:
- issued — the award becomes `awarded` (issuer_ref, the credential for `embedded`, awarded_at);
  the row is sent. A compare-and-set on `status = 'pending'` keeps an operator's revocation made
  meanwhile: the badge just issued is then revoked at the issuer too.
- refused for good (`IssuerRefused`: a 4xx, a learner without an email) — the award is `failed`
  with the issuer's message (`lti-tool awards list` shows it, `awards retry` sends it again);
  the row is failed.
- unavailable (`IssuerUnavailable`: 5xx, 429, timeout) — the row backs off (full jitter, never
  before Retry-After, `outbox.Backoff`) and the message is kept on the award; after seven days
  without success the award fails.
An award no longer pending (revoked before delivery, or already recorded) is not sent again.
A worker killed after the issuer stored the badge but before the commit leaves a lease that
expires; the next worker's call meets the issuer's "already awarded" answer, looks the badge up,
and records it: still one badge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, update
from sqlalchemy.orm import Session, sessionmaker

from lti_tool.badges.awards import AWARDED, FAILED, PENDING, REVOKED, TOPIC
from lti_tool.badges.issuers.base import (
    AwardInfo,
    Issuer,
    IssuerError,
    IssueResult,
    IssuerRefused,
    IssuerUnavailable,
    Recipient,
)
from lti_tool.db import utcnow
from lti_tool.grading.outbox import Backoff, BatchResult, Claim, claim, release
from lti_tool.models import Learner, OutboxMessage
from lti_tool.models.badges import Award
from lti_tool.models.outbox import FAILED as ROW_FAILED
from lti_tool.models.outbox import SENT as ROW_SENT

log = logging.getLogger(__name__)

NARRATIVE = ("Trousse de réponse Sexto 2 – Architecte : trois cas réussis et trois réflexions "
             "remises (attestation au lien de preuve). / Sexto response kit 2 – Architect: three "
             "cases passed and three reflections submitted (attestation at the evidence link).")


def evidence_for(settings: Any) -> Callable[[Award], tuple[str, str]]:
    """The evidence of a badge: an access-controlled URL of the tool (the learner or their
    instructor, launched from the LMS, reach the attestation there: attestation_views.evidence)
    and a short narrative. Badge platforms publish evidence URLs with the badge, so never the
    attestation's share link (it opens the reflections without a session) nor the reflections."""
    def evidence(award: Award) -> tuple[str, str]:
        return f"{settings.base_url.rstrip('/')}/badges/awards/{award.id}/evidence", NARRATIVE

    return evidence


@dataclass(frozen=True)
class Issued:
    result: IssueResult


@dataclass(frozen=True)
class Skipped:
    reason: str


Outcome = Issued | Skipped | IssuerError


@dataclass(frozen=True)
class Job:
    award: AwardInfo
    recipient: Recipient


@dataclass
class BadgeDelivery:
    """Delivers leased "badge.award" rows (one per worker thread)."""

    sessions: sessionmaker[Session]
    issuer_for: Callable[[str], Issuer]
    evidence: Callable[[Award], tuple[str, str]]
    backoff: Backoff = field(default_factory=Backoff)
    lease: float = 120.0
    clock: Callable[[], datetime] = utcnow

    def run_batch(self, limit: int = 20, *, due: datetime | None = None,
                  should_stop: Callable[[], bool] = lambda: False) -> BatchResult:
        result = BatchResult()
        with self.sessions() as session:
            claims = claim(session, limit=limit, lease=self.lease, now=self.clock(), due=due,
                           topic=TOPIC)
            session.commit()
        result.claimed = len(claims)
        for index, c in enumerate(claims):
            if should_stop() or c.leased_until <= self.clock():
                with self.sessions() as session:
                    release(session, claims[index:])
                    session.commit()
                break
            outcome = self.deliver(c)
            name = type(outcome).__name__
            result.outcomes[name] = result.outcomes.get(name, 0) + 1
        return result

    # -- one row -----------------------------------------------------------------------------
    def deliver(self, c: Claim) -> Outcome:
        job_or_skip = self._load(c)
        outcome: Outcome
        if isinstance(job_or_skip, Skipped):
            outcome = job_or_skip
        else:
            outcome = self._call(job_or_skip)
        with self.sessions() as session:
            self._record(session, c, job_or_skip, outcome, self.clock())
            session.commit()
        return outcome

    def _load(self, c: Claim) -> Job | Skipped:
        with self.sessions() as session:
            award = session.get(Award, c.ref_id)
            if award is None:
                return Skipped("the award no longer exists")
            if award.status != PENDING:
                return Skipped(f"the award is {award.status}")
            learner = session.get(Learner, award.learner_id)
            if learner is None:  # the foreign key cascades: only a concurrent delete
                return Skipped("the learner no longer exists")
            url, narrative = self.evidence(award)
            return Job(
                award=AwardInfo.of(award, evidence_url=url, narrative=narrative),
                recipient=Recipient(learner_id=learner.id, sub=learner.sub, email=learner.email,
                                    given_name=learner.given_name, family_name=learner.family_name,
                                    name=learner.name, locale=learner.locale or "fr"))

    def _call(self, job: Job) -> Outcome:
        try:
            issuer = self.issuer_for(job.award.issuer)
            return Issued(issuer.award(job.award, job.recipient))
        except IssuerError as exc:
            return exc
        except Exception as exc:  # a bug or an unexpected answer: kept for the operator, retried
            log.exception("badge award %s: the %s issuer failed", job.award.id, job.award.issuer)
            return IssuerUnavailable(f"{job.award.issuer} issuer error: {type(exc).__name__}: {exc}")

    def _record(self, session: Session, c: Claim, job: Job | Skipped, outcome: Outcome,
                now: datetime) -> None:
        mine = and_(OutboxMessage.id == c.id, OutboxMessage.lease_token == c.lease_token)
        cleared: dict[str, Any] = {"leased_until": None, "lease_token": None, "updated_at": now,
                                   "attempts": OutboxMessage.attempts + 1}
        if isinstance(outcome, Skipped):
            self._row(session, mine, status=ROW_SENT, done_at=now, last_error=outcome.reason,
                      **cleared)
            return
        assert isinstance(job, Job)
        award_id = job.award.id
        if isinstance(outcome, Issued):
            if not self._row(session, mine, status=ROW_SENT, done_at=now, last_status=None,
                             last_error=None, **cleared):
                log.warning("badge award %s issued after its lease was lost", award_id)
            r = outcome.result
            recorded = session.execute(
                update(Award).where(Award.id == award_id, Award.status == PENDING)
                .values(status=AWARDED, issuer_ref=r.issuer_ref, credential=r.credential,
                        awarded_at=r.awarded_at or now, last_error=None)
                .returning(Award.id).execution_options(synchronize_session=False)).first()
            if recorded is None:
                self._revoked_meanwhile(session, job, r)
            else:
                log.info("badge award %s issued by %s (%s) %s", award_id, job.award.issuer,
                         r.issuer_ref or "-", r.note)
            return
        message = outcome.message
        if isinstance(outcome, IssuerRefused) or not outcome.retryable:
            self._row(session, mine, status=ROW_FAILED, done_at=now, last_status=outcome.status,
                      last_error=message, **cleared)
            self._fail(session, award_id, message)
            log.warning("badge award %s refused for good by %s: %s", award_id, job.award.issuer,
                        message)
            return
        if now - c.created_at >= self.backoff.give_up_after:
            reason = f"gave up after {self.backoff.give_up_after.days} days: {message}"
            self._row(session, mine, status=ROW_FAILED, done_at=now, last_status=outcome.status,
                      last_error=reason, **cleared)
            self._fail(session, award_id, reason)
            return
        wait = self.backoff.wait(c.attempts + 1, outcome.retry_after)
        self._row(session, mine, available_at=now + timedelta(seconds=wait),
                  last_status=outcome.status, last_error=message, **cleared)
        session.execute(update(Award).where(Award.id == award_id, Award.status == PENDING)
                        .values(last_error=message).execution_options(synchronize_session=False))
        log.info("badge award %s retried in %.1f s: %s", award_id, wait, message)

    @staticmethod
    def _row(session: Session, mine: Any, **values: Any) -> bool:
        done = session.execute(update(OutboxMessage).where(mine).values(**values)
                               .returning(OutboxMessage.id)
                               .execution_options(synchronize_session=False)).first()
        return done is not None

    @staticmethod
    def _fail(session: Session, award_id: int, message: str) -> None:
        session.execute(update(Award).where(Award.id == award_id, Award.status == PENDING)
                        .values(status=FAILED, last_error=message)
                        .execution_options(synchronize_session=False))

    def _revoked_meanwhile(self, session: Session, job: Job, result: IssueResult) -> None:
        """An operator revoked the award while the issuer was issuing it: revoke the new badge."""
        award = session.get(Award, job.award.id)
        if award is None or award.status != REVOKED:
            return
        award.issuer_ref = award.issuer_ref or result.issuer_ref
        try:
            info = AwardInfo.of(award, evidence_url=job.award.evidence_url,
                                narrative=job.award.narrative)
            self.issuer_for(award.issuer).revoke(info, award.revocation_reason or "revoked")
        except IssuerError as exc:
            award.last_error = f"issued while being revoked; the issuer's revocation failed: {exc}"
            log.warning("badge award %s: %s", award.id, award.last_error)


def from_app(app: Any, *, backoff: Backoff | None = None, lease: float = 120.0) -> BadgeDelivery:
    """The app's badge delivery (the outbox worker and the in-process drainer use it)."""
    from lti_tool.badges.issuers import issuer_for

    return BadgeDelivery(app.extensions["db_sessionmaker"],
                         issuer_for=lambda name: issuer_for(name, app),
                         evidence=evidence_for(app.extensions["settings"]),
                         backoff=backoff or Backoff(), lease=lease)
