"""The reflections page in Chromium, inside the demo LMS's iframe (issue 10): text typed in the
second before a reload is still there after it (sendBeacon on page hide, and the tab's unsaved copy
put back), a refused submit is a GET page that a reload shows again without posting, the page
header stays whole, and axe-core finds nothing in either language.

The three cases are passed through the services (the browser plays them in
test_player_browser.py): this file is about the reflections page only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Frame, Page, Request, expect
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.demo import DemoSettings
from lti_tool.models import ReflectionAnswer
from tests.browser import axe
from tests.browser.conftest import LmsPage, ToolServer, ui, ui_prefix
from tests.cases.player_support import pass_all_cases

pytestmark = pytest.mark.browser

TYPED = "Écrit une seconde avant de recharger : « rien ne se perd »"


def drafts(tool: ToolServer, learner_id: int) -> dict[str, str]:
    with tool.app.test_request_context():
        rows = get_session().scalars(
            select(ReflectionAnswer).where(ReflectionAnswer.learner_id == learner_id))
        return {r.question_id: r.draft for r in rows}


def wait_for(check: Any, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def requests_seen(page: Page) -> Iterator[list[Request]]:
    seen: list[Request] = []
    page.context.on("request", lambda request: seen.append(request))
    yield seen


def open_reflections(page: Page, tool: ToolServer, lms: DemoSettings,
                     locale: str = "fr-CA") -> tuple[LmsPage, int]:
    lms_page = LmsPage(page, lms).open()
    lms_page.launch("learner", locale)
    expect(lms_page.frame.locator("h1")).to_be_visible()
    learner_id = pass_all_cases(tool.app, sub=None)
    token = parse_qs(urlsplit(lms_page.tool_url()).query)["t"][0]
    lms_page.tool_frame().goto(f"{tool.url}/reflections?t={token}")
    expect(lms_page.frame.locator("#reflections-form")).to_be_visible()
    return lms_page, learner_id


def reload(frame: Frame) -> None:
    with frame.expect_navigation():
        frame.evaluate("() => location.reload()")


def header_intact(lms_page: LmsPage, other: str) -> None:
    frame = lms_page.frame
    expect(frame.locator(f"header nav.lang-switch a[hreflang='{other}']")).to_be_visible()
    expect(frame.locator("header p.signed-in")).to_be_visible()


def test_text_typed_just_before_a_reload_is_kept(page: Page, tool: ToolServer,
                                                 lms: DemoSettings) -> None:
    lms_page, learner_id = open_reflections(page, tool, lms)
    frame = lms_page.tool_frame()
    lms_page.frame.locator("#answer-delicate").fill(TYPED)
    reload(frame)  # at once: the 800 ms autosave has not fired
    expect(lms_page.frame.locator("#answer-delicate")).to_have_value(TYPED)
    wait_for(lambda: drafts(tool, learner_id).get("delicate") == TYPED,
             "the text typed before the reload never reached the server")
    # A second reload shows the server's draft; the copy kept in the history state is released.
    reload(lms_page.tool_frame())
    expect(lms_page.frame.locator("#answer-delicate")).to_have_value(TYPED)
    kept = lms_page.tool_frame().evaluate(
        "() => history.state && history.state.reflections ? history.state.reflections.copies : {}")
    assert kept == {}
    expect(lms_page.frame.locator("#draft-status")).to_contain_text(
        ui_prefix("Draft saved at %(time)s.", "fr"))


def test_leaving_the_page_at_once_sends_the_text_by_beacon(page: Page, tool: ToolServer,
                                                           lms: DemoSettings) -> None:
    """The beacon alone: the page left for another one (no reflections script to put anything
    back), the text still reaches the server."""
    lms_page, learner_id = open_reflections(page, tool, lms)
    lms_page.frame.locator("#answer-learned").fill(TYPED)
    frame = lms_page.tool_frame()
    with frame.expect_navigation():  # by script: no blur, so no autosave on blur either
        frame.evaluate("() => { location.href = document.querySelector('p.back-link a').href; }")
    wait_for(lambda: drafts(tool, learner_id).get("learned") == TYPED,
             "no beacon brought the text typed before leaving the page")


def test_the_debounced_autosave_saves_while_typing(page: Page, tool: ToolServer,
                                                   lms: DemoSettings) -> None:
    lms_page, learner_id = open_reflections(page, tool, lms)
    with page.expect_response(lambda r: "/reflections/draft" in r.url) as saved:
        lms_page.frame.locator("#answer-steps").press_sequentially("Une première idée", delay=20)
    assert saved.value.ok
    expect(lms_page.frame.locator("#draft-status")).to_contain_text(
        ui_prefix("Draft saved at %(time)s.", "fr"))
    wait_for(lambda: drafts(tool, learner_id).get("steps") == "Une première idée",
             "the autosave did not store the whole text")
    # One word count per question, updated as the learner types.
    expect(lms_page.frame.locator(".reflection .word-count")).to_have_count(
        len(tool.level.reflections))
    expect(lms_page.frame.locator("#words-steps")).to_contain_text(
        ui("Words: %(count)s (at least %(min)s).", "fr", count=3,
           min=tool.level.reflections[0].min_words))


def test_a_refused_submit_survives_a_reload_without_posting_again(
        page: Page, tool: ToolServer, lms: DemoSettings, requests_seen: list[Request]) -> None:
    lms_page, learner_id = open_reflections(page, tool, lms)
    frame = lms_page.frame
    texts = {q.id: f"Trop court {i}." for i, q in enumerate(tool.level.reflections)}
    for question, text in texts.items():
        frame.locator(f"#answer-{question}").fill(text)
    frame.locator("#reflections-form button[type='submit']").click()
    summary = frame.locator("[data-testid='error-summary']")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    assert "refused=1" in lms_page.tool_url(), "the refusal is a GET page (303)"
    header_intact(lms_page, "en")
    posts_before = [r for r in requests_seen if r.method == "POST" and r.url.endswith("/reflections")]
    assert len(posts_before) == 1

    reload(lms_page.tool_frame())
    expect(summary).to_be_visible()
    for question, text in texts.items():
        expect(frame.locator(f"#answer-{question}")).to_have_value(text)
        expect(frame.locator(f"#words-{question}.field-error")).to_have_count(1)
    posts_after = [r for r in requests_seen if r.method == "POST" and r.url.endswith("/reflections")]
    assert len(posts_after) == 1, "the reload posted the form again"
    axe.assert_accessible(lms_page.tool_frame(), "reflections, refused submit, reloaded [fr]")

    # The language link keeps the refusal; the English page is as whole and as accessible.
    frame.locator("nav.lang-switch a[hreflang='en']").click()
    expect(frame.locator("html")).to_have_attribute("lang", "en")
    expect(summary).to_contain_text(ui("Your answers were not submitted", "en"))
    header_intact(lms_page, "fr")
    axe.assert_accessible(lms_page.tool_frame(), "reflections, refused submit [en]")

    # Lengthening one answer clears its error line as the learner types.
    long_enough = " ".join(f"mot{i}" for i in range(tool.level.reflections[0].min_words))
    first = tool.level.reflections[0].id
    frame.locator(f"#answer-{first}").fill(long_enough)
    expect(frame.locator(f"#words-{first}.field-error")).to_have_count(0)
    expect(frame.locator(f"#answer-{first}")).not_to_have_attribute("aria-invalid", "true")
    assert drafts(tool, learner_id)[tool.level.reflections[1].id] == texts[
        tool.level.reflections[1].id]


def test_the_page_is_accessible_in_both_languages(page: Page, tool: ToolServer,
                                                  lms: DemoSettings) -> None:
    lms_page, _ = open_reflections(page, tool, lms, locale="en")
    expect(lms_page.frame.locator("html")).to_have_attribute("lang", "en")
    header_intact(lms_page, "fr")
    axe.assert_accessible(lms_page.tool_frame(), "reflections [en]")
    lms_page.frame.locator("nav.lang-switch a[hreflang='fr']").click()
    expect(lms_page.frame.locator("html")).to_have_attribute("lang", "fr")
    axe.assert_accessible(lms_page.tool_frame(), "reflections [fr]")
