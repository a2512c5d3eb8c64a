"""The instructor's landing page (`/instructor`, lti_tool/grading/views.py): course, activity, and
the learners of the course with their progress. The full view is tested in
tests/grading/test_instructor_view.py."""

from __future__ import annotations

from typing import Any

from lti_tool.cases.loader import get_level
from lti_tool.cases.service import start_attempt
from lti_tool.db import get_session
from tests.cases.player_support import parse
from tests.support.minted import landing, minted_platform

INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]


def _rows(page: str) -> dict[str, str]:
    """Learner name → status of each row of the progress table."""
    tree = parse(page)
    tables = tree.find_all("table", data_testid="progress-table")
    if not tables:
        return {}
    return {row.find("th").find_all("a")[0].text if row.find("th").find_all("a") else row.find("th").text:
            row.attrs["data-status"] for row in tables[0].find("tbody").find_all("tr")}


def test_instructor_page_lists_the_learners_who_launched(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        page = client.get(platform.launch(client, sub="teacher", name="Camille Roy",
                                          lti_roles=INSTRUCTOR).headers["Location"])
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Formation SEXTO" in html and "Niveau Architecte" in html
        assert _rows(html) == {}  # the instructor's own launch is not a learner
        assert 'data-notice="nrps_not_offered"' in html  # no NRPS claim: learners seen instead
        assert platform.launch(client, sub="learner-1", name="Léa Gagnon").status_code in (200, 303)
        again = client.get(platform.launch(client, sub="teacher", lti_roles=INSTRUCTOR).headers["Location"])
        assert _rows(again.get_data(as_text=True)) == {"Léa Gagnon": "not_started"}
        with app.test_request_context():
            session = get_session()
            from sqlalchemy import select

            from lti_tool.models import Learner, ResourceLink

            learner_id = session.execute(select(Learner.id).where(Learner.sub == "learner-1")).scalar_one()
            link_id = session.execute(select(ResourceLink.id)).scalar_one()
            case = get_level(app.extensions["settings"].content_dir).cases["case-1"]
            start_attempt(session, learner_id, case, resource_link_id=link_id)
            session.commit()
        third = client.get(platform.launch(client, sub="teacher", lti_roles=INSTRUCTOR).headers["Location"])
        assert _rows(third.get_data(as_text=True)) == {"Léa Gagnon": "in_progress"}


def test_a_learner_token_cannot_open_the_instructor_page(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        location = landing(platform.launch(client, sub="learner-1"))
    token = location.split("t=", 1)[1]
    response = client.get("/instructor", query_string={"t": token})
    assert response.status_code == 403
    assert 'data-error-code="forbidden"' in response.get_data(as_text=True)
