"""Delivering the outbox's scores to the LMS (issue 7, item 2; DESIGN.md §4.3; models/outbox.py).

- Writing a row is `grading.service.enqueue` (one row per learner + resource link, pointing at
  the newest score, in the transaction of the progress that caused it). A `NOTIFY lti_outbox` in
  that transaction wakes PostgreSQL workers at commit
  (https://www.postgresql.org/docs/current/sql-notify.html); without it they poll.
- `claim` — due rows leased to one worker: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
  RETURNING`, so any number of workers share the backlog without waiting on each other and never
  take the same row (https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE).
  SQLite has one writer at a time, which makes the same single statement atomic. A worker that
  dies leaves a lease that expires; another worker then takes the row over.
- `ScoreDelivery.run_batch` — claim, post each score (`grading.ags`), then record the outcomes in
  one transaction with a compare-and-set on (lease_token, ref_id): if a newer score replaced
  `ref_id` meanwhile, the row stays pending and the newer score goes next. A worker killed between
  the LMS storing a score and the commit sends it again; the LMS answers 409 (its timestamp is not
  newer) and the score is not stored twice.
- Retries: exponential backoff with full jitter (tenacity's `wait_random_exponential`,
  https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), never sooner than
  the LMS's Retry-After; after 7 days without success the row fails with the last reason.
- Operators: `list_messages`, `retry`, `lag` (`lti-tool scores …`).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import tenacity
from sqlalchemy import and_, func, or_, select, text, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from lti_tool.db import utcnow
from lti_tool.grading import ags
from lti_tool.launch.registry import Registration
from lti_tool.models import Learner, LineItem, OutboxMessage, Platform, ResourceLink, Score
from lti_tool.models.outbox import FAILED, PENDING, SENT

log = logging.getLogger(__name__)

TOPIC_SCORE = "ags.score"
NOTIFY_CHANNEL = "lti_outbox"
SENT_SCORE, SUPERSEDED_SCORE, FAILED_SCORE = "sent", "superseded", "failed"  # Score.delivery


# -- retry policy --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backoff:
    """When to try again: full jitter over an exponentially growing window (first window
    `multiplier` seconds, capped at `maximum`), never sooner than `minimum` (full jitter alone may
    draw a few milliseconds: no use against a receiver that is down), never before the LMS's
    Retry-After."""

    minimum: float = 5.0
    multiplier: float = 2.0
    maximum: float = 3600.0
    retry_after_cap: float = 6 * 3600.0  # a Retry-After of a week is not taken at its word
    give_up_after: timedelta = timedelta(days=7)

    def wait(self, attempts: int, retry_after: float | None = None) -> float:
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = max(1, attempts)
        seconds = max(self.minimum, float(tenacity.wait_random_exponential(
            multiplier=self.multiplier, max=self.maximum)(state)))
        if retry_after is not None:
            seconds = max(seconds, min(float(retry_after), self.retry_after_cap))
        return seconds


# -- claiming ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    id: int
    topic: str
    key: str
    ref_id: int
    attempts: int
    lease_token: str
    leased_until: datetime
    created_at: datetime


def claim(session: Session, *, limit: int, lease: float, now: datetime | None = None,
          due: datetime | None = None, topic: str = TOPIC_SCORE) -> list[Claim]:
    """Lease up to `limit` due rows to the caller (the caller commits at once)."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    until = now + timedelta(seconds=lease)
    due_ids = (
        select(OutboxMessage.id)
        .where(OutboxMessage.topic == topic, OutboxMessage.status == PENDING,
               OutboxMessage.available_at <= (due or now),
               or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until < now))
        .order_by(OutboxMessage.available_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
    )
    rows = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due_ids.scalar_subquery()))
        .values(leased_until=until, lease_token=token, updated_at=now)
        .returning(OutboxMessage.id, OutboxMessage.key, OutboxMessage.ref_id, OutboxMessage.attempts,
                   OutboxMessage.created_at)
        .execution_options(synchronize_session=False)
    ).all()
    claims = [Claim(id=r[0], topic=topic, key=r[1], ref_id=r[2], attempts=r[3], lease_token=token,
                    leased_until=until, created_at=r[4]) for r in rows]
    return sorted(claims, key=lambda c: c.id)


def release(session: Session, claims: Sequence[Claim]) -> None:
    """Give leased rows back untouched (a worker stopping, a lease about to run out)."""
    for c in claims:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == c.id, OutboxMessage.lease_token == c.lease_token)
            .values(leased_until=None, lease_token=None)
            .execution_options(synchronize_session=False))


# -- what a score needs to be posted ------------------------------------------------------------
@dataclass
class ScoreContext:
    score: Score
    sub: str
    link: ResourceLink
    registration: Registration
    lineitem_url: str | None
    older_waiting: bool = True  # older scores of this learner + link not yet marked



def registration_of(p: Platform) -> Registration:
    return Registration(
        id=p.id, issuer=p.issuer, client_id=p.client_id, auth_url=p.auth_url, token_url=p.token_url,
        jwks_url=p.jwks_url, auth_audience=p.auth_audience, family=p.family,
        organisation_code=p.organisation_code, status=p.status, origin=p.origin, key_set=p.key_set,
        approved=p.approved_at is not None)


def load_contexts(session: Session, score_ids: Sequence[int]) -> dict[int, ScoreContext]:
    rows = session.execute(
        select(Score, Learner.sub, ResourceLink, Platform)
        .join(Learner, Learner.id == Score.learner_id)
        .join(ResourceLink, ResourceLink.id == Score.resource_link_id)
        .join(Platform, Platform.id == ResourceLink.platform_id)
        .where(Score.id.in_(score_ids))
    ).all()
    tool_items: dict[int, str] = {}
    missing = {link.id for _, _, link, _ in rows if not link.lineitem_url}
    if missing:
        for link_id, url in session.execute(
            select(LineItem.resource_link_id, LineItem.url)
            .where(LineItem.resource_link_id.in_(missing)).order_by(LineItem.id.desc())
        ):
            if link_id is not None:
                tool_items.setdefault(link_id, url)
    keys = {(score.learner_id, score.resource_link_id) for score, _, _, _ in rows}
    older: set[tuple[int, int]] = set()
    if keys:
        older = {(learner, link) for learner, link in session.execute(
            select(Score.learner_id, Score.resource_link_id).distinct()
            .where(Score.delivery.is_(None), Score.id.not_in(score_ids),
                   tuple_(Score.learner_id, Score.resource_link_id).in_(keys)))}
    return {
        score.id: ScoreContext(score, sub, link, registration_of(platform),
                               link.lineitem_url or tool_items.get(link.id),
                               (score.learner_id, score.resource_link_id) in older)
        for score, sub, link, platform in rows
    }


def score_post(ctx: ScoreContext) -> ags.ScorePost:
    s = ctx.score
    return ags.ScorePost(
        user_id=ctx.sub, activity_progress=s.activity_progress, grading_progress=s.grading_progress,
        timestamp=s.timestamp.isoformat(), score_given=s.score_given,
        score_maximum=s.score_maximum, comment=s.comment or "")


# -- delivering ----------------------------------------------------------------------------------
_sqlite_line_items = threading.Lock()  # SQLite: single process; PostgreSQL locks the link's row


@dataclass
class BatchResult:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class ScoreDelivery:
    """Delivers leased score rows; one per worker thread (its `AgsClient` keeps connectors)."""

    sessions: sessionmaker[Session]
    client: ags.AgsClient = field(default_factory=ags.AgsClient)
    backoff: Backoff = field(default_factory=Backoff)
    lease: float = 60.0
    # The longest one row may take (the outbound deadline, twice for a 401 retry): a row whose
    # lease would end before is given back rather than delivered late, by two workers.
    row_budget: float = 25.0
    clock: Callable[[], datetime] = utcnow
    # Posts of one batch in parallel (threads with the app context): an LMS answering in 100 ms
    # would otherwise cap a worker at 10 scores/s. None: one after the other.
    executor: Executor | None = None

    def run_batch(self, limit: int = 20, *, due: datetime | None = None,
                  should_stop: Callable[[], bool] = lambda: False) -> BatchResult:
        result = BatchResult()
        with self.sessions() as session:
            claims = claim(session, limit=limit, lease=self.lease, now=self.clock(), due=due)
            session.commit()
        result.claimed = len(claims)
        if not claims:
            return result
        with self.sessions() as session:
            contexts = load_contexts(session, [c.ref_id for c in claims])
            session.expunge_all()  # read-only snapshots: closing must not expire them

        def one(c: Claim) -> ags.Outcome | None:
            remaining = (c.leased_until - self.clock()).total_seconds()
            if should_stop() or remaining < self.row_budget:
                return None  # given back below, untouched
            return self._deliver(c, contexts.get(c.ref_id))

        outcomes = list(self.executor.map(one, claims) if self.executor else map(one, claims))
        done = [(c, o) for c, o in zip(claims, outcomes, strict=True) if o is not None]
        skipped = [c for c, o in zip(claims, outcomes, strict=True) if o is None]
        for _, outcome in done:
            name = type(outcome).__name__
            result.outcomes[name] = result.outcomes.get(name, 0) + 1
        with self.sessions() as session:
            now = self.clock()
            self._complete_delivered(session, [(c, o) for c, o in done if isinstance(o, ags.Delivered)],
                                     contexts, now)
            for c, outcome in done:
                if not isinstance(outcome, ags.Delivered):
                    self._complete(session, c, outcome, contexts.get(c.ref_id), now)
            release(session, skipped)
            session.commit()
        return result

    def _complete_delivered(self, session: Session, done: list[tuple[Claim, ags.Outcome]],
                            contexts: dict[int, ScoreContext], now: datetime) -> None:
        """The common case in a few statements per batch (rather than three per row): rows still
        ours and still pointing at the delivered score are sent; the scores are marked."""
        by_status: dict[int | None, list[Claim]] = {}
        for c, outcome in done:
            by_status.setdefault(outcome.status, []).append(c)
        for status, claims in by_status.items():
            owned = set(session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.lease_token == claims[0].lease_token,
                       tuple_(OutboxMessage.id, OutboxMessage.ref_id).in_([(c.id, c.ref_id) for c in claims]))
                .values(status=SENT, done_at=now, last_status=status, last_error=None,
                        leased_until=None, lease_token=None, updated_at=now,
                        attempts=OutboxMessage.attempts + 1)
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)).scalars())
            # A newer score took the row meanwhile: it is due now.
            release(session, [c for c in claims if c.id not in owned])
            refs = [c.ref_id for c in claims if c.ref_id in contexts]
            if refs:
                session.execute(
                    update(Score).where(Score.id.in_(refs))
                    .values(delivery=SENT_SCORE, delivered_at=now, lms_status=status, lms_message=None)
                    .execution_options(synchronize_session=False))
            for c in claims:
                ctx = contexts.get(c.ref_id)
                if ctx is not None and ctx.older_waiting:
                    self._supersede_older(session, ctx.score)

    @staticmethod
    def _supersede_older(session: Session, score: Score) -> None:
        """Older scores never sent: the newest one spoke for them."""
        session.execute(
            update(Score).where(Score.learner_id == score.learner_id,
                                Score.resource_link_id == score.resource_link_id,
                                Score.id < score.id, Score.delivery.is_(None))
            .values(delivery=SUPERSEDED_SCORE)
            .execution_options(synchronize_session=False))

    def _deliver(self, c: Claim, ctx: ScoreContext | None) -> ags.Outcome:
        if ctx is None:
            return ags.Permanent("the score, its learner or its resource link no longer exists")
        if ctx.lineitem_url is None:
            found = self._line_item(ctx)
            if not isinstance(found, str):
                return found
        assert ctx.lineitem_url is not None
        return self.client.post_score(ctx.registration, ctx.lineitem_url, score_post(ctx))

    def _line_item(self, ctx: ScoreContext) -> str | ags.Outcome:
        """Create the resource link's line item when the launch had none and the platform lets
        the tool manage them; once per link (a row lock on PostgreSQL), recorded in `LineItem`."""
        link = ctx.link
        if not (link.lineitems_url and ags.SCOPE_LINEITEM in (link.ags_scopes or [])):
            return ags.Permanent("no line item: the launch gave none and the platform does not let "
                                 "the tool create one (AGS lineitem scope)")
        with self.sessions() as session:
            is_sqlite = session.get_bind().dialect.name == "sqlite"
            lock = _sqlite_line_items if is_sqlite else threading.Lock()
            with lock:
                if not is_sqlite:
                    session.execute(select(ResourceLink.id).where(ResourceLink.id == link.id)
                                    .with_for_update())
                url = session.execute(
                    select(LineItem.url).where(LineItem.resource_link_id == link.id)
                    .order_by(LineItem.id.desc()).limit(1)).scalar()
                if url is None:
                    created = self.client.find_or_create_line_item(
                        ctx.registration, link.lineitems_url, label=link.title or "Sexto",
                        resource_link_id=link.resource_link_id)
                    if not isinstance(created, str):
                        session.rollback()
                        return created
                    url = created
                    session.add(LineItem(platform_id=link.platform_id, resource_link_id=link.id,
                                         url=url, label=(link.title or "Sexto")[:255],
                                         score_maximum=100.0, tag=ags.TOOL_TAG, created_by_tool=True))
                session.commit()
        ctx.lineitem_url = url
        return url

    def _complete(self, session: Session, c: Claim, outcome: ags.Outcome, ctx: ScoreContext | None,
                  now: datetime) -> None:
        mine = and_(OutboxMessage.id == c.id, OutboxMessage.lease_token == c.lease_token)
        cleared: dict[str, Any] = {"leased_until": None, "lease_token": None, "updated_at": now,
                                   "attempts": OutboxMessage.attempts + 1}
        if isinstance(outcome, ags.Retry):
            self._reschedule(session, c, outcome, ctx, now, mine, cleared)
            return
        status = FAILED if isinstance(outcome, ags.Permanent) else SENT
        message = None if isinstance(outcome, ags.Delivered) else ags.truncate(outcome.message)
        owned = session.execute(
            update(OutboxMessage).where(mine, OutboxMessage.ref_id == c.ref_id)
            .values(status=status, done_at=now, last_status=outcome.status, last_error=message,
                    **cleared)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)).first()
        if owned is None:
            # A newer score took the row meanwhile (it is due now), or our lease was lost.
            release(session, [c])
        if isinstance(outcome, ags.Permanent):
            log.warning("score %s for %s refused for good: %s %s", c.ref_id, c.key,
                        outcome.status, message)
        if ctx is None:
            return
        delivery = {ags.Delivered: SENT_SCORE, ags.Superseded: SUPERSEDED_SCORE,
                    ags.Permanent: FAILED_SCORE}[type(outcome)]
        score = ctx.score
        session.execute(
            update(Score).where(Score.id == score.id)
            .values(delivery=delivery, delivered_at=now if delivery == SENT_SCORE else None,
                    lms_status=outcome.status, lms_message=message)
            .execution_options(synchronize_session=False))
        if ctx.older_waiting:
            self._supersede_older(session, score)

    def _reschedule(self, session: Session, c: Claim, outcome: ags.Retry, ctx: ScoreContext | None,
                    now: datetime, mine: Any, cleared: dict[str, Any]) -> None:
        message = ags.truncate(outcome.message)
        # Since the oldest score still waiting, or the operator's last `scores retry` if later.
        waiting_since = max(c.created_at, self._waiting_since(session, ctx) or c.created_at)
        if now - waiting_since >= self.backoff.give_up_after:
            reason = ags.truncate(f"gave up after {self.backoff.give_up_after.days} days: {message}")
            session.execute(
                update(OutboxMessage).where(mine)
                .values(status=FAILED, done_at=now, last_status=outcome.status, last_error=reason,
                        **cleared)
                .execution_options(synchronize_session=False))
            if ctx is not None:
                session.execute(
                    update(Score).where(Score.learner_id == ctx.score.learner_id,
                                        Score.resource_link_id == ctx.score.resource_link_id,
                                        Score.id <= ctx.score.id, Score.delivery.is_(None))
                    .values(delivery=FAILED_SCORE, lms_status=outcome.status, lms_message=reason)
                    .execution_options(synchronize_session=False))
            log.warning("score delivery %s (%s) failed for good: %s", c.id, c.key, reason)
            return
        wait = self.backoff.wait(c.attempts + 1, outcome.after)
        # On the lease only, not ref_id: a newer score waits for the LMS like this one.
        session.execute(
            update(OutboxMessage).where(mine)
            .values(available_at=now + timedelta(seconds=wait), last_status=outcome.status,
                    last_error=message, **cleared)
            .execution_options(synchronize_session=False))
        if ctx is not None:
            session.execute(
                update(Score).where(Score.id == ctx.score.id)
                .values(lms_status=outcome.status, lms_message=message)
                .execution_options(synchronize_session=False))
        log.info("score delivery %s (%s) retried in %.1f s: %s", c.id, c.key, wait, message)

    @staticmethod
    def _waiting_since(session: Session, ctx: ScoreContext | None) -> datetime | None:
        """When the oldest score of this learner + link still waiting was recorded."""
        if ctx is None:
            return None
        oldest: datetime | None = session.execute(
            select(func.min(Score.created_at))
            .where(Score.learner_id == ctx.score.learner_id,
                   Score.resource_link_id == ctx.score.resource_link_id,
                   Score.id <= ctx.score.id, Score.delivery.is_(None))).scalar()
        return oldest


# -- operators -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MessageView:
    id: int
    status: str
    key: str
    attempts: int
    available_at: datetime
    last_status: int | None
    last_error: str | None
    updated_at: datetime
    learner: str | None
    link: str | None
    score: Score | None


def list_messages(session: Session, *, status: str | None = None, limit: int = 100,
                  topic: str = TOPIC_SCORE) -> list[MessageView]:
    query = (
        select(OutboxMessage, Score, Learner.sub, ResourceLink.title, ResourceLink.resource_link_id)
        .outerjoin(Score, Score.id == OutboxMessage.ref_id)
        .outerjoin(Learner, Learner.id == Score.learner_id)
        .outerjoin(ResourceLink, ResourceLink.id == Score.resource_link_id)
        .where(OutboxMessage.topic == topic)
        .order_by(OutboxMessage.updated_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(OutboxMessage.status == status)
    return [
        MessageView(id=m.id, status=m.status, key=m.key, attempts=m.attempts,
                    available_at=m.available_at, last_status=m.last_status,
                    last_error=m.last_error, updated_at=m.updated_at, learner=sub,
                    link=title or link_id, score=score)
        for m, score, sub, title, link_id in session.execute(query)
    ]


def retry(session: Session, *, ids: Sequence[int] = (), failed: bool = False,
          now: datetime | None = None, topic: str = TOPIC_SCORE) -> int:
    """Make rows due now with a fresh retry budget: the given ids (any status but sent), or every
    failed row. Returns how many (flush only)."""
    now = now or utcnow()
    conditions = [OutboxMessage.topic == topic]
    if ids:
        conditions += [OutboxMessage.id.in_(list(ids)), OutboxMessage.status != SENT]
    elif failed:
        conditions.append(OutboxMessage.status == FAILED)
    else:
        return 0
    rows = session.execute(
        update(OutboxMessage).where(*conditions)
        .values(status=PENDING, attempts=0, available_at=now, leased_until=None, lease_token=None,
                done_at=None, created_at=now, updated_at=now)
        .returning(OutboxMessage.ref_id)
        .execution_options(synchronize_session=False)).scalars().all()
    if rows:
        # The scores wait again (the seven days count from now: the row's created_at).
        session.execute(
            update(Score).where(Score.id.in_(rows), Score.delivery == FAILED_SCORE)
            .values(delivery=None)
            .execution_options(synchronize_session=False))
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
    return len(rows)


def lag(session: Session, *, now: datetime | None = None, topic: str = TOPIC_SCORE) -> dict[str, Any]:
    """Delivery lag for operators: rows per status, the oldest score still waiting (seconds),
    the rows that are due now but not leased (a backlog no worker is taking)."""
    now = now or utcnow()
    counts = {PENDING: 0, SENT: 0, FAILED: 0}
    for status, count in session.execute(
        select(OutboxMessage.status, func.count()).where(OutboxMessage.topic == topic)
        .group_by(OutboxMessage.status)
    ):
        counts[status] = int(count)
    # Every score not yet sent, superseded or failed is waiting on a pending row.
    oldest = session.execute(select(func.min(Score.created_at)).where(Score.delivery.is_(None))).scalar()
    due = session.execute(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.topic == topic, OutboxMessage.status == PENDING,
               OutboxMessage.available_at <= now,
               or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until < now))).scalar()
    return {
        "pending": counts[PENDING],
        "sent": counts[SENT],
        "failed": counts[FAILED],
        "due": int(due or 0),
        "oldest_pending_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else None,
    }
