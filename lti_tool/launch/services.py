"""What a validated launch does to the database: upsert the learner, course and resource link,
keep the launch data server-side, and build the frozen `LaunchContext`. Flushes, never commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from lti_tool.badges.explorer import record_launch_explorer
from lti_tool.badges.registry import record_launch_organisation
from lti_tool.db import utcnow
from lti_tool.launch.context import LaunchContext
from lti_tool.launch.hot_sql import HotSQL
from lti_tool.launch.registry import Registration

ACTIVITY_PARAM = "sexto_activity"


@dataclass(frozen=True)
class RecordedLaunch:
    context: LaunchContext
    learner_id: int
    course_id: int | None
    resource_link_pk: int | None
    # The learner row was created by this launch: nothing of theirs exists yet (the level home
    # skips the queries that could only find nothing).
    new_learner: bool = False


_UPSERT_LEARNER = (
    "INSERT INTO learner (platform_id, sub, name, given_name, family_name, email, locale, "
    "created_at, last_launch_at) VALUES (:platform_id, :sub, :name, :given_name, :family_name, "
    ":email, :locale, :now, :now) ON CONFLICT (platform_id, sub) DO UPDATE SET "
    "name = excluded.name, given_name = excluded.given_name, family_name = excluded.family_name, "
    "email = excluded.email, locale = excluded.locale, last_launch_at = excluded.last_launch_at "
    # Both stamps are this launch's only when the row was just inserted (both engines).
    "RETURNING id, created_at = last_launch_at"
)
# The NRPS URL is kept from the newest launch that carried one (a launch without the claim, e.g.
# from a placement that does not grant NRPS, must not erase it): the roster outlives the token.
_UPSERT_COURSE = (
    "INSERT INTO course (platform_id, context_id, title, label, nrps_url, updated_at) VALUES "
    "(:platform_id, :context_id, :title, :label, :nrps_url, :now) ON CONFLICT (platform_id, "
    "context_id) DO UPDATE SET title = excluded.title, label = excluded.label, "
    "nrps_url = COALESCE(excluded.nrps_url, course.nrps_url), updated_at = excluded.updated_at "
    "RETURNING id"
)
_UPSERT_LINK = (
    "INSERT INTO resource_link (platform_id, deployment_id, course_id, resource_link_id, title, "
    "activity, lineitem_url, lineitems_url, ags_scopes, updated_at) VALUES (:platform_id, "
    ":deployment_id, :course_id, :resource_link_id, :title, :activity, :lineitem_url, "
    ":lineitems_url, :ags_scopes, :now) ON CONFLICT (platform_id, resource_link_id) DO UPDATE SET "
    "deployment_id = excluded.deployment_id, course_id = excluded.course_id, "
    "title = excluded.title, activity = excluded.activity, lineitem_url = excluded.lineitem_url, "
    "lineitems_url = excluded.lineitems_url, ags_scopes = excluded.ags_scopes, "
    "updated_at = excluded.updated_at RETURNING id"
)
_INSERT_RECORD = (
    "INSERT INTO launch_record (id, platform_id, learner_id, resource_link_id, message_type, "
    "claims, created_at, expires_at) VALUES (:id, :platform_id, :learner_id, :link, "
    ":message_type, :claims, :now, :expires_at)"
)


def record_launch(
    session: Session,
    body: dict[str, Any],
    registration: Registration,
    deployment_pk: int,
    *,
    ttl: int,
) -> RecordedLaunch:
    """Upserts in one statement each (no SELECT-then-INSERT race between two launches)."""
    launch_id = secrets.token_urlsafe(18)
    ctx = LaunchContext.from_claims(
        body,
        launch_id=launch_id,
        platform_id=registration.id,
        platform_family=registration.family,
        client_id=registration.client_id,
        deployment_pk=deployment_pk,
    )
    sql = HotSQL.of(session)
    now = utcnow()
    stamp = sql.at(now)
    learner = sql.one(
        _UPSERT_LEARNER,
        {
            "platform_id": registration.id,
            "sub": ctx.sub,
            "name": ctx.name,
            "given_name": ctx.given_name,
            "family_name": ctx.family_name,
            "email": ctx.email,
            "locale": ctx.locale,
            "now": stamp,
        },
    )
    learner_id, new_learner = _id(learner), bool(learner and learner[1])
    # Badges: the organisation the launch names (custom parameter `sexto_organisation`), kept only
    # where the registration allows it; one statement, and only when the parameter is there.
    record_launch_organisation(session, learner_id=learner_id, platform_id=registration.id,
                               custom=ctx.custom)
    course_id = None
    if ctx.context_id:
        course_id = _id(
            sql.one(
                _UPSERT_COURSE,
                {
                    "platform_id": registration.id,
                    "context_id": ctx.context_id,
                    "title": ctx.context_title,
                    "label": ctx.context_label,
                    "nrps_url": ctx.nrps_url,
                    "now": stamp,
                },
            )
        )
    link_pk = None
    if ctx.resource_link_id:
        link_pk = _id(
            sql.one(
                _UPSERT_LINK,
                {
                    "platform_id": registration.id,
                    "deployment_id": deployment_pk,
                    "course_id": course_id,
                    "resource_link_id": ctx.resource_link_id,
                    "title": ctx.resource_link_title,
                    "activity": activity_of(ctx),
                    "lineitem_url": ctx.ags_lineitem,
                    "lineitems_url": ctx.ags_lineitems,
                    "ags_scopes": sql.json(list(ctx.ags_scopes)) if ctx.ags_scopes else None,
                    "now": stamp,
                },
            )
        )
    sql.run(
        _INSERT_RECORD,
        {
            "id": launch_id,
            "platform_id": registration.id,
            "learner_id": learner_id,
            "link": link_pk,
            "message_type": ctx.message_type,
            "claims": sql.json(body),
            "now": stamp,
            "expires_at": sql.at(now + timedelta(seconds=ttl)),
        },
    )
    # Badges: the Explorer level the LMS reports (custom parameter `sexto_explorer_completed`),
    # only where this deployment requires it; then the award rules run again.
    record_launch_explorer(session, learner_id=learner_id, deployment_pk=deployment_pk,
                           custom=ctx.custom, now=now)
    return RecordedLaunch(ctx, learner_id, course_id, link_pk, new_learner)


def _id(row: tuple[Any, ...] | None) -> int:
    assert row is not None, "an upsert with RETURNING always returns its row"
    return int(row[0])


def activity_of(ctx: LaunchContext) -> str:
    """What the link opens: the whole level, or one case chosen in deep linking."""
    value = ctx.custom.get(ACTIVITY_PARAM)
    return value if isinstance(value, str) and value else "level"
