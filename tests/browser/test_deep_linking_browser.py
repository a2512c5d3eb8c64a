"""Deep linking in Chromium, inside the demo LMS's iframe (issue 10): the picker answers its
request once. The instructor's choice goes back to the LMS; the same picker submitted again (the
page left open in a second tab, or Back) shows a clear page in the instructor's language first
instead of posting a second response, and the picker opened again says the same. axe-core finds
nothing on that page in either language.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from lti_tool.demo import DemoSettings
from tests.browser import axe
from tests.browser.conftest import LmsPage, ToolServer, ui

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("locale, lang, other", [("fr-CA", "fr", "en"), ("en", "en", "fr")])
def test_the_picker_answers_once(page: Page, tool: ToolServer, lms: DemoSettings,
                                 locale: str, lang: str, other: str) -> None:
    lms_page = LmsPage(page, lms).open()
    frame = lms_page.add_activity(locale)
    expect(frame.locator("h1")).to_have_text(ui("Choose the activity to add", lang))
    picker_url = lms_page.tool_url()

    # The same picker open in a second tab, as it would be after Back.
    second = page.context.new_page()
    second.goto(picker_url)
    expect(second.locator("h1")).to_have_text(ui("Choose the activity to add", lang))

    frame.locator("#activity-case-2").check()
    with page.expect_response(lambda r: r.url.startswith(lms.base_url)
                              and r.request.method == "POST") as returned:
        frame.locator("form[method='post'] button[type='submit']").click()
    assert returned.value.ok, returned.value.status

    second.locator("#activity-case-3").check()
    posts: list[str] = []
    second.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    second.locator("form[method='post'] button[type='submit']").click()
    answered = second.locator("[data-testid='dl-answered']")
    expect(answered).to_be_visible()
    expect(answered).to_have_attribute("lang", lang)
    expect(second.locator(f"section.dl-answered-other[lang='{other}']")).to_be_visible()
    assert second.locator("#dl-response").count() == 0
    assert not [u for u in posts if u.startswith(lms.base_url)], "a second response was posted"
    axe.assert_accessible(second, f"deep linking already answered (POST) [{lang}]")

    # The picker opened again (Back refetches it: no-store) says the same, in either language.
    second.goto(picker_url)
    expect(answered).to_have_attribute("lang", lang)
    axe.assert_accessible(second, f"deep linking already answered (GET) [{lang}]")
    second.locator(f"nav.lang-switch a[hreflang='{other}']").click()
    expect(second.locator("html")).to_have_attribute("lang", other)
    expect(answered).to_have_attribute("lang", other)
    axe.assert_accessible(second, f"deep linking already answered (GET) [{other}]")
