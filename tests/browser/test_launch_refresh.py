"""The learner's first page comes in the answer to the platform's form post (/lti/launch, issue
11). A refresh must show the page again, never post the id_token a second time: launch-url.js
replaces the history entry with the page's own URL."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from lti_tool.demo import DemoSettings
from tests.browser.conftest import LmsPage, ToolServer
from tests.browser.test_launch_browser import launch_posts

pytestmark = pytest.mark.browser


def test_refresh_after_the_launch_shows_the_page_without_posting_again(
    page: Page, tool: ToolServer, lms: DemoSettings
) -> None:
    posts = launch_posts(page, tool.url)
    lms_page = LmsPage(page, lms).open()
    frame = lms_page.launch("learner", "fr-CA")
    expect(frame.locator("h1")).to_have_text(tool.level.title.fr)
    tool_frame = lms_page.tool_frame()
    assert tool_frame.url.startswith(tool.url + "/level?t="), tool_frame.url
    assert len(posts) == 1
    with page.expect_event("framenavigated"):
        tool_frame.evaluate("location.reload()")
    expect(frame.locator("h1")).to_have_text(tool.level.title.fr)
    expect(frame.locator("main.error-page")).to_have_count(0)
    assert len(posts) == 1  # the reload was a GET of /level, not the launch again
    assert lms_page.tool_url().startswith(tool.url + "/level?t=")
