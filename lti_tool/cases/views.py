"""The case player: level home, case pages (decision, consequence, ending), debrief, reflections.

Server-rendered pages inside the LMS iframe (DESIGN.md §2): no cookies, every link and form carries
the page token `t` (lti_tool/page_token.py), and every state change is a POST answered by a 303 to a
GET page, so reloading never answers twice. Views are thin: service.py stores, the engine decides,
debrief.py derives. Each response says how long the view took in a `Server-Timing` header (the
commit that follows in db.py is not included; bench/cases.py reads gunicorn's own timing for that).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from lti_tool.badges.awards import award_if_eligible
from lti_tool.cases import blank_home, engine, service
from lti_tool.cases import debrief as debrief_data
from lti_tool.cases.engine import CaseState
from lti_tool.cases.loader import app_level
from lti_tool.cases.model import Case, Decision, Level, Text
from lti_tool.db import get_session, read_only, utcnow
from lti_tool.errors import Bilingual
from lti_tool.grading import service as grading
from lti_tool.grading.review import returned_comment
from lti_tool.grading.scores import ScoreToSend
from lti_tool.i18n import current_lang
from lti_tool.models import Attempt, ReflectionAnswer, Score
from lti_tool.page_token import require_viewer

bp = Blueprint("cases", __name__)

# Times are shown in Quebec time (the learners are Quebec school staff).
DISPLAY_TZ = ZoneInfo("America/Toronto")
BABEL_LOCALES = {"fr": "fr_CA", "en": "en_CA"}


# --- request plumbing ---------------------------------------------------------------------------


def _level() -> Level:
    return app_level()


def _url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, t=g.page_token, **values)


def _see(endpoint: str, **values: Any) -> Any:
    """Post/redirect/get: a 303 to the page, with the fresh page token."""
    return redirect(_url(endpoint, **values), code=303)


def _form_int(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def _single_case(level: Level) -> str | None:
    """The case id when the link opens one case (deep linking), None for the whole level."""
    activity = g.viewer.activity
    return activity if activity in level.cases else None


def _record_progress(level: Level, reason: str) -> None:
    """Grading: the learner's progress under the page's resource link becomes a score for the LMS,
    in this request's transaction. Instructors previewing and pages without a link send nothing."""
    viewer = g.viewer
    if viewer.role != grading.LEARNER or viewer.resource_link_pk is None:
        return
    session = get_session()
    # The reflections are read by grading after it takes the learner's turn (grading/service.py):
    # read earlier, a submission committed meanwhile by another request would be missed.
    grading.record_progress(session, learner_id=viewer.learner_id,
                            resource_link_id=viewer.resource_link_pk, reason=reason,
                            locale=viewer.locale, role=viewer.role, level=level)
    if reason != "started":  # the badge, once, when this progress completes the level (issue 8)
        award_if_eligible(session, viewer.learner_id, level=level, now=utcnow())


@bp.before_request
def _start_clock() -> None:
    g.cases_t0 = time.perf_counter()


@bp.after_request
def _timing(response: Any) -> Any:
    started = g.get("cases_t0")
    if started is not None:
        elapsed = (time.perf_counter() - started) * 1000
        response.headers.add("Server-Timing", f'app;dur={elapsed:.2f};desc="view"')
    # Pages carry a token and personal progress: never cached; Back re-fetches the current state.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- template helpers ---------------------------------------------------------------------------


def _paragraphs(text: Text | str | None) -> list[str]:
    value = text.get(current_lang()) if isinstance(text, Text) else (text or "")
    return [" ".join(p.split("\n")).strip() for p in re.split(r"\n\s*\n", value) if p.strip()]


def _tr(text: Text | None) -> str:
    return text.get(current_lang()) if text is not None else ""


def _percent(score: float | None) -> str:
    """Whole percent, rounded down so a score under the 80 % threshold never shows as 80 %."""
    whole = math.floor(round((score or 0.0) * 100, 6))
    return _("%(percent)d%%", percent=whole)


def _babel_locale() -> str:
    return BABEL_LOCALES.get(current_lang(), "fr_CA")


def _time_label(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return format_time(moment, "short", tzinfo=DISPLAY_TZ, locale=_babel_locale())


def _datetime_label(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(DISPLAY_TZ)
    return (f"{format_date(local, 'long', locale=_babel_locale())}, "
            f"{format_time(local, 'short', tzinfo=DISPLAY_TZ, locale=_babel_locale())}")


def _cached(name: str, *values: Hashable, caller: Callable[[], str]) -> Markup:
    """`{% call cached(name, values…) %}…{% endcall %}`: a part of a page that depends only on the
    language, the level's content (loaded once for the app's life) and `values`, never on the
    learner, the course or the tenant, rendered once per process and then reused. The level home's
    rules, reflection questions and territory notice are a third of its template's work and the
    same on every visit of every learner."""
    fragments = current_app.extensions.setdefault("cases_fragments", {})
    key = (name, current_lang(), *values)
    found = fragments.get(key)
    if found is None:
        found = fragments[key] = Markup(caller())  # noqa: S704 - rendered by an autoescaping template
    return found  # type: ignore[no-any-return]


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"tr": _tr, "paragraphs": _paragraphs, "page_url": _url, "percent": _percent,
            "time_label": _time_label, "datetime_label": _datetime_label,
            "grade_label": _grade_label, "score_summary": _score_summary,
            "status_word": _status_word, "initials": _initials, "viewer": g.get("viewer"),
            "cached": _cached}


# The status words per language: the catalogues are fixed for the process's life, and the level
# home asks six times a page (a Flask-Babel lookup costs ~7 µs).
_STATUS_WORDS: dict[str, dict[str, str]] = {}


def _status_word(status: str) -> str:
    """One vocabulary for a case's status on the level home, the ending and the debrief, apart
    from the ending titles ("À consolider", "À reprendre"), which name outcomes (issue 10)."""
    lang = current_lang()
    words = _STATUS_WORDS.get(lang)
    if words is None:
        words = _STATUS_WORDS[lang] = {
            "not_started": _("Not started"), "in_progress": _("In progress"),
            "passed": _("Passed"), "redo": _("Not passed yet")}
    return words.get(status, status)


def _initials(name: str) -> str:
    """Up to two letters for a person's badge: "Julie Bélanger" → "JB", "SPRS" → "SP"."""
    words = [w for w in re.split(r"[\s\-’']+", name) if w and w[0].isalnum()]
    if len(words) >= 2:
        return (words[0][0] + words[1][0]).upper()
    return words[0][:2].upper() if words else "?"


# --- where the learner is in a case -------------------------------------------------------------


def _remaining(case: Case, node_id: str) -> int:
    """Decisions still ahead from `node_id` on the longest path (the node itself included)."""
    memo: dict[str, int] = {}

    def depth(nid: str) -> int:
        if nid not in memo:
            node = case.nodes[nid]
            memo[nid] = (1 + max(depth(c.next) for c in node.choices)
                         if isinstance(node, Decision) else 0)
        return memo[nid]

    return depth(node_id)


def position(case: Case, state: CaseState, node_id: str | None = None) -> tuple[int, int]:
    """(k, N) for "decision k of N": k counts the decisions met, N adds the longest way ahead."""
    node_id = node_id or state.node
    met = list(dict.fromkeys(a.node for a in state.answers))
    if node_id in met:
        k = met.index(node_id) + 1
    else:
        k = len(met) + 1
    if not isinstance(case.nodes.get(node_id), Decision):
        return len(met), len(met)
    return k, k - 1 + _remaining(case, node_id)


@dataclass(frozen=True)
class Mark:
    """One decision on the case's timeline: `number` in the order met; `critical` when a critical
    error was made there (it stays in the record, resolved or not); `current` the one on screen."""

    number: int
    critical: bool
    current: bool


def timeline(state: CaseState, current: str, n: int) -> tuple[tuple[Mark, ...], int]:
    """The decisions met so far and the one on screen, then how many may still come (the longest
    way ahead, as "decision k of N" counts them)."""
    met = list(dict.fromkeys(a.node for a in state.answers))
    if current not in met:
        met.append(current)
    critical = {a.node for a in state.answers if a.critical}
    marks = tuple(Mark(i, node in critical, node == current) for i, node in enumerate(met, 1))
    return marks, max(n - len(marks), 0)


def screen_position(case: Case, row: Any) -> tuple[int, int]:
    """The position of the screen the attempt shows: a consequence not yet dismissed belongs to
    the decision just answered."""
    state = service.state_of(row, case)
    if row.feedback_seq is not None:
        return position(case, state, state.answers[row.feedback_seq - 1].node)
    return position(case, state)


# --- level home ---------------------------------------------------------------------------------


@bp.get("/level")
@require_viewer
def level_home() -> Any:
    values, shared_key = _level_home(new=g.get("new_learner") == g.viewer.learner_id)

    def page() -> str:
        return render_template("cases/level.html", **values)

    # An extra query argument would be in the language link: such a page is not shared.
    if shared_key is not None and request.args.keys() <= {"t", "lang"}:
        return blank_home.render(shared_key, page)
    return page()


def shared_level_home() -> str | None:
    """The level home from its shared page (blank_home.py) when the learner has nothing yet and
    the page is rendered already, for the launch's hot path (launch/hot_path.py, through
    launch/views._shared_page); None when the view must render it. A learner the launch has just
    created has nothing; of another one, one statement tells. Needs the `g` values
    `require_viewer` sets and an app context, no request."""
    viewer = g.viewer
    if g.get("new_learner") != viewer.learner_id and not service.has_nothing(
            get_session(), viewer.learner_id, viewer.resource_link_pk):
        return None
    _, key = _level_home(new=True)
    return blank_home.cached(key) if key is not None else None


def _level_home(*, new: bool) -> tuple[dict[str, Any], Hashable | None]:
    """The level home's template values, and the key of its shared page when the learner has
    nothing yet (no attempt, no reflection, no score): every other input the template reads.
    `new`: a learner known to have nothing (created by the launch, or `service.has_nothing`): the
    queries that could only find nothing are not run."""
    level = _level()
    session = get_session()
    attempts = [] if new else service.learner_attempts(session, g.viewer.learner_id)
    progress = service.level_progress(level, attempts)
    single = _single_case(level)
    shown = [level.cases[single]] if single else list(level.cases.values())
    positions = {}
    for case in shown:
        current = progress[case.id].current
        if current is not None:
            positions[case.id] = screen_position(case, current)
    is_open = service.reflections_open(level, attempts)
    badge_shown = _badge_shown()
    # Read once: the badge facts count the submitted answers even while the reflections are closed.
    stored = (service.reflection_answers(session, g.viewer.learner_id)
              if (is_open or badge_shown) and not new else {})
    answers = stored if is_open else {}
    submitted = [a.submitted_at for a in answers.values() if a.submitted_at is not None]
    reflections_done = service.reflections_submitted(level, answers)
    passed_count = sum(1 for p in progress.values() if p.status == "passed")
    # Complete: every case shown passed and, for the whole level, the reflections submitted.
    complete = (all(progress[c.id].status == "passed" for c in shown)
                and (single is not None or reflections_done))
    result = _result(level, attempts, answers, new=new)
    badge = _badge_conditions(level, attempts, stored) if badge_shown else None
    values = dict(
        level=level, cases=shown, progress=progress, positions=positions,
        single=single, reflections_open=is_open, result=result,
        reflections_done=reflections_done, complete=complete,
        last_submitted=max(submitted) if submitted else None, passed_count=passed_count,
        resume=next((progress[c.id].current for c in shown if progress[c.id].current), None),
        next_case=next((c for c in shown if progress[c.id].status != "passed"), None),
        badge=badge, pass_percent=int(engine.PASS_THRESHOLD * 100),
    )
    blank = not attempts and not stored and (result is None or result.newest is None)
    key = (current_lang(), single, g.viewer.role, result,
           (badge["facts"], badge["since"]) if badge else None) if blank else None
    return values, key


def _badge_shown() -> bool:
    """Learners only: an instructor's preview earns nothing. No issuer configured
    (BADGE_ISSUER=none): no badge to speak of."""
    return (g.viewer.role == grading.LEARNER
            and current_app.extensions["settings"].badge_issuer != "none")


def _badge_conditions(level: Level, attempts: Sequence[Attempt],
                      answers: Mapping[str, ReflectionAnswer]) -> Any:
    """The badge panel (issue 8): what the learner's territory means for them, and each condition
    met or not (badges/eligibility.py)."""
    from lti_tool.badges import eligibility, facts

    viewer = g.viewer
    found = facts.facts_for(get_session(), viewer.learner_id, level=level, now=utcnow(),
                            resource_link_id=viewer.resource_link_pk, attempts=attempts,
                            answers=answers)
    since = found.agreement.concluded_on if found.agreement is not None else None
    result = eligibility.evaluate(found)
    return {"result": result, "facts": found,
            "since": format_date(since, "long", locale=_babel_locale()) if since else "",
            "attestation": _attestation_link(result)}


def _attestation_link(result: Any) -> dict[str, Any] | None:
    """The learner's attestation once the level's work is done (cases passed, reflections
    submitted): the awarded one, or before the award its draft (the page marks it a draft)."""
    from lti_tool.badges import eligibility
    from lti_tool.badges.attestation import AWARDED, current_award

    done = all(c.met for c in result.conditions
               if c.code in (eligibility.CASES, eligibility.REFLECTIONS))
    if not done or "attestation.mine" not in current_app.view_functions:
        return None
    award = current_award(get_session(), g.viewer.learner_id)
    return {"url": url_for("attestation.mine", t=g.page_token, lang=current_lang()),
            "awarded": award is not None and award.status == AWARDED}


@dataclass(frozen=True)
class Result:
    """The level home's "your result" panel: the score the rules give now, and what the LMS got.

    `delivery`: "sent" (the newest score reached the LMS), "pending", "failed" (refused for good;
    the LMS's words are for the instructor and operator only), "none" (nothing recorded yet), or
    "not_gradable" (the launch gave no way to post scores: nothing is ever sent)."""

    score: ScoreToSend
    delivery: str
    newest: Score | None
    sent: Score | None


def _result(level: Level, attempts: Sequence[Attempt],
            answers: Mapping[str, ReflectionAnswer], *, new: bool = False) -> Result | None:
    viewer = g.viewer
    if viewer.role != grading.LEARNER or viewer.resource_link_pk is None:
        return None
    session = get_session()
    link = grading.link_info(session, viewer.resource_link_pk)
    if link is None:
        return None
    score = grading.current_score(session, level, viewer.learner_id, link, attempts=attempts,
                                  answers=answers)
    if not link.gradable:
        return Result(score, "not_gradable", None, None)
    newest = None if new else grading.newest_score(session, viewer.learner_id, link.id)
    if newest is None:
        return Result(score, "none", None, None)
    # A 409 answer (superseded) means the LMS already holds a score at least as recent.
    if newest.delivery in (grading.SENT, grading.SUPERSEDED):
        return Result(score, "sent", newest, newest)
    sent = grading.newest_sent(session, viewer.learner_id, link.id)
    return Result(score, "failed" if newest.delivery == grading.FAILED else "pending", newest, sent)


def _grade_label(value: float | None) -> str:
    """A grade out of 100 as the learner's language writes decimals (93,33 / 93.33)."""
    return format_decimal(round(value or 0.0, 2), format="#,##0.##", locale=_babel_locale())


def _score_summary(score: Score) -> str:
    """What a score row told the LMS, in words: progress, and the grade when it carries one."""
    labels = {"Initialized": _("not started"), "Started": _("started"),
              "InProgress": _("in progress"), "Submitted": _("submitted, awaiting review"),
              "Completed": _("completed")}
    state = labels.get(score.activity_progress, score.activity_progress)
    if score.score_given is None:
        return state
    return _("%(progress)s, grade %(grade)s out of %(maximum)s", progress=state,
             grade=_grade_label(score.score_given), maximum=_grade_label(score.score_maximum))


# --- playing a case -----------------------------------------------------------------------------


@bp.post("/cases/<case_id>/attempts")
@require_viewer
def start(case_id: str) -> Any:
    """Start the case, or resume its unfinished attempt; after a finished one, this is "Replay"."""
    level = _level()
    case = service.case_of(level, case_id)
    single = _single_case(level)
    if single is not None and single != case_id:
        raise service.NotInActivity(
            Bilingual("Cette activité de votre cours ne propose qu'un seul cas.",
                      "This activity of your course offers one case only."),
            detail=f"start {case_id} from a link to {single}")
    attempt = service.start_attempt(get_session(), g.viewer.learner_id, case,
                                    g.viewer.resource_link_pk)
    _record_progress(level, "started")  # the pair's first score only (the service checks)
    return _see("cases.attempt", attempt_id=attempt.id)


@bp.get("/attempts/<int:attempt_id>")
@read_only  # no BEGIN/COMMIT: two round trips fewer per page (db.py, issue 11)
@require_viewer
def attempt(attempt_id: int) -> Any:
    """The attempt's current screen: the consequence not yet dismissed, the decision, or the
    ending. One address per attempt, so a relaunch or a language switch lands on the same screen."""
    level = _level()
    session = get_session()
    row = service.load_attempt_row(session, g.viewer.learner_id, attempt_id)
    case = service.case_of(level, row.case_id)
    if service.is_restarted(row):  # an old address of an attempt the learner restarted
        latest = service.latest_attempt(session, g.viewer.learner_id, case.id)
        if latest is not None and latest.id != row.id and latest.finished_at is None:
            return _see("cases.attempt", attempt_id=latest.id)
        return _see("cases.level_home")
    state = service.state_of(row, case)
    # "Restart this case now" from the moment this attempt can no longer pass (issue 10).
    common = {"level": level, "case": case, "attempt": row, "state": state,
              "lost": not state.finished and not engine.can_still_pass(case, state)}
    if row.feedback_seq is not None:
        answer = state.answers[row.feedback_seq - 1]
        decision = case.decision(answer.node)
        k, n = position(case, state, answer.node)
        marks, upcoming = timeline(state, answer.node, n)
        return render_template(
            "cases/consequence.html", decision=decision, answer=answer,
            choice=decision.choice(answer.choice), k=k, n=n, marks=marks, upcoming=upcoming,
            retry_next=state.pending_retry == answer.node,
            unresolved=answer.critical and answer.retry, **common)
    if state.finished:
        outcome = engine.outcome(case, state)
        case_progress = service.level_progress(
            level, service.learner_attempts(session, g.viewer.learner_id))[case.id]
        return render_template("cases/ending.html", ending=level.endings[outcome],
                               outcome=outcome, progress=case_progress, **common)
    decision = case.decision(state.node)
    k, n = position(case, state)
    marks, upcoming = timeline(state, decision.id, n)
    return render_template("cases/decision.html", decision=decision, k=k, n=n, marks=marks,
                           upcoming=upcoming, retry=state.pending_retry == decision.id,
                           first=not state.answers, **common)


@bp.post("/attempts/<int:attempt_id>/choice")
@require_viewer
def choose(attempt_id: int) -> Any:
    level = _level()
    session = get_session()
    row = service.load_attempt(session, g.viewer.learner_id, attempt_id)
    _refuse_restarted(row)
    case = service.case_of(level, row.case_id)
    result = service.choose(session, case, row, request.form.get("choice", ""), _form_int("v"))
    if result.state.finished:  # a step that finishes nothing costs grading nothing
        _record_progress(level, "case_completed")
    return _see("cases.attempt", attempt_id=row.id)


@bp.post("/attempts/<int:attempt_id>/continue")
@require_viewer
def proceed(attempt_id: int) -> Any:
    session = get_session()
    row = service.load_attempt(session, g.viewer.learner_id, attempt_id)
    _refuse_restarted(row)
    service.acknowledge(session, row, _form_int("v"))
    return _see("cases.attempt", attempt_id=row.id)


@bp.post("/attempts/<int:attempt_id>/restart")
@require_viewer
def restart(attempt_id: int) -> Any:
    """"Restart this case now": close an attempt that can no longer pass and start a new one."""
    level = _level()
    session = get_session()
    row = service.load_attempt(session, g.viewer.learner_id, attempt_id)
    case = service.case_of(level, row.case_id)
    new = service.restart_attempt(session, g.viewer.learner_id, case, row, _form_int("v"),
                                  g.viewer.resource_link_pk)
    return _see("cases.attempt", attempt_id=new.id)


def _refuse_restarted(row: Attempt) -> None:
    """A form of an attempt closed by a restart: its state is unfinished, but it takes no step."""
    if service.is_restarted(row):
        raise service.StaleForm(service.STALE, detail=f"attempt {row.id}: restarted")


@bp.get("/attempts/<int:attempt_id>/debrief")
@read_only  # no BEGIN/COMMIT: two round trips fewer per page (db.py, issue 11)
@require_viewer
def debrief(attempt_id: int) -> Any:
    level = _level()
    session = get_session()
    row = service.load_attempt(session, g.viewer.learner_id, attempt_id)
    case = service.case_of(level, row.case_id)
    state = service.state_of(row, case)
    if not state.finished or row.feedback_seq is not None:
        return _see("cases.attempt", attempt_id=row.id)
    attempts = service.learner_attempts(session, g.viewer.learner_id)
    data = debrief_data.build(level, case, state, service.best_states(level, attempts))
    case_progress = service.level_progress(level, attempts)[case.id]
    delicate = service.reflection_answers(session, g.viewer.learner_id).get("delicate")
    delicate_question = next((q for q in level.reflections if q.id == "delicate"), None)
    return render_template(
        "cases/debrief.html", level=level, case=case, attempt=row, d=data,
        progress=case_progress, is_best=case_progress.best is row,
        delicate=delicate.submitted_text if delicate else None,
        delicate_question=delicate_question, pass_percent=int(engine.PASS_THRESHOLD * 100))


# --- reflections --------------------------------------------------------------------------------


def _require_reflections_open(level: Level) -> None:
    attempts = service.learner_attempts(get_session(), g.viewer.learner_id)
    if not service.reflections_open(level, attempts):
        raise service.ReflectionsLocked(
            Bilingual("Les questions de réflexion s'ouvrent lorsque les trois cas sont réussis.",
                      "The reflection questions open once the three cases are passed."),
            detail="reflections before the three cases passed")


def _reflections_page(level: Level, *, refused: bool = False, just_submitted: bool = False) -> Any:
    """The reflections page, always a GET (a submit answers with a 303 here, refused or not): the
    texts are the saved drafts, and after a refused submit (`refused=1` in the address) the answers
    still too short are computed from those drafts, so the URL carries no learner data and a
    reload shows the same page without posting again."""
    session = get_session()
    answers = service.reflection_answers(session, g.viewer.learner_id)
    history = service.submission_history(session, g.viewer.learner_id)
    texts = {q.id: answers[q.id].draft if q.id in answers else "" for q in level.reflections}
    counts = {q.id: service.word_count(texts[q.id]) for q in level.reflections}
    too_short = ({q.id: counts[q.id] for q in level.reflections if counts[q.id] < q.min_words}
                 if refused else {})
    saved = [a.draft_saved_at for a in answers.values() if a.draft_saved_at is not None]
    submitted = [a.submitted_at for a in answers.values() if a.submitted_at is not None]
    # An instructor's "returned" review with its comment, until the learner submits again.
    returned = returned_comment(session, g.viewer.learner_id, g.viewer.course_id,
                                max(submitted) if submitted else None)
    return render_template(
        "cases/reflections.html", level=level, answers=answers, history=history, texts=texts,
        returned=returned, too_short=too_short, just_submitted=just_submitted and not too_short,
        any_submitted=any(a.submitted_at for a in answers.values()),
        last_saved=max(saved) if saved else None, counts=counts,
        max_chars=service.MAX_ANSWER_CHARS, draft_scope=_draft_scope(),
        saved_at={q: _instant(a.draft_saved_at) for q, a in answers.items()})


def _instant(moment: datetime | None) -> str:
    """A save's time as reflections.js compares it (page and JSON alike): UTC, ISO 8601."""
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def _draft_scope() -> str:
    """Names this learner's unsaved texts in the browser's sessionStorage (reflections.js) without
    saying who they are: a tab later used by someone else never restores them."""
    viewer = g.viewer
    key = current_app.config["SECRET_KEY"]
    digest = hmac.new(key.encode() if isinstance(key, str) else key,
                      f"reflections:{viewer.platform_id}:{viewer.learner_id}".encode(),
                      hashlib.sha256)
    return digest.hexdigest()[:16]


@bp.get("/reflections")
@require_viewer
def reflections() -> Any:
    level = _level()
    _require_reflections_open(level)
    return _reflections_page(level, refused=request.args.get("refused") == "1",
                             just_submitted=request.args.get("submitted") == "1")


@bp.post("/reflections")
@require_viewer
def submit_reflections() -> Any:
    """Save every answer as a draft, then submit if each is long enough. Refused or not, the answer
    is a 303 to the page (Post/Redirect/Get): the drafts carry the texts across the redirect and
    `refused=1` says to show which answers are too short."""
    level = _level()
    _require_reflections_open(level)
    saved = service.reflection_answers(get_session(), g.viewer.learner_id)
    texts = {}
    for q in level.reflections:
        sent = request.form.get(f"answer-{q.id}")
        # a field the form did not send keeps its draft (the page always sends all three)
        texts[q.id] = service.normalise_text(
            sent if sent is not None else (saved[q.id].draft if q.id in saved else ""))
    result = service.submit_reflections(get_session(), g.viewer.learner_id, level.reflections,
                                        texts)
    if not result.ok:
        return _see("cases.reflections", refused="1")
    if result.submitted:
        _record_progress(level, "reflections_submitted")
    return _see("cases.reflections", submitted="1")


@bp.post("/reflections/draft")
@require_viewer
def save_draft() -> Any:
    """Autosave (reflections.js), one answer per request: {question, text} as JSON (the debounced
    fetch, token in the X-Page-Token header) or as a form body (navigator.sendBeacon on page hide,
    which sends URLSearchParams and no custom header: the token is the body's `t`). The page token
    is the credential, as for every form of the player (no cookie to forge a request with); the
    text is bounded by MAX_ANSWER_CHARS and the request by MAX_CONTENT_LENGTH.
    Answers {question, saved_at, words, message, token}."""
    level = _level()
    _require_reflections_open(level)
    data: Any = request.get_json(silent=True) if request.is_json else request.form
    question = data.get("question") if hasattr(data, "get") else None
    text = data.get("text") if hasattr(data, "get") else None
    if question not in {q.id for q in level.reflections} or not isinstance(text, str):
        raise service.BadReflection(
            Bilingual("Le brouillon envoyé est incomplet.", "The draft sent is incomplete."),
            detail=f"draft payload {type(data).__name__} question={question!r}")
    answer = service.save_draft(get_session(), g.viewer.learner_id, question, text)
    saved = answer.draft_saved_at
    return jsonify(question=question, saved_at=_instant(saved) or None,
                   words=service.word_count(answer.draft),
                   message=_("Draft saved at %(time)s.", time=_time_label(saved)),
                   token=g.page_token)
