"""The demo LMS's gradebook: what the tool sent through AGS, per line item and per learner.

Each learner's newest score and the full history (newest first), as an LMS gradebook shows the
scores a tool posted (https://www.imsglobal.org/spec/lti-ags/v2p0/#score-publish-service).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .settings import DemoUser
from .storage import LineItem, ScoreRecord

# Canvas's score extension (docs LTI.md, "Canvas"): shown apart from other extra members.
CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"


@dataclass(frozen=True)
class LearnerScores:
    user_id: str
    name: str  # the user id itself when the course does not know the user
    known: bool
    history: list[ScoreRecord]  # newest first

    @property
    def latest(self) -> ScoreRecord | None:
        return self.history[0] if self.history else None


@dataclass(frozen=True)
class LineItemGrades:
    id: str
    label: str
    score_maximum: float | None  # None: the line item was deleted after scores arrived
    learners: list[LearnerScores]

    @property
    def deleted(self) -> bool:
        return self.score_maximum is None

    @property
    def score_count(self) -> int:
        return sum(len(learner.history) for learner in self.learners)


def build_gradebook(
    line_items: Iterable[LineItem], scores: Iterable[ScoreRecord], users: Iterable[DemoUser]
) -> list[LineItemGrades]:
    """One entry per line item (then per deleted line item that still has scores); in each, every
    gradable user of the course, then any other user a score names, newest score first."""
    items = {item.id: item for item in line_items}
    by_item: dict[str, dict[str, list[ScoreRecord]]] = {}
    for score in scores:  # received order; per learner and line item also timestamp order (409)
        by_item.setdefault(score.line_item_id, {}).setdefault(score.user_id, []).append(score)
    course_users = list(users)
    learners = [u for u in course_users if u.gradable]
    names = {u.id: u.name for u in course_users}
    ids = list(items) + [i for i in by_item if i not in items]
    book = []
    for item_id in ids:
        received = by_item.get(item_id, {})
        user_ids = [u.id for u in learners] + [u for u in received if u not in names]
        user_ids += [u for u in received if u in names and u not in user_ids]
        item = items.get(item_id)
        book.append(
            LineItemGrades(
                id=item_id,
                label=item.label if item else item_id,
                score_maximum=item.score_maximum if item else None,
                learners=[
                    LearnerScores(
                        user_id=uid,
                        name=names.get(uid, uid),
                        known=uid in names,
                        history=list(reversed(received.get(uid, []))),
                    )
                    for uid in user_ids
                ],
            )
        )
    return book


def canvas_submission(score: ScoreRecord) -> Mapping[str, Any] | None:
    value = score.extensions.get(CANVAS_SUBMISSION)
    return value if isinstance(value, dict) else None


def other_extensions(score: ScoreRecord) -> dict[str, Any]:
    return {k: v for k, v in score.extensions.items() if k != CANVAS_SUBMISSION}
