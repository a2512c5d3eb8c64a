"""The Explorer level, the program's first level (issue 8, item 2's optional rule;
../shared/docs/BADGES.md "Eligibility"): where a deployment requires it (`Deployment.require_explorer`,
`lti-tool deployment explorer … --on`), the Architect badge also waits for it. The tool does not host
that level, so its completion is recorded on the learner (`Learner.explorer_completed_at`,
`explorer_source`):

- by the instructor, from the learner's page of their view (grading/views.py), with an undo;
- by the LMS, as the launch's custom parameter `sexto_explorer_completed`: "true", "1" (completed
  now) or the completion date (YYYY-MM-DD, Quebec calendar, or an ISO 8601 time). Honoured only on a
  deployment that requires the level: elsewhere a platform could not make it matter anyway, and
  nothing is stored that the rules would not read.

After a recording, the rules run again (`awards.award_if_eligible`): a learner who had everything
else gets the badge then. An undo never revokes an award already made (`lti-tool awards revoke` is
the operator's decision). Services flush, never commit.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, update
from sqlalchemy.orm import Session

from lti_tool.models import Deployment, Learner

EXPLORER_PARAM = "sexto_explorer_completed"  # the LTI custom parameter
INSTRUCTOR, LAUNCH = "instructor", "launch"  # Learner.explorer_source
QUEBEC = ZoneInfo("America/Toronto")
_TRUE = frozenset({"true", "1", "yes", "oui"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def explorer_param(custom: Any, now: datetime) -> datetime | None:
    """When the launch says the Explorer level was completed, or None (absent, "false", an
    unsubstituted LMS variable, a malformed or future date: ignored, never an error)."""
    value = custom.get(EXPLORER_PARAM) if hasattr(custom, "get") else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.lower() in _TRUE:
        return now
    try:
        if _DATE.match(value):
            # A calendar date: its start in Quebec, where the training happens.
            at = datetime.combine(date.fromisoformat(value), time(0), QUEBEC)
        else:
            at = datetime.fromisoformat(value)
            if at.tzinfo is None:
                at = at.replace(tzinfo=QUEBEC)
    except ValueError:
        return None
    at = at.astimezone(UTC)
    return at if at <= now else None  # a completion "in the future" is not one


def record_launch_explorer(session: Session, *, learner_id: int, deployment_pk: int, custom: Any,
                           now: datetime) -> bool:
    """Record the completion a launch reports, once, where its deployment requires the level;
    then run the award rules. True when this launch recorded it."""
    at = explorer_param(custom, now)
    if at is None:
        return False
    # One statement: the deployment's requirement is read in it, and an earlier recording (the
    # instructor's, or a previous launch's) is kept.
    result: Any = session.execute(
        update(Learner)
        .where(Learner.id == learner_id, Learner.explorer_completed_at.is_(None),
               exists().where(Deployment.id == deployment_pk, Deployment.require_explorer.is_(True)))
        .values(explorer_completed_at=at, explorer_source=LAUNCH)
        .execution_options(synchronize_session=False))
    if not result.rowcount:
        return False
    _award(session, learner_id, now)
    return True


def set_explorer(session: Session, learner: Learner, *, completed: bool, now: datetime) -> bool:
    """The instructor records (or undoes) the learner's Explorer level; an earlier recording is
    kept as it was. Runs the award rules after a recording. True when something changed."""
    if completed:
        if learner.explorer_completed_at is not None:
            return False
        learner.explorer_completed_at = now
        learner.explorer_source = INSTRUCTOR
        session.flush()
        _award(session, learner.id, now)
        return True
    if learner.explorer_completed_at is None:
        return False
    learner.explorer_completed_at = None
    learner.explorer_source = None
    session.flush()
    return True


def _award(session: Session, learner_id: int, now: datetime) -> None:

    from lti_tool.badges.awards import award_if_eligible
    from lti_tool.cases.loader import app_level

    level = app_level()
    award_if_eligible(session, learner_id, level=level, now=now)
