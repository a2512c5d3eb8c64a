"""The score a resource link reports to the LMS (LTI AGS 2.0 score service,
https://www.imsglobal.org/spec/lti-ags/v2p0#score-publish-service), computed from the learner's
progress. Pure: no Flask, no database (grading/service.py loads the
inputs and stores the result).

The rules (DESIGN.md §4.3):

- A level link (activity "level") reports the level grade: the mean of the best case scores × 100,
  unplayed = 0 (`progress.level_grade`). Nothing finished yet → Started / NotReady without a score;
  a case finished → InProgress / FullyGraded with the running grade (Moodle ignores `scoreGiven`
  unless FullyGraded, and the gradebook should follow the learner as they play); reflections
  submitted → Completed / FullyGraded, or Submitted / PendingManual where the deployment has
  instructors review them; accepted → Completed / FullyGraded; returned → InProgress /
  FullyGraded with the reviewer's comment.
- A single-case link (deep linking picked one case) grades that case alone: the best score of the
  case × 100; Started / NotReady until an attempt finishes, then Completed / FullyGraded, passed or
  not (the comment says which, with the case's own pass rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lti_tool.cases import engine, progress
from lti_tool.cases.engine import CaseState
from lti_tool.cases.model import Level

REASONS = ("started", "case_completed", "level_completed", "reflections_submitted",
           "reflections_accepted", "reflections_returned")
LEVEL = "level"
SCORE_MAXIMUM = 100.0
# A reviewer's comment travels in the AGS comment; the gradebook shows a few lines, not an essay.
MAX_REVIEW_COMMENT = 1000

ActivityProgress = Literal["Initialized", "Started", "InProgress", "Submitted", "Completed"]
GradingProgress = Literal["NotReady", "Pending", "PendingManual", "FullyGraded"]

NBSP = "\u00a0"


@dataclass(frozen=True)
class Review:
    """The newest instructor decision on the learner's reflections (course-wide)."""

    status: Literal["accepted", "returned"]
    comment: str
    at: datetime


@dataclass(frozen=True)
class LearnerProgress:
    """What the rules read about one learner: everything the player stores, nothing else.

    `best_states`: the finished attempt that counts, per case (cases.service.best_states).
    `started_cases`: the cases with any attempt, finished or not.
    `reflections_submitted_at`: when every reflection question has a submission, the newest one.
    """

    best_states: Mapping[str, CaseState]
    started_cases: Set[str]
    reflections_submitted_at: datetime | None = None
    review_on: bool = False
    review: Review | None = None


@dataclass(frozen=True)
class ScoreToSend:
    reason: str
    activity: str  # "level" or a case id
    score_given: float | None
    score_maximum: float
    activity_progress: ActivityProgress
    grading_progress: GradingProgress
    comment_fr: str
    comment_en: str
    # Where the level's reflections stand: "" (not submitted), "submitted" (no review),
    # "awaiting_review", "accepted" or "returned". Always "" for a single-case link.
    reflections: str = ""

    def comment(self, locale: str) -> str:
        return self.comment_en if locale == "en" else self.comment_fr

    @property
    def done(self) -> bool:
        """The activity is complete for the learner (what the level home shows as done)."""
        return self.activity_progress == "Completed"


def activity_of(level: Level, link_activity: str | None) -> str:
    """The link's activity as the player reads it: a case id of the level, else the whole level."""
    if link_activity is not None and link_activity in level.cases:
        return link_activity
    return LEVEL


def compute(level: Level, activity: str, learner: LearnerProgress, reason: str) -> ScoreToSend:
    if reason not in REASONS:
        raise ValueError(f"unknown score reason {reason!r}")
    if activity in level.cases:
        return _single_case(level, activity, learner, reason)
    return _level(level, learner, reason)


# --- a level link -------------------------------------------------------------------------------


def _level(level: Level, learner: LearnerProgress, reason: str) -> ScoreToSend:
    best = {cid: s for cid, s in learner.best_states.items() if cid in level.cases and s.finished}
    title_fr, title_en = level.title.fr, level.title.en
    if not best:
        started = bool(set(level.cases) & set(learner.started_cases))
        return ScoreToSend(
            reason, LEVEL, None, SCORE_MAXIMUM, "Started" if started else "Initialized", "NotReady",
            f"{title_fr}{NBSP}: commencé, aucun cas terminé." if started
            else f"{title_fr}{NBSP}: pas encore commencé.",
            f"{title_en}: started, no case finished yet." if started
            else f"{title_en}: not started yet.")
    grade = round(progress.level_grade(level.cases, best), 2)
    passed = len(progress.level_cases_passed(level.cases, best))
    total = len(level.cases)
    head_fr = f"{title_fr}{NBSP}: {passed} cas réussi{'s' if passed > 1 else ''} sur {total}"
    head_en = f"{title_en}: {passed} of {total} case{'s' if total > 1 else ''} passed"

    submitted_at = learner.reflections_submitted_at if passed == total else None
    activity_p: ActivityProgress = "InProgress"
    grading_p: GradingProgress = "FullyGraded"
    tail_fr = tail_en = reflections = ""
    if submitted_at is not None:
        review = learner.review if learner.review_on else None
        # A review counts for the submission it saw: a later revision waits for a new review.
        if review is not None and review.at < submitted_at:
            review = None
        if not learner.review_on:
            activity_p, reflections = "Completed", "submitted"
            tail_fr, tail_en = f"{NBSP}; réflexions soumises", "; reflections submitted"
        elif review is None:
            activity_p, grading_p, reflections = "Submitted", "PendingManual", "awaiting_review"
            tail_fr = f"{NBSP}; réflexions soumises, en attente de révision"
            tail_en = "; reflections submitted, awaiting review"
        elif review.status == "accepted":
            activity_p, reflections = "Completed", "accepted"
            tail_fr, tail_en = f"{NBSP}; réflexions acceptées", "; reflections accepted"
        else:
            reflections = "returned"
            tail_fr = f"{NBSP}; réflexions retournées pour révision"
            tail_en = "; reflections returned for revision"
            said = " ".join(review.comment.split())[:MAX_REVIEW_COMMENT]
            if said:
                tail_fr += f"{NBSP}: «{NBSP}{said}{NBSP}»"
                tail_en += f": “{said}”"
    return ScoreToSend(reason, LEVEL, grade, SCORE_MAXIMUM, activity_p, grading_p,
                       f"{head_fr}{tail_fr}.", f"{head_en}{tail_en}.", reflections)


# --- a single-case link -------------------------------------------------------------------------


def _single_case(level: Level, case_id: str, learner: LearnerProgress,
                 reason: str) -> ScoreToSend:
    case = level.cases[case_id]
    title_fr, title_en = case.title.fr, case.title.en
    state = learner.best_states.get(case_id)
    if state is None or not state.finished:
        started = case_id in learner.started_cases
        return ScoreToSend(
            reason, case_id, None, SCORE_MAXIMUM, "Started" if started else "Initialized",
            "NotReady",
            f"Cas {title_fr}{NBSP}: {'commencé' if started else 'pas encore commencé'}.",
            f"Case {title_en}: {'started' if started else 'not started yet'}.")
    fraction = engine.score_fraction(case, state)
    given = round(float(fraction * 100), 2)
    whole = _whole_percent(given)
    if engine.passed(case, state):
        fr = f"Cas {title_fr}{NBSP}: réussi, meilleur score {whole}{NBSP}%."
        en = f"Case {title_en}: passed, best score {whole}%."
    else:
        threshold = int(engine.PASS_THRESHOLD * 100)
        fr = (f"Cas {title_fr}{NBSP}: non réussi, meilleur score {whole}{NBSP}% (un cas est réussi "
              f"à {threshold}{NBSP}% ou plus, sans erreur critique non résolue).")
        en = (f"Case {title_en}: not passed, best score {whole}% (a case is passed at {threshold}% "
              f"or more, with no unresolved critical error).")
    return ScoreToSend(reason, case_id, given, SCORE_MAXIMUM, "Completed", "FullyGraded", fr, en)


def _whole_percent(value: float) -> int:
    """Rounded down, as the player shows scores: 79.99 never reads as the 80 % pass mark."""
    return math.floor(round(value, 6))
