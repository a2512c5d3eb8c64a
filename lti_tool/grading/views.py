"""The instructor's view (issue 7, item 4): where an instructor's launch lands.

- `/instructor`: the course's class list (NRPS, cached; roster.py) joined with each learner's
  progress and grade delivery, a status filter (plain GET form) and a CSV export;
- `/instructor/learners/<id>`: one learner's path through each case, reflections with their
  submission history, the scores sent, and — when the deployment switches review on — the form to
  accept or return the reflections (review.py);
- `POST /instructor/roster/refresh`: fetch the class list again.

Server-rendered, no JavaScript needed; every link and form carries the page token. Strictly
scoped: the course and platform come from the token (checked live by `require_viewer`), every
query filters on both, and a learner outside that course is a 404.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.cases import engine, service
from lti_tool.cases.loader import app_level
from lti_tool.cases.model import Level
from lti_tool.db import get_session
from lti_tool.errors import AccessDenied, Bilingual, ToolError
from lti_tool.grading import review as reviews
from lti_tool.grading import roster as rosters
from lti_tool.grading.roster import LearnerRow, Roster
from lti_tool.i18n import current_lang
from lti_tool.launch import claims as c
from lti_tool.launch.registry import find_registration
from lti_tool.models import (
    AttemptEvent,
    Course,
    Deployment,
    LaunchRecord,
    Platform,
    ResourceLink,
    Score,
)
from lti_tool.page_token import require_viewer

bp = Blueprint("grading", __name__)

DISPLAY_TZ = ZoneInfo("America/Toronto")  # Quebec time, as the player shows it
BABEL_LOCALES = {"fr": "fr_CA", "en": "en_CA"}
REFRESH_RESULTS = ("ok", "nrps_not_offered", "nrps_failed", "refresh_failed", "service_not_allowed")
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- request plumbing ---------------------------------------------------------------------------


def _level() -> Level:
    return app_level()


def _require_instructor() -> None:
    if not g.viewer.is_instructor:
        raise AccessDenied(
            Bilingual("Cette page est réservée aux personnes qui enseignent le cours.",
                      "This page is for the course's instructors only."),
            detail="learner token on the instructor view")


@dataclass(frozen=True)
class Scope:
    """The viewer's course and resource link, both of the viewer's platform (or None)."""

    session: Session
    course: Course | None
    link: ResourceLink | None

    @property
    def course_id(self) -> int | None:
        return self.course.id if self.course is not None else None


def _scope() -> Scope:
    _require_instructor()
    session = get_session()
    viewer = g.viewer
    course = session.get(Course, viewer.course_id) if viewer.course_id is not None else None
    if course is not None and course.platform_id != viewer.platform_id:
        course = None  # check_live already refuses this token; never read another tenant's row
    link = session.get(ResourceLink, viewer.resource_link_pk) \
        if viewer.resource_link_pk is not None else None
    if link is not None and link.platform_id != viewer.platform_id:
        link = None
    return Scope(session, course, link)


def _launch_nrps_url(session: Session) -> str | None:
    """The class list URL of the viewer's own launch (while its record lives), for a course
    stored before the tool kept `Course.nrps_url`."""
    record = session.get(LaunchRecord, g.viewer.launch_id)
    if record is None or record.platform_id != g.viewer.platform_id:
        return None
    claim = record.claims.get(c.NRPS) if isinstance(record.claims, dict) else None
    url = claim.get("context_memberships_url") if isinstance(claim, dict) else None
    return url if isinstance(url, str) and url else None


def _connect(session: Session) -> rosters.TokenSource:
    """The registration's token source; `ServiceNotAllowed` for one not trusted for services."""
    from lti_tool.launch import wiring
    from lti_tool.launch.service_connector import ServiceNotAllowed

    platform = session.get(Platform, g.viewer.platform_id)
    registration = find_registration(session, platform.issuer, platform.client_id) \
        if platform is not None else None
    if registration is None:
        raise ServiceNotAllowed(Bilingual("Inscription introuvable.", "Registration not found."),
                                detail=f"no registration for platform {g.viewer.platform_id}")
    return wiring.service_connector(registration).get_access_token


def _roster(scope: Scope, *, refresh: bool = False, network: bool = True) -> Roster:
    if not network and scope.course is not None:
        cached = rosters.cached_roster(scope.course)
        if cached is not None:
            return cached
    return rosters.course_roster(
        scope.session, scope.course, connect=lambda: _connect(scope.session), refresh=refresh,
        nrps_url=_launch_nrps_url(scope.session))


def _membership(scope: Scope, roster: Roster) -> rosters.Membership:
    if scope.course is None:
        return rosters.Membership({}, frozenset(), ())
    return rosters.course_membership(scope.session, course_id=scope.course.id,
                                     platform_id=g.viewer.platform_id, roster=roster,
                                     exclude=(g.viewer.learner_id,))


def _rows(scope: Scope, roster: Roster) -> list[LearnerRow]:
    if scope.course is None:
        return []
    return rosters.course_progress(
        scope.session, _level(), _membership(scope, roster),
        resource_link_id=scope.link.id if scope.link is not None else None,
        course_id=scope.course.id, activity=scope.link.activity if scope.link else "level")


def _status_filter() -> str | None:
    status = request.args.get("status")
    return status if status in rosters.STATUS_FILTERS else None


def _url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, t=g.page_token, **values)


def _review_on(scope: Scope) -> bool:
    if scope.link is None:
        return False
    deployment = scope.session.get(Deployment, scope.link.deployment_id)
    return bool(deployment is not None and deployment.platform_id == g.viewer.platform_id
                and deployment.reflection_review)


def _explorer_required(scope: Scope) -> bool:
    """Whether the badge also requires the Explorer level on the viewer's deployment (issue 8)."""
    if scope.link is None:
        return False
    deployment = scope.session.get(Deployment, scope.link.deployment_id)
    return bool(deployment is not None and deployment.platform_id == g.viewer.platform_id
                and deployment.require_explorer)


@bp.after_request
def _no_store(response: Any) -> Any:
    # Learners' personal data and a token in every link: never cached.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- template helpers ---------------------------------------------------------------------------


def _babel_locale() -> str:
    return BABEL_LOCALES.get(current_lang(), "fr_CA")


def datetime_label(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(DISPLAY_TZ)
    return (f"{format_date(local, 'medium', locale=_babel_locale())} "
            f"{format_time(local, 'short', tzinfo=DISPLAY_TZ, locale=_babel_locale())}")


def percent(score: float | None) -> str:
    if score is None:
        return ""
    whole = int(round(score * 100, 6) // 1)  # rounded down: 79.9 % never shows as 80 %
    return _("%(percent)d%%", percent=whole)


def grade_label(value: float | None) -> str:
    if value is None:
        return ""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if current_lang() == "fr" else text


@bp.context_processor
def _helpers() -> dict[str, Any]:
    level = _level()
    return {"level": level, "datetime_label": datetime_label, "percent": percent,
            "grade_label": grade_label, "tr": lambda text: text.get(current_lang()) if text else "",
            "labels": _labels(), "page_url": _url}


def _labels() -> dict[str, str]:
    return {
        "not_started": _("Not started"), "in_progress": _("In progress"),
        "completed": _("Completed"), "passed": _("Passed"), "redo": _("To redo"),
        "failed_delivery": _("Grade not delivered"),
        "locked": _("Not open yet"), "open": _("Not submitted"), "submitted": _("Submitted"),
        "accepted": _("Accepted"), "returned": _("Returned"),
        "none": _("Nothing sent yet"), "sent": _("Sent"), "waiting": _("Waiting to be sent"),
        "failed": _("Failed"),
    }


# --- pages --------------------------------------------------------------------------------------


@bp.get("/instructor")
@require_viewer
def roster() -> Any:
    scope = _scope()
    class_list = _roster(scope)
    rows = _rows(scope, class_list)
    status = _status_filter()
    shown = [r for r in rows if rosters.matches(r, status)]
    refreshed = request.args.get("refreshed")
    return render_template(
        "grading/roster.html", course=scope.course, link=scope.link, roster=class_list,
        rows=shown, total=len(rows), status=status, filters=rosters.STATUS_FILTERS,
        refreshed=refreshed if refreshed in REFRESH_RESULTS else None,
        review_on=_review_on(scope))


@bp.post("/instructor/roster/refresh")
@require_viewer
def refresh() -> Any:
    scope = _scope()
    class_list = _roster(scope, refresh=True)
    result = class_list.notice if class_list.notice else "ok"
    return redirect(_url("grading.roster", refreshed=result), code=303)


@bp.get("/instructor/export.csv")
@require_viewer
def export() -> Any:
    scope = _scope()
    rows = [r for r in _rows(scope, _roster(scope, network=False))
            if rosters.matches(r, _status_filter())]
    body = "\ufeff" + roster_csv(_level(), rows)  # the BOM: Excel then reads UTF-8
    return Response(body.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="sexto-progress.csv"'})


def csv_cell(value: Any) -> str:
    """A spreadsheet must not run what a learner typed as their name: a cell starting like a
    formula is prefixed with an apostrophe (OWASP, CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_START) else text


def roster_csv(level: Level, rows: list[LearnerRow]) -> str:
    labels = _labels()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = [_("Name"), _("Email"), _("Platform user id"), _("Status")]
    for case in level.cases.values():
        title = case.title.get(current_lang())
        header += [f"{title} — {_('status')}", f"{title} — {_('best score')}",
                   f"{title} — {_('critical errors')}"]
    header += [_("Level grade (out of 100)"), _("Reflections"), _("Reflections submitted on"),
               _("Grade sent to the LMS"), _("LMS answer"), _("Grade delivery time")]
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        cells: list[Any] = [row.name, row.email or "", row.user_id, labels[row.status]]
        for cell in row.cases:
            cells += [labels.get(cell.status, cell.status), percent(cell.score), cell.critical]
        delivery = row.delivery
        answer = " ".join(p for p in (str(delivery.lms_status or ""), delivery.lms_message or "") if p)
        cells += [grade_label(row.level_grade), labels[row.reflections],
                  datetime_label(row.reflections_at), labels[delivery.state], answer,
                  datetime_label(delivery.at)]
        writer.writerow([csv_cell(v) for v in cells])
    return out.getvalue()


@bp.get("/instructor/learners/<int:learner_id>")
@require_viewer
def learner(learner_id: int) -> Any:
    scope = _scope()
    if scope.course is None:
        raise rosters.learner_not_found(learner_id)
    level = _level()
    membership = _membership(scope, _roster(scope, network=False))
    person = rosters.member_or_404(membership, learner_id)
    session = scope.session
    attempts = service.learner_attempts(session, person.id)
    events: dict[int, list[AttemptEvent]] = {}
    if attempts:
        for event in session.scalars(select(AttemptEvent).where(
                AttemptEvent.attempt_id.in_([a.id for a in attempts]))
                .order_by(AttemptEvent.attempt_id, AttemptEvent.seq)):
            events.setdefault(event.attempt_id, []).append(event)
    row = rosters.course_progress(
        session, level, rosters.Membership({person.id: person}, membership.in_roster, ()),
        resource_link_id=scope.link.id if scope.link else None, course_id=scope.course.id,
        activity=scope.link.activity if scope.link else "level")[0]
    links = rosters.course_link_ids(session, scope.course.id, g.viewer.platform_id)
    scores = list(session.scalars(select(Score).where(
        Score.learner_id == person.id, Score.resource_link_id.in_(links))
        .order_by(Score.timestamp.desc(), Score.id.desc()).limit(50))) if links else []
    link_titles = {link.id: link.title for link in session.scalars(
        select(ResourceLink).where(ResourceLink.id.in_(links)))} if links else {}
    review_on = _review_on(scope)
    return render_template(
        "grading/learner.html", course=scope.course, person=person, row=row,
        attempts=attempts, events=events, paths=_paths(level, attempts, events),
        answers=service.reflection_answers(session, person.id),
        history=service.submission_history(session, person.id),
        reviews=reviews.review_history(session, person.id, scope.course.id),
        scores=scores, link_titles=link_titles, review_on=review_on,
        can_review=review_on and row.reflections in ("submitted", "accepted", "returned"),
        reviewed=request.args.get("reviewed") if request.args.get("reviewed") in (
            "accepted", "returned") else None,
        explorer_required=_explorer_required(scope),
        explorer_done=request.args.get("explorer") if request.args.get("explorer") in (
            "recorded", "undone") else None,
        attestation_url=_url("attestation.theirs", learner_id=person.id)
        if "attestation.theirs" in current_app.view_functions else None)


@dataclass(frozen=True)
class PathStep:
    seq: int
    decision: str  # the prompt in the page language
    ref: str
    choice: str
    points: int | None
    critical: bool
    retry: bool


def _paths(level: Level, attempts: list[Any], events: dict[int, list[AttemptEvent]]
           ) -> dict[int, list[PathStep]]:
    """Each attempt's choices in order, with the points counted (the engine's event)."""
    lang = current_lang()
    paths: dict[int, list[PathStep]] = {}
    for attempt in attempts:
        case = level.cases.get(attempt.case_id)
        steps = []
        for event in events.get(attempt.id, []):
            made = next((e for e in event.events if isinstance(e, dict)
                         and e.get("type") == "choice_made"), {})
            node = case.nodes.get(event.node) if case is not None else None
            decision = node if isinstance(node, engine.Decision) else None
            choice = decision.choice(event.choice) if decision is not None else None
            steps.append(PathStep(
                seq=event.seq, decision=decision.prompt.get(lang) if decision else event.node,
                ref=decision.ref if decision else "",
                choice=choice.text.get(lang) if choice else event.choice,
                points=made.get("points") if isinstance(made.get("points"), int) else None,
                critical=bool(made.get("critical")), retry=bool(made.get("retry"))))
        paths[attempt.id] = steps
    return paths


@bp.post("/instructor/learners/<int:learner_id>/review")
@require_viewer
def review(learner_id: int) -> Any:
    scope = _scope()
    if scope.course is None:
        raise rosters.learner_not_found(learner_id)
    membership = _membership(scope, _roster(scope, network=False))
    person = rosters.member_or_404(membership, learner_id)
    if not _review_on(scope):
        raise reviews.ReviewOff(
            Bilingual("La révision des réflexions n'est pas activée pour ce déploiement.",
                      "Reflection review is not switched on for this deployment."),
            detail=f"review POST for learner {learner_id} with review off")
    links = reviews.level_links(scope.session, person.id, scope.course.id, g.viewer.platform_id,
                                scope.link)
    decision = request.form.get("decision", "")
    reviews.review_reflections(
        scope.session, _level(), learner=person, course_id=scope.course.id,
        reviewer_id=g.viewer.learner_id, decision=decision,
        comment=request.form.get("comment", ""), link_ids=links)
    return redirect(_url("grading.learner", learner_id=person.id, reviewed=decision), code=303)


class ExplorerNotRequired(AccessDenied):
    code = "explorer_not_required"
    title = Bilingual("Niveau Explorateur non exigé", "Explorer level not required")


@bp.post("/instructor/learners/<int:learner_id>/explorer")
@require_viewer
def explorer(learner_id: int) -> Any:
    """Record (`completed=1`) or undo (`completed=0`) the learner's Explorer level; only a learner
    of the instructor's course, only where the deployment requires the level."""
    from lti_tool.badges import explorer as explorers
    from lti_tool.db import utcnow

    scope = _scope()
    if scope.course is None:
        raise rosters.learner_not_found(learner_id)
    membership = _membership(scope, _roster(scope, network=False))
    person = rosters.member_or_404(membership, learner_id)
    if not _explorer_required(scope):
        raise ExplorerNotRequired(
            Bilingual("Le niveau Explorateur n'est pas exigé pour ce déploiement.",
                      "The Explorer level is not required for this deployment."),
            detail=f"explorer POST for learner {learner_id} where it is not required")
    completed = request.form.get("completed")
    if completed not in ("0", "1"):
        raise ToolError(
            Bilingual("Demande incomplète.", "Incomplete request."), code="bad_explorer",
            detail=f"explorer POST with completed={str(completed)[:20]!r}")
    explorers.set_explorer(scope.session, person, completed=completed == "1", now=utcnow())
    return redirect(_url("grading.learner", learner_id=person.id,
                         explorer="recorded" if completed == "1" else "undone"), code=303)
