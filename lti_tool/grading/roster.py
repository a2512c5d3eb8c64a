"""The instructor's view of a course: the class list from Names and Role Provisioning Services
(https://www.imsglobal.org/spec/lti-nrps/v2p0), cached on the course, joined with each learner's
progress and the delivery state of their grade.

- The class list is fetched with the registration's service token (`wiring.service_connector`),
  `Accept: application/vnd.ims.lti-nrps.v2.membershipcontainer+json`, following the
  `Link: <…>; rel="next"` header (NRPS §2.4.2) through the guarded HTTP path. It is cached on
  `Course.roster` and refreshed on demand or when older than `ROSTER_MAX_AGE`.
- When the platform offers no NRPS, refuses it, or the registration is not trusted for services,
  the view falls back to the learners the tool has seen in the course, with a notice: never a 5xx.
- Progress for the whole course is computed in a fixed number of queries (learners, attempts,
  reflection answers, newest scores, outbox rows, reviews): none per learner.
- Scope: everything is filtered on the viewer's course *and* platform; a learner who is not a
  member of that course is unknown here (`LearnerNotFound`, 404).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from lti_tool import http
from lti_tool.cases import engine, progress, service
from lti_tool.cases.engine import CaseState
from lti_tool.cases.model import Level
from lti_tool.db import utcnow
from lti_tool.errors import Bilingual, ToolError
from lti_tool.launch.context import decide_role
from lti_tool.models import (
    Attempt,
    Course,
    LaunchRecord,
    Learner,
    OutboxMessage,
    ReflectionAnswer,
    ReflectionReview,
    ResourceLink,
    Score,
)

log = logging.getLogger(__name__)

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
ROSTER_MAX_AGE = timedelta(hours=1)
MAX_PAGES = 200  # a platform whose "next" links never end does not hold the page forever
MAX_FIELD = 255
SCORE_TOPIC = "ags.score"

Source = Literal["nrps", "cache", "seen"]
# Why the page shows a notice about the class list (the template words it).
Notice = Literal["no_course", "nrps_not_offered", "nrps_failed", "refresh_failed",
                 "service_not_allowed"]
Status = Literal["not_started", "in_progress", "completed"]
STATUS_FILTERS = ("not_started", "in_progress", "completed", "failed_delivery")


class LearnerNotFound(ToolError):
    """A learner id that is not a member of the viewer's course: the same answer as an id that
    does not exist, so ids reveal nothing about other courses."""

    status = 404
    code = "learner_not_found"
    title = Bilingual("Personne introuvable", "Learner not found")


def learner_not_found(learner_id: int) -> LearnerNotFound:
    return LearnerNotFound(
        Bilingual("Cette personne ne fait pas partie de votre cours.",
                  "This person is not a member of your course."),
        detail=f"learner {learner_id} not in the viewer's course")


# --- the class list (NRPS) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: str
    name: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    roles: tuple[str, ...]
    status: str = "Active"

    @property
    def is_learner(self) -> bool:
        return self.status.lower() == "active" and bool(self.roles) and \
            decide_role(list(self.roles)) == "learner"

    def to_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "name": self.name, "given_name": self.given_name,
                "family_name": self.family_name, "email": self.email, "roles": list(self.roles),
                "status": self.status}

    @classmethod
    def from_json(cls, data: Any) -> Member | None:
        """A member from the platform's JSON (or our cache); None when it has no usable user id."""
        if not isinstance(data, dict):
            return None
        user_id = data.get("user_id")
        if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_FIELD:
            return None
        roles = data.get("roles")
        return cls(
            user_id=user_id, name=_text(data.get("name")), given_name=_text(data.get("given_name")),
            family_name=_text(data.get("family_name")), email=_text(data.get("email")),
            roles=tuple(r for r in roles if isinstance(r, str))[:20] if isinstance(roles, list) else (),
            status=_text(data.get("status")) or "Active")


def _text(value: Any) -> str | None:
    return value[:MAX_FIELD] if isinstance(value, str) and value else None


class RosterUnavailable(Exception):
    """The class list could not be fetched; `reason` is for the log (never the remote body)."""

    def __init__(self, reason: str, *, not_allowed: bool = False) -> None:
        super().__init__(reason)
        self.not_allowed = not_allowed


TokenSource = Callable[[Sequence[str]], str]


def fetch_members(url: str, access_token: TokenSource, *,
                  policy: http.OutboundPolicy | None = None) -> list[Member]:
    """Every page of the membership container at `url`. Raises RosterUnavailable.

    The bearer token is only ever sent to the origin of `url`: a "next" link elsewhere is refused
    (a platform cannot make the tool hand its token to another host)."""
    origin = _origin(url)
    try:
        token = access_token([NRPS_SCOPE])
    except Exception as exc:  # the connector's own errors (pylti1p3, HTTP): no body on the page
        raise RosterUnavailable(f"access token refused: {type(exc).__name__}: {exc}") from exc
    headers = {"Authorization": f"Bearer {token}", "Accept": NRPS_MEDIA_TYPE}
    members: list[Member] = []
    next_url: str | None = url
    pages = 0
    while next_url:
        pages += 1
        if pages > MAX_PAGES:
            raise RosterUnavailable(f"more than {MAX_PAGES} pages at {url}")
        if _origin(next_url) != origin:
            raise RosterUnavailable(f"next page on another origin: {next_url}")
        try:
            response = http.request("GET", next_url, headers=headers, policy=policy)
            body = response.json()
        except http.HttpError as exc:
            log.warning("NRPS %s failed: %s (status %s) %s", next_url, exc, exc.status, exc.body)
            raise RosterUnavailable(f"{exc} (status {exc.status})") from exc
        except ValueError as exc:
            raise RosterUnavailable(f"{next_url}: not JSON ({type(exc).__name__})") from exc
        page = body.get("members") if isinstance(body, dict) else None
        if not isinstance(page, list):
            raise RosterUnavailable(f"{next_url}: no members list")
        members.extend(m for m in (Member.from_json(item) for item in page) if m is not None)
        next_url = response.links.get("next", {}).get("url")
    return members


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


@dataclass(frozen=True)
class Roster:
    members: tuple[Member, ...]
    source: Source
    fetched_at: datetime | None
    notice: Notice | None = None


def course_roster(session: Session, course: Course | None, *, connect: Callable[[], TokenSource],
                  refresh: bool = False, now: datetime | None = None,
                  nrps_url: str | None = None) -> Roster:
    """The course's class list: the cache while fresh, else NRPS (stored on the course), else the
    learners seen. `connect` builds the token source (raises ToolError `ServiceNotAllowed` for a
    registration not trusted for services). Flushes, never commits."""
    if course is None:
        return Roster((), "seen", None, "no_course")
    now = now or utcnow()
    cached = _cached_members(course)
    fresh = (course.roster_fetched_at is not None and cached is not None
             and now - course.roster_fetched_at < ROSTER_MAX_AGE)
    if fresh and not refresh:
        return Roster(tuple(cached or ()), "cache", course.roster_fetched_at)
    url = course.nrps_url or nrps_url
    if not url:
        return Roster((), "seen", None, "nrps_not_offered")
    try:
        try:
            token_source = connect()
        except ToolError as exc:  # ServiceNotAllowed: the operator has to approve the platform
            raise RosterUnavailable(exc.detail or exc.code, not_allowed=True) from exc
        members = fetch_members(url, token_source)
    except RosterUnavailable as exc:
        log.warning("class list of course %s not refreshed: %s", course.id, exc)
        notice: Notice = "service_not_allowed" if exc.not_allowed else (
            "refresh_failed" if cached is not None else "nrps_failed")
        if cached is not None:
            return Roster(tuple(cached), "cache", course.roster_fetched_at, notice)
        return Roster((), "seen", None, notice)
    course.roster = [m.to_json() for m in members]
    course.roster_fetched_at = now
    if course.nrps_url is None:
        course.nrps_url = url
    session.flush()
    return Roster(tuple(members), "nrps", now)


def cached_roster(course: Course) -> Roster | None:
    """The stored class list, whatever its age (pages that must not call the platform)."""
    cached = _cached_members(course)
    return Roster(tuple(cached), "cache", course.roster_fetched_at) if cached is not None else None


def _cached_members(course: Course) -> list[Member] | None:
    if course.roster is None or not isinstance(course.roster, list):
        return None
    return [m for m in (Member.from_json(item) for item in course.roster) if m is not None]


# --- who is in the course -----------------------------------------------------------------------


def course_link_ids(session: Session, course_id: int, platform_id: int) -> list[int]:
    return list(session.scalars(select(ResourceLink.id).where(
        ResourceLink.course_id == course_id, ResourceLink.platform_id == platform_id)))


@dataclass(frozen=True)
class Membership:
    """The course's learners: `learners` by id (rows of the viewer's platform only), and the class
    list members the tool has never seen (no learner row yet)."""

    learners: Mapping[int, Learner]
    in_roster: frozenset[int]
    unseen: tuple[Member, ...]


def course_membership(session: Session, *, course_id: int, platform_id: int, roster: Roster,
                      exclude: Iterable[int] = ()) -> Membership:
    """Learners of the class list (matched on the platform's `sub`) and learners seen in the
    course's resource links (attempts, scores, launches as a learner). Instructors — the class
    list's, those who launched as instructors, the viewer — are left out."""
    links = course_link_ids(session, course_id, platform_id)
    roster_learners = {m.user_id: m for m in roster.members if m.is_learner}
    not_learners = {m.user_id for m in roster.members if not m.is_learner}
    seen: set[int] = set()
    instructors: set[int] = set(exclude)
    if links:
        seen.update(session.scalars(select(Attempt.learner_id).where(
            Attempt.resource_link_id.in_(links)).distinct()))
        seen.update(session.scalars(select(Score.learner_id).where(
            Score.resource_link_id.in_(links)).distinct()))
        # Launches not yet expired: a learner who opened the activity but has not started a case.
        launches = session.execute(
            select(LaunchRecord.learner_id, LaunchRecord.claims)
            .where(LaunchRecord.resource_link_id.in_(links), LaunchRecord.platform_id == platform_id)
            .order_by(LaunchRecord.created_at))
        for learner_id, claims in launches:
            roles = claims.get("https://purl.imsglobal.org/spec/lti/claim/roles") \
                if isinstance(claims, dict) else None
            if isinstance(roles, list) and decide_role(roles) == "instructor":
                instructors.add(learner_id)
                seen.discard(learner_id)
            else:
                seen.add(learner_id)
    rows: list[Learner] = []
    if roster_learners or not_learners:
        rows += session.scalars(select(Learner).where(
            Learner.platform_id == platform_id,
            Learner.sub.in_(list(roster_learners) + list(not_learners))))
    if seen:
        rows += session.scalars(select(Learner).where(
            Learner.platform_id == platform_id, Learner.id.in_(seen)))
    learners: dict[int, Learner] = {}
    in_roster: set[int] = set()
    for row in rows:
        if row.sub in not_learners or row.id in instructors:
            continue
        learners[row.id] = row
        if row.sub in roster_learners:
            in_roster.add(row.id)
    known_subs = {row.sub for row in learners.values()}
    unseen = tuple(m for sub, m in roster_learners.items() if sub not in known_subs)
    return Membership(learners, frozenset(in_roster), unseen)


# --- progress -----------------------------------------------------------------------------------

Delivery = Literal["none", "sent", "waiting", "failed"]
ReflectionState = Literal["locked", "open", "submitted", "accepted", "returned"]


@dataclass(frozen=True)
class CaseCell:
    case_id: str
    status: str  # service.Status
    score: float | None  # best attempt's score (0..1)
    critical: int  # critical errors in the attempt that counts
    unresolved: int
    attempts: int


@dataclass(frozen=True)
class GradeDelivery:
    state: Delivery
    score_given: float | None = None
    score_maximum: float | None = None
    activity_progress: str | None = None
    grading_progress: str | None = None
    at: datetime | None = None  # sent at, or the score's time while waiting
    lms_status: int | None = None
    lms_message: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class LearnerRow:
    learner_id: int | None  # None: in the class list, never launched the activity
    user_id: str
    name: str
    email: str | None
    in_roster: bool
    status: Status
    cases: tuple[CaseCell, ...]
    level_grade: float
    reflections: ReflectionState
    reflections_at: datetime | None
    delivery: GradeDelivery
    review: ReflectionReview | None = None
    sort_key: tuple[str, ...] = field(default=(), compare=False)

    @property
    def critical_total(self) -> int:
        return sum(c.critical for c in self.cases)


def display_name(learner: Learner | Member) -> str:
    if isinstance(learner, Learner):
        user_id = learner.sub
    else:
        user_id = learner.user_id
    full = " ".join(p for p in (learner.given_name, learner.family_name) if p)
    return learner.name or full or user_id


def _sort_key(name: str, family: str | None, given: str | None) -> tuple[str, ...]:
    return ((family or name).casefold(), (given or "").casefold(), name.casefold())


def course_progress(session: Session, level: Level, membership: Membership, *,
                    resource_link_id: int | None, course_id: int,
                    activity: str = "level") -> list[LearnerRow]:
    """One row per learner of the course, sorted by family name; six queries whatever the size."""
    ids = list(membership.learners)
    attempts: dict[int, list[Attempt]] = {i: [] for i in ids}
    answers: dict[int, dict[str, ReflectionAnswer]] = {i: {} for i in ids}
    newest: dict[int, Score] = {}
    outbox: dict[int, OutboxMessage] = {}
    reviews: dict[int, ReflectionReview] = {}
    if ids:
        for attempt in session.scalars(select(Attempt).where(Attempt.learner_id.in_(ids))
                                       .order_by(Attempt.case_id, Attempt.number)):
            attempts[attempt.learner_id].append(attempt)
        for answer in session.scalars(select(ReflectionAnswer).where(
                ReflectionAnswer.learner_id.in_(ids))):
            answers[answer.learner_id][answer.question_id] = answer
        for review in latest_reviews(session, ids, course_id).values():
            reviews[review.learner_id] = review
        if resource_link_id is not None:
            newest = newest_scores(session, ids, resource_link_id)
            keys = {score_key(i, resource_link_id): i for i in ids}
            for message in session.scalars(select(OutboxMessage).where(
                    OutboxMessage.topic == SCORE_TOPIC, OutboxMessage.key.in_(list(keys)))):
                outbox[keys[message.key]] = message
    rows = []
    for learner_id, learner in membership.learners.items():
        name = display_name(learner)
        rows.append(_row(level, learner_id, learner.sub, name, learner.email,
                         learner_id in membership.in_roster, attempts[learner_id],
                         answers[learner_id], newest.get(learner_id), outbox.get(learner_id),
                         reviews.get(learner_id), activity,
                         _sort_key(name, learner.family_name, learner.given_name)))
    for member in membership.unseen:
        name = display_name(member)
        rows.append(_row(level, None, member.user_id, name, member.email, True, [], {}, None, None,
                         None, activity, _sort_key(name, member.family_name, member.given_name)))
    rows.sort(key=lambda r: r.sort_key)
    return rows


def score_key(learner_id: int, resource_link_id: int) -> str:
    return f"{learner_id}:{resource_link_id}"


def newest_scores(session: Session, learner_ids: Sequence[int],
                  resource_link_id: int) -> dict[int, Score]:
    newest = (select(Score.learner_id, func.max(Score.timestamp).label("ts"))
              .where(Score.resource_link_id == resource_link_id, Score.learner_id.in_(learner_ids))
              .group_by(Score.learner_id).subquery())
    rows = session.scalars(select(Score).join(newest, and_(
        Score.learner_id == newest.c.learner_id, Score.timestamp == newest.c.ts))
        .where(Score.resource_link_id == resource_link_id).order_by(Score.id))
    return {score.learner_id: score for score in rows}


def latest_reviews(session: Session, learner_ids: Sequence[int],
                   course_id: int) -> dict[int, ReflectionReview]:
    newest: dict[int, ReflectionReview] = {}
    for review in session.scalars(select(ReflectionReview).where(
            ReflectionReview.learner_id.in_(learner_ids), ReflectionReview.course_id == course_id)
            .order_by(ReflectionReview.created_at, ReflectionReview.id)):
        newest[review.learner_id] = review
    return newest


def _row(level: Level, learner_id: int | None, user_id: str, name: str, email: str | None,
         in_roster: bool, attempts: list[Attempt], answers: Mapping[str, ReflectionAnswer],
         score: Score | None, message: OutboxMessage | None, review: ReflectionReview | None,
         activity: str, sort_key: tuple[str, ...]) -> LearnerRow:
    per_case = service.level_progress(level, attempts)
    cells = []
    bests: dict[str, CaseState] = {}
    for case_id, item in per_case.items():
        critical = unresolved = 0
        best_score = None
        if item.best is not None:
            state = CaseState.from_dict(item.best.state)
            bests[case_id] = state
            errors = engine.critical_errors(state)
            critical, unresolved = len(errors), sum(1 for e in errors if not e.resolved)
            best_score = item.best.score
        cells.append(CaseCell(case_id, item.status, best_score, critical, unresolved, item.attempts))
    submitted = service.reflections_submitted(level, answers)
    submitted_times = [a.submitted_at for a in answers.values() if a.submitted_at is not None]
    last_submitted = max(submitted_times) if submitted_times else None
    reflections: ReflectionState
    if submitted:
        reflections = "submitted"
        if review is not None and last_submitted is not None and review.created_at >= last_submitted:
            reflections = "accepted" if review.status == "accepted" else "returned"
    else:
        passed = progress.level_cases_passed(level.cases, bests)
        reflections = "open" if len(passed) == len(level.cases) else "locked"
    if not attempts:
        status: Status = "not_started"
    elif activity in level.cases:
        status = "completed" if per_case[activity].best is not None else "in_progress"
    else:
        done = reflections in ("submitted", "accepted")
        status = "completed" if done else "in_progress"
    return LearnerRow(
        learner_id=learner_id, user_id=user_id, name=name, email=email, in_roster=in_roster,
        status=status, cases=tuple(cells), level_grade=round(progress.level_grade(level.cases, bests), 2),
        reflections=reflections, reflections_at=last_submitted,
        delivery=grade_delivery(score, message), review=review, sort_key=sort_key)


def grade_delivery(score: Score | None, message: OutboxMessage | None) -> GradeDelivery:
    """Where the newest score of a learner and resource link stands: sent, waiting (pending in the
    outbox, retrying), or failed with the LMS's answer (recorded by the delivery, AGS §3.4)."""
    if score is None:
        return GradeDelivery("none")
    state: Delivery
    if message is not None and message.status == "failed":
        state = "failed"
    elif message is not None and message.status == "sent" and message.ref_id == score.id:
        state = "sent"
    elif score.delivery == "failed":
        state = "failed"
    elif score.delivery in ("sent", "superseded"):
        state = "sent"
    else:
        state = "waiting"
    status = score.lms_status if score.lms_status is not None else (
        message.last_status if message is not None else None)
    return GradeDelivery(
        state=state, score_given=score.score_given, score_maximum=score.score_maximum,
        activity_progress=score.activity_progress, grading_progress=score.grading_progress,
        at=score.delivered_at if state == "sent" and score.delivered_at else score.timestamp,
        lms_status=status if state == "failed" else None,
        lms_message=(score.lms_message or "")[:300] or None if state == "failed" else None,
        attempts=message.attempts if message is not None else 0)


def matches(row: LearnerRow, status: str | None) -> bool:
    if status == "failed_delivery":
        return row.delivery.state == "failed"
    if status in ("not_started", "in_progress", "completed"):
        return row.status == status
    return True


# --- a learner's detail ---------------------------------------------------------------------------


def member_or_404(membership: Membership, learner_id: int) -> Learner:
    learner = membership.learners.get(learner_id)
    if learner is None:
        raise learner_not_found(learner_id)
    return learner
