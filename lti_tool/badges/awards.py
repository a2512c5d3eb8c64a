"""Awarding the Architect badge exactly once (issue 8, item 5; ../shared/docs/BADGES.md
"Awarding exactly once"; DESIGN.md §4.4).

- `award_if_eligible` runs after each progress event (a finished case, submitted reflections, an
  instructor's review) in the request's transaction. When the pure rules (`eligibility.evaluate`)
  say the learner is eligible, one statement — `INSERT … ON CONFLICT (learner_id, achievement)
  DO NOTHING RETURNING id` — writes the award, and only the request whose row was inserted
  enqueues the outbox message (topic "badge.award", key = the award id). Two workers handling two
  completions of one learner at the same moment: on PostgreSQL the second INSERT waits on the
  unique index until the first commits, then does nothing; SQLite has one writer at a time. Either
  way one award row, one outbox row, hence one issuer call (the outbox leases each row to one
  worker: grading/outbox.py).
- `reevaluate` runs after an agreement or an organisation mapping is recorded: learners who were
  waiting for it are awarded then, once.
- Operators (`lti-tool awards …`): `list_awards`, `revoke` (calls the award's issuer, then records
  the reason and time), `retry` (a failed award goes back to the outbox, due now).

Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from lti_tool.badges.issuers.base import AwardInfo, Issuer
from lti_tool.grading.service import enqueue
from lti_tool.models import Learner, OutboxMessage, ReflectionAnswer
from lti_tool.models.badges import Award
from lti_tool.models.outbox import PENDING as OUTBOX_PENDING

if TYPE_CHECKING:
    from lti_tool.cases.model import Level

TOPIC = "badge.award"
ACHIEVEMENT = "architecte"  # the Architect level (attestation.ACHIEVEMENT, the embedded achievement)
PENDING, AWARDED, FAILED, REVOKED = "pending", "awarded", "failed", "revoked"


class AwardError(Exception):
    """An operator's request that cannot be done (unknown award, wrong state, no reason)."""


def outbox_key(award_id: int) -> str:
    return str(award_id)


def configured_issuer() -> str:
    from flask import current_app

    return str(current_app.extensions["settings"].badge_issuer)


# -- awarding -------------------------------------------------------------------------------------
def award_if_eligible(session: Session, learner_id: int, *, level: Level, now: datetime,
                      issuer: str | None = None) -> Award | None:
    """Award the learner if they are eligible and have no award yet. Returns the award this call
    created, or None (not eligible, or awarded before — by this request or another). `issuer`
    defaults to the configured BADGE_ISSUER. Flushes, never commits."""
    if not _may_become_eligible(session, learner_id):
        return None  # awarded already, or no reflection submitted yet: no rules to run
    from lti_tool.badges import eligibility, facts

    gathered = facts.facts_for(session, learner_id, level=level, now=now)
    if not eligibility.evaluate(gathered).eligible:
        return None
    organisation = getattr(gathered, "organisation_code", None)
    return record_award(session, learner_id, now=now, issuer=issuer or configured_issuer(),
                        organisation_code=organisation if isinstance(organisation, str) else None)


def record_award(session: Session, learner_id: int, *, now: datetime, issuer: str,
                 organisation_code: str | None = None) -> Award | None:
    """The exactly-once step of an eligible learner's award: the row and its outbox message, or
    nothing when the learner has the award already. Flushes, never commits."""
    table: Any = Award.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = (
        insert(table)
        .values(learner_id=learner_id, achievement=ACHIEVEMENT,
                organisation_code=organisation_code, status=PENDING, issuer=issuer, eligible_at=now,
                created_at=now)
        .on_conflict_do_nothing(index_elements=["learner_id", "achievement"])
        .returning(table.c.id)
    )
    award_id = session.execute(stmt).scalar()
    if award_id is None:
        return None  # another transaction awarded this learner first
    enqueue(session, TOPIC, outbox_key(award_id), award_id, now)
    return session.get(Award, award_id)


# Built once: it runs on every finished case (building it cost more than running it, issue 11).
_MAY_BECOME_ELIGIBLE = select(
    exists().where(ReflectionAnswer.learner_id == bindparam("learner_id"),
                   ReflectionAnswer.submitted_at.is_not(None))
    & ~exists().where(Award.learner_id == bindparam("learner_id"),
                      Award.achievement == ACHIEVEMENT))


def _may_become_eligible(session: Session, learner_id: int) -> bool:
    """Without the award yet, and with reflections submitted (a condition of eligibility,
    BADGES.md): one round trip, so that finishing a case before the reflections — most
    completions — does not gather the facts for nothing (issue 11: it was most of the CPU and
    round trips of a finishing step)."""
    return bool(session.execute(_MAY_BECOME_ELIGIBLE, {"learner_id": learner_id}).scalar())


def reevaluate(session: Session, *, territory_id: int | None = None,
               organisation_code: str | None = None, now: datetime,
               level: Level | None = None) -> list[Award]:
    """After an agreement or a mapping is recorded: award every learner who is eligible now.

    Candidates are the learners without the award who have submitted a reflection (no one else
    can be eligible), narrowed, when the change is named, to the learners whose organisation may
    be concerned (`registry.learners_of`: a superset — launch, course, deployment or registration);
    the rules decide for each. Returns the awards created."""
    from lti_tool.badges import registry

    if level is None:
        from lti_tool.cases.loader import get_level

        level = get_level()
    query = (
        select(Learner.id)
        .where(exists().where(ReflectionAnswer.learner_id == Learner.id,
                              ReflectionAnswer.submitted_at.is_not(None)),
               ~exists().where(Award.learner_id == Learner.id, Award.achievement == ACHIEVEMENT))
        .order_by(Learner.id))
    if territory_id is not None or organisation_code is not None:
        codes = [organisation_code] if organisation_code else []
        if territory_id is not None:
            codes += registry.organisation_codes_of_territory(session, territory_id)
        query = query.where(Learner.id.in_(registry.learners_of(session, codes) or [-1]))
    waiting = session.execute(query).scalars().all()
    created: list[Award] = []
    for learner_id in waiting:
        award = award_if_eligible(session, learner_id, level=level, now=now)
        if award is not None:
            created.append(award)
    return created


# -- operators ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AwardRow:
    id: int
    learner_sub: str
    status: str
    issuer: str
    awarded_at: datetime | None
    issuer_ref: str | None
    revoked_at: datetime | None
    revocation_reason: str | None
    last_error: str | None
    eligible_at: datetime

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "learner_sub": self.learner_sub, "status": self.status,
                "issuer": self.issuer, "awarded_at": iso(self.awarded_at),
                "issuer_ref": self.issuer_ref, "revoked_at": iso(self.revoked_at),
                "revocation_reason": self.revocation_reason, "last_error": self.last_error,
                "eligible_at": iso(self.eligible_at)}


def list_awards(session: Session, *, status: str | None = None) -> list[AwardRow]:
    query = (select(Award, Learner.sub).join(Learner, Learner.id == Award.learner_id)
             .order_by(Award.id))
    if status:
        query = query.where(Award.status == status)
    return [AwardRow(id=a.id, learner_sub=sub, status=a.status, issuer=a.issuer,
                     awarded_at=a.awarded_at, issuer_ref=a.issuer_ref, revoked_at=a.revoked_at,
                     revocation_reason=a.revocation_reason, last_error=a.last_error,
                     eligible_at=a.eligible_at)
            for a, sub in session.execute(query)]


def revoke(session: Session, award_id: int, *, reason: str, now: datetime,
           issuer_for: Callable[[str], Issuer],
           evidence: Callable[[Award], tuple[str, str]] | None = None) -> Award:
    """Revoke an award: the issuer first (its revocation or status list), then the record —
    status revoked, the reason and the time. Raises AwardError (nothing changed) for an unknown
    award, an award already revoked or an empty reason, and lets an `IssuerError` through
    (nothing recorded: the operator tries again). Flushes, never commits."""
    reason = (reason or "").strip()
    if not reason:
        raise AwardError("a reason is required (--reason TEXT)")
    award = session.get(Award, award_id, with_for_update=_locks(session))
    if award is None:
        raise AwardError(f"no award #{award_id}")
    if award.status == REVOKED:
        raise AwardError(f"award #{award_id} is already revoked ({award.revoked_at:%Y-%m-%d %H:%M})"
                         if award.revoked_at else f"award #{award_id} is already revoked")
    if award.status == AWARDED:
        url, narrative = evidence(award) if evidence else ("", "")
        issuer_for(award.issuer).revoke(AwardInfo.of(award, evidence_url=url, narrative=narrative),
                                        reason)
    # A pending award's outbox row is left as it is: the delivery skips an award no longer pending.
    award.status = REVOKED
    award.revoked_at = now
    award.revocation_reason = reason
    session.flush()
    return award


def retry(session: Session, award_id: int | None, *, now: datetime) -> list[int]:
    """Send failed awards to the issuer again, due now with a fresh retry budget: one award (it
    must be failed, or pending — then it is tried now instead of after its backoff), or every
    failed award. Returns the award ids. Flushes, never commits."""
    if award_id is not None:
        award = session.get(Award, award_id)
        if award is None:
            raise AwardError(f"no award #{award_id}")
        if award.status not in (FAILED, PENDING):
            raise AwardError(f"award #{award_id} is {award.status}: only a failed or pending award "
                             "can be retried")
        ids = [award.id]
    else:
        ids = list(session.execute(select(Award.id).where(Award.status == FAILED)
                                   .order_by(Award.id)).scalars())
    if not ids:
        return []
    session.execute(update(Award).where(Award.id.in_(ids))
                    .values(status=PENDING, last_error=None)
                    .execution_options(synchronize_session="fetch"))
    for one in ids:
        enqueue(session, TOPIC, outbox_key(one), one, now)
    # `enqueue` keeps a pending row's backoff; the operator asked for now.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.topic == TOPIC, OutboxMessage.key.in_([outbox_key(i) for i in ids]),
               OutboxMessage.status == OUTBOX_PENDING,
               # A row a worker is delivering right now stays with it (no second issuer call).
               or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until < now))
        .values(attempts=0, available_at=now, leased_until=None, lease_token=None, created_at=now,
                updated_at=now)
        .execution_options(synchronize_session=False))
    return ids


def _locks(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"

