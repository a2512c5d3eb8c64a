"""The instructor's view in Chromium, launched from the demo LMS as its instructor: the class list
(the demo LMS's NRPS) with each learner's progress, a learner's detail with the review form, and
the preview of the cases with the answer key — each with 0 WCAG 2.1 AA violations (axe-core), in
French and English, at 1280 and 320 px, inside the LMS iframe and alone in a tab."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from lti_tool.db import get_session
from lti_tool.demo import DemoSettings
from lti_tool.demo.settings import DEFAULT_LINK_ID
from lti_tool.models import Deployment
from tests.browser.conftest import LmsPage, ToolServer, ui
from tests.browser.test_accessibility import Auditor, auditor  # noqa: F401 (fixture)
from tests.grading.test_instructor_view import play, submit_reflections

pytestmark = pytest.mark.browser

LEARNER_SUB = "demo-user-alex-tremblay"


def _learner_progress(tool: ToolServer) -> None:
    """The demo learner has played every case (case-2 with a critical error first) and submitted
    the reflections; the deployment has instructors review them."""
    for case_id in tool.level.cases:
        play(tool.app, LEARNER_SUB, case_id, critical=case_id == "case-2", link=DEFAULT_LINK_ID)
    submit_reflections(tool.app, LEARNER_SUB)
    with tool.app.test_request_context():
        session = get_session()
        session.execute(update(Deployment).values(reflection_review=True))
        session.commit()


def test_instructor_view_roster_with_progress_is_accessible_in_both_languages(
    page: Page, tool: ToolServer, lms: DemoSettings, auditor: Auditor  # noqa: F811
) -> None:
    lms_page = LmsPage(page, lms).open()
    lms_page.launch("learner", "fr-CA")
    expect(lms_page.frame.locator("h1")).to_be_visible()
    _learner_progress(tool)

    for locale, lang in (("fr-CA", "fr"), ("en", "en")):
        frame = lms_page.launch("instructor", locale)
        expect(frame.locator("h1")).to_have_text(ui("Instructor page", lang))
        expect(frame.locator("html")).to_have_attribute("lang", lang)
        row = frame.locator(f"tr[data-user='{LEARNER_SUB}']")
        expect(row).to_have_attribute("data-status", "completed")
        expect(row.locator("th")).to_contain_text("Alex Tremblay")
        expect(row.locator("td[data-case='case-2']")).to_contain_text(
            "1 erreur critique" if lang == "fr" else "1 critical error")
        expect(frame.locator("tr[data-user='demo-user-camille-roy']")).to_have_count(0)
        expect(frame.locator("caption#progress-caption")).to_be_visible()
        auditor.in_frame(lms_page.tool_frame(), f"instructor view [{lang}]")

    roster_url = lms_page.tool_url()
    auditor.page(roster_url, "instructor view")
    auditor.page(roster_url + "&status=completed", "instructor view, filtered")

    # The filter form, without JavaScript semantics: a plain GET.
    frame = lms_page.frame
    frame.locator("#status-filter").select_option("not_started")
    frame.locator("form.filters button[type='submit']").click()
    # The demo course's second learner has not started; Alex, who completed, is filtered out.
    expect(frame.locator("tr[data-user='demo-user-jade-morin']")).to_have_count(1)
    expect(frame.locator(f"tr[data-user='{LEARNER_SUB}']")).to_have_count(0)
    frame.locator("#status-filter").select_option("in_progress")
    frame.locator("form.filters button[type='submit']").click()
    expect(frame.locator("[data-testid='no-match']")).to_be_visible()
    frame.locator("#status-filter").select_option("")
    frame.locator("form.filters button[type='submit']").click()

    # A learner's detail: path through the cases, reflections, the review form.
    frame.locator(f"tr[data-user='{LEARNER_SUB}'] th a").click()
    expect(frame.locator("[data-testid='learner-name']")).to_have_text("Alex Tremblay")
    expect(frame.locator("[data-testid='review-form']")).to_be_visible()
    auditor.in_frame(lms_page.tool_frame(), "learner detail")
    auditor.page(lms_page.tool_url(), "learner detail")
    frame.locator("#decision-returned").check()
    frame.locator("#review-comment").fill("Précisez votre deuxième réponse.")
    frame.locator("form.review-form button[type='submit']").click()
    expect(frame.locator("[data-testid='review-done']")).to_be_visible()
    auditor.in_frame(lms_page.tool_frame(), "learner detail, reviewed")

    # The preview of the cases: marked on every page, with the answer key.
    frame.locator("a[href*='/instructor?']").first.click()
    frame.locator("a[href*='/level?']").last.click()
    expect(frame.locator("[data-testid='preview-banner']")).to_be_visible()
    auditor.in_frame(lms_page.tool_frame(), "preview: level home")
    frame.locator("li.case-card[data-case='case-1'] form button[type='submit']").click()
    expect(frame.locator("section.decision")).to_be_visible()
    expect(frame.locator("[data-testid='preview-banner']")).to_be_visible()
    key = frame.locator("[data-testid='answer-key']")
    expect(key).to_be_visible()
    expect(key.locator("li[data-points='2']").first).to_be_visible()
    assert re.search(r"/attempts/\d+\?t=", lms_page.tool_url())
    auditor.in_frame(lms_page.tool_frame(), "preview: decision with the answer key")
    auditor.page(lms_page.tool_url(), "preview: decision with the answer key")
    auditor.assert_clean()
