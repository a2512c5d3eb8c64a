"""What a validated launch does to the database: upsert the learner, course and resource link,
keep the launch data server-side, and build the frozen `LaunchContext`. Flushes, never commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from lti_tool.db import upsert, utcnow
from lti_tool.launch import claims as c
from lti_tool.launch.context import LaunchContext
from lti_tool.launch.registry import Registration
from lti_tool.models import Course, LaunchRecord, Learner, ResourceLink

ACTIVITY_PARAM = "sexto_activity"


@dataclass(frozen=True)
class RecordedLaunch:
    context: LaunchContext
    learner_id: int
    course_id: int | None
    resource_link_pk: int | None


def record_launch(session: Session, body: dict[str, Any], registration: Registration,
                  deployment_pk: int, *, ttl: int) -> RecordedLaunch:
    launch_id = secrets.token_urlsafe(18)
    ctx = LaunchContext.from_claims(body, launch_id=launch_id, platform_id=registration.id,
                                    platform_family=registration.family,
                                    client_id=registration.client_id, deployment_pk=deployment_pk)
    now = utcnow()
    learner_id = upsert(session, Learner, {
        "platform_id": registration.id, "sub": ctx.sub, "name": ctx.name,
        "given_name": ctx.given_name, "family_name": ctx.family_name, "email": ctx.email,
        "locale": ctx.locale, "created_at": now, "last_launch_at": now,
    }, keys=("platform_id", "sub"),
        update=("name", "given_name", "family_name", "email", "locale", "last_launch_at"))
    course_id = None
    if ctx.context_id:
        course_id = upsert(session, Course, {
            "platform_id": registration.id, "context_id": ctx.context_id,
            "title": ctx.context_title, "label": ctx.context_label, "updated_at": now,
        }, keys=("platform_id", "context_id"), update=("title", "label", "updated_at"))
    link_pk = None
    if ctx.resource_link_id:
        link_pk = upsert(session, ResourceLink, {
            "platform_id": registration.id, "deployment_id": deployment_pk,
            "course_id": course_id, "resource_link_id": ctx.resource_link_id,
            "title": ctx.resource_link_title, "activity": activity_of(ctx),
            "lineitem_url": ctx.ags_lineitem, "lineitems_url": ctx.ags_lineitems,
            "ags_scopes": list(ctx.ags_scopes) or None, "updated_at": now,
        }, keys=("platform_id", "resource_link_id"),
            update=("deployment_id", "course_id", "title", "activity", "lineitem_url",
                    "lineitems_url", "ags_scopes", "updated_at"))
    session.execute(insert(LaunchRecord).values(
        id=launch_id, platform_id=registration.id, learner_id=learner_id,
        resource_link_id=link_pk, message_type=ctx.message_type, claims=body, created_at=now,
        expires_at=now + timedelta(seconds=ttl)))
    return RecordedLaunch(ctx, learner_id, course_id, link_pk)


def activity_of(ctx: LaunchContext) -> str:
    """What the link opens: the whole level, or one case chosen in deep linking."""
    value = ctx.custom.get(ACTIVITY_PARAM)
    return value if isinstance(value, str) and value else "level"


def claim_custom(body: dict[str, Any]) -> dict[str, Any]:
    custom = body.get(c.CUSTOM)
    return custom if isinstance(custom, dict) else {}
