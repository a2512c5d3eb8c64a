"""The instructor's landing page: course, activity, and how many learners started the cases."""

from __future__ import annotations

import re
from typing import Any

from lti_tool.cases.loader import get_level
from lti_tool.cases.service import start_attempt
from lti_tool.db import get_session
from tests.support.minted import minted_platform

INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]


def _count(page: str) -> int:
    match = re.search(r'data-testid="learner-count">(\d+)<', page)
    assert match, page[:500]
    return int(match.group(1))


def test_instructor_page_counts_learners_who_started(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        page = client.get(platform.launch(client, sub="teacher", lti_roles=INSTRUCTOR).headers["Location"])
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Formation SEXTO" in html and "Niveau Architecte" in html
        assert _count(html) == 0  # the instructor's own launch is not a learner
        assert platform.launch(client, sub="learner-1").status_code == 303
        with app.test_request_context():
            session = get_session()
            from sqlalchemy import select

            from lti_tool.models import Learner, ResourceLink

            learner_id = session.execute(select(Learner.id).where(Learner.sub == "learner-1")).scalar_one()
            link_id = session.execute(select(ResourceLink.id)).scalar_one()
            case = get_level(app.extensions["settings"].content_dir).cases["case-1"]
            start_attempt(session, learner_id, case, resource_link_id=link_id)
            session.commit()
        again = client.get(platform.launch(client, sub="teacher", lti_roles=INSTRUCTOR).headers["Location"])
        assert _count(again.get_data(as_text=True)) == 1
