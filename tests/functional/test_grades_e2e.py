"""Grades end to end against the live demo LMS (lti1p3platform over HTTP): the instructor places
the level and a single case with deep linking, a learner launches each and plays through the real
player (which records progress), the outbox worker delivers, and the platform's gradebook holds
the scores with the right progress states."""

from __future__ import annotations

from typing import Any

from lti_tool.grading.outbox import Backoff
from lti_tool.grading.worker import Drainer
from tests.cases.player_support import best_choices
from tests.support.platform_server import parse_forms


def _deep_link(live: Any, activities: list[str]) -> dict[str, dict[str, Any]]:
    """The instructor picks activities; returns the platform's new links by activity."""
    before = {link["id"] for link in live.driver.state()["resource_links"]}
    picker = live.driver.launch("instructor", deep_linking=True).response
    assert picker.status_code == 200, picker.text[:400]
    form = parse_forms(picker.text, picker.url)[0]
    field = next(name for name in ("activity", "activities") if name in picker.text)
    session = live.driver.session
    answer = session.post(form.action, data={"t": form.fields["t"], field: activities})
    response_form = parse_forms(answer.text, answer.url)[0]
    assert session.post(response_form.action, data=response_form.fields).status_code < 400
    return {link["custom"]["sexto_activity"]: link for link in live.driver.state()["resource_links"]
            if link["id"] not in before}


class Browser:
    """The learner's browser on the live tool: submits the forms of each page."""

    def __init__(self, live: Any, page: Any) -> None:
        self.session, self.page = live.driver.session, page

    def submit(self, action_part: str, **values: Any) -> None:
        form = next(f for f in parse_forms(self.page.text, self.page.url) if action_part in f.action)
        self.page = self.session.post(form.action, data={**form.fields, **values}, timeout=15)
        assert self.page.status_code == 200, self.page.text[:600]

    def play(self, case_id: str, choices: list[str], *, drain: Any = None) -> None:
        self.submit(f"/cases/{case_id}/attempts")
        if drain:
            drain()
        for choice in choices:
            self.submit("/choice", choice=choice)
            self.submit("/continue")


def _drain(live: Any) -> None:
    Drainer(live.app, backoff=Backoff(minimum=0, multiplier=0.05, maximum=0.2)).drain(once=True)


def _gradebook(live: Any, link: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    return [(s["activity_progress"], s["grading_progress"], s["score_given"])
            for s in live.driver.state()["scores"] if s["line_item_id"] == link["line_item_id"]]


def test_a_learner_playing_deep_linked_activities_appears_in_the_gradebook(live: Any) -> None:
    links = _deep_link(live, ["level", "case-2"])
    assert links["level"]["line_item_id"] and links["case-2"]["line_item_id"]

    # The level link: started, then the running grade after one case of three.
    launched = live.driver.launch("learner", resource_link_id=links["level"]["id"]).response
    assert launched.status_code == 200, launched.text[:300]
    browser = Browser(live, launched)
    browser.play("case-1", best_choices(live.app, "case-1"), drain=lambda: _drain(live))
    _drain(live)
    level_book = _gradebook(live, links["level"])
    assert level_book[0][:2] == ("Started", "NotReady")
    progress, grading, given = level_book[-1]
    assert (progress, grading) == ("InProgress", "FullyGraded")
    assert given is not None and 30 < given < 40  # one case of three, best path
    level_scores = [s for s in live.driver.state()["scores"]
                    if s["line_item_id"] == links["level"]["line_item_id"]]
    assert level_scores[-1]["comment"] and level_scores[-1]["user_id"] == "demo-user-alex-tremblay"

    # The single-case link grades that case alone (not yet played by this learner).
    launched = live.driver.launch("learner", resource_link_id=links["case-2"]["id"]).response
    assert launched.status_code == 200, launched.text[:300]
    browser = Browser(live, launched)
    browser.play("case-2", best_choices(live.app, "case-2"), drain=lambda: _drain(live))
    _drain(live)
    case_book = _gradebook(live, links["case-2"])
    assert case_book[0][:2] == ("Started", "NotReady")
    assert case_book[-1] == ("Completed", "FullyGraded", 100.0)

    # Nothing left to send; nothing was sent twice.
    # (Timestamps are whole seconds, increasing per learner and line item as Moodle requires.)
    stamps = [(s["line_item_id"], s["timestamp"]) for s in live.driver.state()["scores"]]
    assert len(stamps) == len(set(stamps)) == 4
