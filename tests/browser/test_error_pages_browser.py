"""Error pages in Chromium (issue 10, item 5): the one action link is there and leads on; axe-core
finds no WCAG 2.1 AA violation in either language; nothing scrolls sideways at 375 px.

The stale form is made as a double click makes it: the decision form's data is posted once (a
`fetch` of the same form, as the first click), then the learner's click posts it again: 409.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from lti_tool.demo import DemoSettings
from tests.browser.conftest import (
    DESKTOP,
    LmsPage,
    Player,
    ToolServer,
    check_page,
    own_context,
    with_lang,
)

pytestmark = pytest.mark.browser



@pytest.fixture
def tab(chromium: Browser) -> Iterator[Page]:
    with own_context(chromium, DESKTOP) as context:
        yield context.new_page()


def test_a_stale_form_page_leads_back_to_the_case(
    page: Page, tool: ToolServer, lms: DemoSettings, tab: Page
) -> None:
    level = tool.level
    first = next(iter(level.cases.values()))
    lms_page = LmsPage(page, lms).open()
    lms_page.launch("learner", "fr-CA")
    player = Player(lms_page, level, "fr")
    player.expect_level_home()
    player.start(first)
    decision_url = lms_page.tool_url()

    # The decision page alone in a tab (its page token), as the learner's phone would show it.
    tab.goto(decision_url)
    tab.locator("input[type='radio']").first.check()
    answered = tab.evaluate("""async () => {
        const form = document.querySelector("form[action*='/choice']");
        const r = await fetch(form.action, {method: "POST", body: new FormData(form)});
        return r.status;
    }""")
    assert answered == 200  # the first post (its 303 followed by fetch)
    tab.locator("form[action*='/choice'] button[type='submit']").click()
    expect(tab.locator("main.error-page[data-error-code='already_answered']")).to_be_visible()
    problems = check_page(tab, "stale form (409)", "fr")
    # English is folded on the page (a POST cannot be asked again in English): open it and check.
    folded = tab.locator("details[data-testid='error-other-lang']")
    folded.locator("summary").click()
    expect(folded.locator("h2")).to_have_text("Step already answered")
    problems += check_page(tab, "stale form (409), English opened", "fr")

    action = tab.locator("[data-testid='error-action'] a")
    expect(action).to_have_count(1)
    expect(action).to_contain_text("Retour au cas")
    action.click()
    expect(tab.locator("main.error-page")).to_have_count(0)
    assert "/attempts/" in tab.url and "t=" in tab.url
    expect(tab.locator("h1")).to_be_visible()
    assert not problems, "\n".join(problems)


def test_a_page_opened_without_a_session_in_both_languages(tool: ToolServer, tab: Page) -> None:
    problems: list[str] = []
    for lang in ("fr", "en"):
        tab.goto(with_lang(tool.url + "/level", lang))
        expect(tab.locator("main.error-page[data-error-code='no_session']")).to_be_visible()
        expect(tab.locator("[data-testid='error-action']")).to_be_visible()
        problems += check_page(tab, "no session (401)", lang)
    # The header's link switches the whole page to the other language.
    tab.locator("[data-testid='error-lang-switch']").click()
    expect(tab.locator("html")).to_have_attribute("lang", "fr")
    expect(tab.locator("h1")).to_have_text("Ouvrez cette activité depuis votre cours")
    assert not problems, "\n".join(problems)
