"""Assignment and Grade Services 2.0 and Names and Role Provisioning Services 2.0 of the demo LMS.

The storage side of lti1p3platform's service classes. Scores are checked like Moodle does
(docs LTI.md, "Moodle"): `userId`, ISO-8601 `timestamp`, `activityProgress` and
`gradingProgress` are required, a timestamp not newer than the previous one for that user and
line item gets 409, and a score for a user who is not gradable (the instructor) gets 400.

Specs: https://www.imsglobal.org/spec/lti-ags/v2p0/ and https://www.imsglobal.org/spec/lti-nrps/v2p0
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from lti1p3platform.exceptions import LineItemNotFoundException, LtiServiceException
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.membership import Context
from lti1p3platform.request import Request
from lti1p3platform.score import UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
    TPage,
)

from .platform import DemoPlatformConf, lineitem_url, lineitems_url, memberships_url
from .settings import COURSE, DemoSettings
from .storage import DemoStore, LineItem, ScoreConflict, ScoreRecord

ACTIVITY_PROGRESS = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING_PROGRESS = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}
SCORE_MEMBERS = {
    "userId",
    "scoreGiven",
    "scoreMaximum",
    "comment",
    "timestamp",
    "activityProgress",
    "gradingProgress",
}


def page_of(items: list[Any], page: int = 1, limit: int | None = None) -> TPage:
    if limit is None:
        return {"content": items, "has_next": False}
    start = (page - 1) * limit
    return {"content": items[start : start + limit], "has_next": start + limit < len(items)}


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LtiServiceException(f"{name} must be a number", 400)
    return float(value)


def _optional_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise LtiServiceException(f"{name} must be a string", 400)
    return value


class DemoAgs(AssignmentsGradesService):
    def __init__(
        self,
        request: Request,
        conf: DemoPlatformConf,
        settings: DemoSettings,
        store: DemoStore,
        line_item_id: str | None = None,
    ) -> None:
        super().__init__(
            request,
            conf,
            lineitems_url(settings),
            lineitem_url(settings, line_item_id) if line_item_id else None,
        )
        self.settings = settings
        self.store = store

    # -- representation -------------------------------------------------------------------------
    def to_json(self, item: LineItem) -> TLineItem:
        data: dict[str, Any] = {
            "id": lineitem_url(self.settings, item.id),
            "label": item.label,
            "scoreMaximum": item.score_maximum,
        }
        optional = {
            "resourceLinkId": item.resource_link_id,
            "resourceId": item.resource_id,
            "tag": item.tag,
            "startDateTime": item.start_date_time,
            "endDateTime": item.end_date_time,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return cast(TLineItem, data)

    def _get(self, line_item_id: str) -> LineItem:
        item = self.store.get_line_item(line_item_id)
        if item is None:
            raise LineItemNotFoundException(line_item_id)
        return item

    def _from_json(self, data: Any, line_item_id: str) -> LineItem:
        if not isinstance(data, dict):
            raise LtiServiceException("a line item JSON object is required", 400)
        label = data.get("label")
        if not isinstance(label, str) or not label.strip():
            raise LtiServiceException("label is required", 400)
        maximum = _number(data.get("scoreMaximum"), "scoreMaximum")
        if maximum <= 0:
            raise LtiServiceException("scoreMaximum must be positive", 400)
        link_id = _optional_str(data.get("resourceLinkId"), "resourceLinkId")
        if link_id is not None and self.store.get_link(link_id) is None:
            raise LtiServiceException("resourceLinkId is not a link of this course", 400)
        return LineItem(
            id=line_item_id,
            label=label.strip(),
            score_maximum=maximum,
            resource_link_id=link_id,
            resource_id=_optional_str(data.get("resourceId"), "resourceId"),
            tag=_optional_str(data.get("tag"), "tag"),
            start_date_time=_optional_str(data.get("startDateTime"), "startDateTime"),
            end_date_time=_optional_str(data.get("endDateTime"), "endDateTime"),
        )

    # -- the library's storage interface ---------------------------------------------------------
    def find_lineitems(
        self,
        page: int = 1,
        limit: int | None = None,
        line_item_id: str | None = None,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        **_ignored: Any,
    ) -> TPage:
        items = [
            i
            for i in self.store.list_line_items()
            if (resource_link_id is None or i.resource_link_id == resource_link_id)
            and (resource_id is None or i.resource_id == resource_id)
            and (tag is None or i.tag == tag)
        ]
        return page_of([self.to_json(i) for i in items], page, limit)

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        return self.to_json(self._get(line_item_id))

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        item = self._from_json(creation_data, f"li-{uuid.uuid4().hex[:12]}")
        self.store.put_line_item(item)
        return self.to_json(item)

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        line_item_id = str(update_data["id"])
        self._get(line_item_id)
        item = self._from_json(update_data, line_item_id)
        self.store.put_line_item(item)
        return self.to_json(item)

    def delete_lineitem(self, line_item_id: str) -> None:
        if not self.store.delete_line_item(line_item_id):
            raise LineItemNotFoundException(line_item_id)

    def update_score(self, line_item_id: str, score: Any) -> UpdateScoreStatus:
        self._get(line_item_id)
        if not isinstance(score, dict):
            raise LtiServiceException("a score JSON object is required", 400)
        user_id = score.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise LtiServiceException("userId is required", 400)
        user = COURSE.user(user_id)
        if user is None or user.id != user_id:
            raise LtiServiceException("userId is not a member of this course", 400)
        if not user.gradable:
            raise LtiServiceException("Incorrect score received (user is not gradable)", 400)
        activity = score.get("activityProgress")
        grading = score.get("gradingProgress")
        if activity not in ACTIVITY_PROGRESS:
            raise LtiServiceException(
                f"activityProgress must be one of {sorted(ACTIVITY_PROGRESS)}", 400
            )
        if grading not in GRADING_PROGRESS:
            raise LtiServiceException(
                f"gradingProgress must be one of {sorted(GRADING_PROGRESS)}", 400
            )
        stamp = score.get("timestamp")
        try:
            when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise LtiServiceException("timestamp must be ISO 8601 with a time zone", 400)
        given = maximum = None
        if score.get("scoreGiven") is not None:
            given = _number(score["scoreGiven"], "scoreGiven")
            maximum = _number(score.get("scoreMaximum"), "scoreMaximum")
            if given < 0 or maximum <= 0:
                raise LtiServiceException("scoreGiven must be >= 0 and scoreMaximum > 0", 400)
        record = ScoreRecord(
            line_item_id=line_item_id,
            user_id=user_id,
            timestamp=when.isoformat(),
            activity_progress=str(activity),
            grading_progress=str(grading),
            score_given=given,
            score_maximum=maximum,
            comment=_optional_str(score.get("comment"), "comment"),
            extensions={k: v for k, v in score.items() if k not in SCORE_MEMBERS},
        )
        try:
            self.store.record_score(record, when)
        except ScoreConflict:
            return UpdateScoreStatus.OLD_TIMESTAMP
        return UpdateScoreStatus.SUCCESS

    def get_results(
        self,
        line_item_id: str,
        page: int = 1,
        limit: int | None = None,
        user_id: str | None = None,
        **_ignored: Any,
    ) -> TPage:
        item = self._get(line_item_id)
        url = lineitem_url(self.settings, item.id)
        results = []
        for score in self.store.latest_scores(item.id):
            if user_id is not None and score.user_id != user_id:
                continue
            result: dict[str, Any] = {
                "id": f"{url}/results/{score.user_id}",
                "scoreOf": url,
                "userId": score.user_id,
                "resultMaximum": item.score_maximum,
            }
            # Like Moodle: a grade counts only once the tool says it is FullyGraded.
            if score.grading_progress == "FullyGraded" and score.score_given is not None:
                assert score.score_maximum
                result["resultScore"] = score.score_given / score.score_maximum * item.score_maximum
            if score.comment:
                result["comment"] = score.comment
            results.append(result)
        return page_of(results, page, limit)


class DemoNrps(NamesRoleProvisioningService):
    def __init__(
        self, request: Request, conf: DemoPlatformConf, settings: DemoSettings, store: DemoStore
    ) -> None:
        super().__init__(request, conf, memberships_url(settings))
        self.store = store

    def get_member_data_page(
        self,
        page: int = 1,
        limit: int | None = None,
        role: str | None = None,
        since: str | None = None,
        **_ignored: Any,
    ) -> TPage:
        members = [
            {
                "status": "Active",
                "user_id": u.id,
                "roles": [u.role],
                "name": u.name,
                "given_name": u.given_name,
                "family_name": u.family_name,
                "email": u.email,
            }
            for u in COURSE.users
            if role is None or u.role == role or u.role.rsplit("#", 1)[-1] == role
        ]
        return page_of(members, page, limit)

    def get_context_by_id(self) -> Context:
        return Context(id=COURSE.id, label=COURSE.label, title=COURSE.title)

    def is_resource_link_valid(self, context_id: str, resource_link_id: str) -> bool:
        return context_id == COURSE.id and self.store.get_link(resource_link_id) is not None
