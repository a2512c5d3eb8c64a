"""axe-core finds no WCAG 2.1 A/AA violation on any page type of the tool, in French and English,
and no page scrolls sideways at 320 CSS px (WCAG 1.4.10 Reflow).

Each page is checked where the learner sees it (inside the demo LMS's iframe, as played) and, from
its address, alone in a tab: in both languages (`lang=`), at 1280 px and at 320 px wide. Pages
that only a POST shows (a refused launch, a refused submission) are checked where they appear.
The demo LMS's own page is not checked: it is not part of the tool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, Frame, FrameLocator, Page, expect

from lti_tool.cases.model import Level
from lti_tool.demo import DemoSettings
from tests.browser import axe
from tests.browser.conftest import (
    DESKTOP,
    Checks,
    LmsPage,
    Player,
    ProfileFactory,
    ToolServer,
    best_path,
    critical_choice,
    own_context,
    ui,
    with_lang,
)
from tests.browser.test_launch_browser import refuse_cookies_of

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 640}
LANGS = ("fr", "en")


@dataclass
class Auditor(Checks):
    """axe and sideways scrolling, page after page."""

    checked: list[str] = field(default_factory=list)

    def _axe(self, target: Page | Frame, where: str) -> None:
        violations = axe.run(target)
        self.checked.append(where)
        if violations:
            self.failures.append(axe.report(where, violations))

    def in_frame(self, frame: Frame, where: str) -> None:
        """The document as shown in the LMS iframe."""
        frame.wait_for_load_state()
        self._axe(frame, f"{where} (in the LMS iframe)")

    def page(self, url: str, where: str, langs: tuple[str | None, ...] = LANGS) -> None:
        """The page alone in a tab, per language (None: the address as is)."""
        tab = self.tab
        for lang in langs:
            tab.set_viewport_size(DESKTOP)
            tab.goto(with_lang(url, lang) if lang else url)
            if lang:
                expect(tab.locator("html")).to_have_attribute("lang", lang)
            self.shown(tab, f"{where} [{lang or 'bilingual'}]")

    def shown(self, tab: Page, where: str) -> None:
        """The tab's current document at 1280 px, then at 320 px (axe and sideways scrolling)."""
        tab.set_viewport_size(DESKTOP)
        self._axe(tab, f"{where} 1280 px")
        tab.set_viewport_size(NARROW)
        width = tab.evaluate("() => document.documentElement.scrollWidth")
        if width > NARROW["width"] + 1:
            wide = tab.evaluate(
                """limit => Array.from(document.querySelectorAll("body *"))
                    .filter(e => e.getBoundingClientRect().right > limit + 1)
                    .slice(0, 6).map(e => e.tagName.toLowerCase()
                        + (e.id ? "#" + e.id : "")
                        + (typeof e.className === "string" && e.className.trim()
                           ? "." + e.className.trim().split(/\\s+/).join(".") : ""))""",
                NARROW["width"])
            self.failures.append(f"{where} 320 px: scrolls sideways, scrollWidth {width} > 321 "
                                 f"(too wide: {', '.join(wide)})")
        self._axe(tab, f"{where} 320 px")
        tab.set_viewport_size(DESKTOP)

    def assert_clean(self) -> None:
        assert self.checked, "nothing was checked"
        assert not self.failures, (f"{len(self.failures)} failing check(s) of "
                                   f"{len(self.checked)}:\n" + "\n".join(self.failures))


def submit_too_short(scope: Page | FrameLocator, level: Level, text: str) -> None:
    for question in level.reflections:
        scope.locator(f"#answer-{question.id}").fill(text)
    scope.locator("#reflections-form button[type='submit']").click()
    expect(scope.locator("[data-testid='error-summary']")).to_be_visible()


@pytest.fixture
def auditor(chromium: Browser) -> Iterator[Auditor]:
    with own_context(chromium, DESKTOP) as context:
        yield Auditor(context)


def test_error_pages(
    page: Page, tool: ToolServer, auditor: Auditor, chromium_profile: ProfileFactory
) -> None:
    lms = tool.add_lms(registered_deployments=["another-deployment"])
    lms_page = LmsPage(page, lms).open()
    lms_page.launch("learner")
    expect(lms_page.frame.locator("main.error-page[data-error-code='unknown_deployment']")
           ).to_be_visible()
    refused = lms_page.tool_frame()
    auditor.in_frame(refused, "error page: unknown deployment")
    auditor.page(refused.url, "error page: unknown deployment", langs=(None,))
    auditor.page(tool.url + "/level?t=not-a-token", "error page: bad page token",
                 langs=(None,))
    auditor.page(tool.url + "/no-such-page", "error page: 404", langs=(None,))

    # A refusal that only a POST shows: the launch whose state cookie the browser dropped.
    strict = chromium_profile(refuse_cookies_of(tool.url))
    strict_page = strict.pages[0] if strict.pages else strict.new_page()
    unbound = LmsPage(strict_page, tool.add_lms(storage_target=None)).open()
    unbound.launch("learner")
    expect(unbound.frame.locator("main.error-page[data-error-code='state_not_bound']")
           ).to_be_visible()
    auditor.in_frame(unbound.tool_frame(), "error page: state not bound")
    auditor.assert_clean()


def test_learner_pages(page: Page, tool: ToolServer, lms: DemoSettings, auditor: Auditor) -> None:
    level = tool.level
    first, second, third = list(level.cases.values())
    lms_page = LmsPage(page, lms).open()
    lms_page.launch("learner", "fr-CA")
    player = Player(lms_page, level, "fr")
    player.expect_level_home()

    def check(where: str) -> None:
        frame = lms_page.tool_frame()
        auditor.in_frame(frame, where)
        auditor.page(frame.url, where)

    check("level home, nothing started")

    crit_node, crit_choice = critical_choice(first)
    path = list(best_path(first))
    player.start(first)
    check("decision, first of the case (situation shown)")
    seen: set[str] = set()
    for node, best in path:
        player.expect_decision(node)
        if node == crit_node:
            player.choose(node, crit_choice, critical=True)
            check("consequence with the critical-error note")
            player.proceed()
            player.expect_decision(node, retry=True)
            check("decision, second try after a critical error")
        elif "later decision" not in seen and node != first.start:
            seen.add("later decision")
            check("decision, later (situation folded)")
        player.choose(node, best)
        if "consequence" not in seen:
            seen.add("consequence")
            check("consequence")
        player.proceed()
    player.expect_ending()
    check("ending")
    player.open_debrief()
    check("debrief")
    player.back_home()

    player.start(second)
    node, best = next(best_path(second))
    player.choose(node, best)
    player.proceed()
    player.back_home()
    check("level home, a case in progress")
    player.frame.locator("[data-testid='resume'] a").click()
    player.play_best(second, list(best_path(second))[1][0])
    player.open_debrief()
    player.back_home()
    player.start(third)
    player.play_best(third)
    player.open_debrief()
    player.back_home()

    player.frame.locator("section.reflections-summary a.button").click()
    expect(player.frame.locator("h1")).to_have_text(ui("Reflection questions", "fr"))
    check("reflections, empty")
    reflections_url = lms_page.tool_url()
    # A refused submission (answers too short), after its redirect to the reflections page: in
    # French in the iframe, in English in a tab of its own.
    submit_too_short(player.frame, level, "Trop court.")
    auditor.in_frame(lms_page.tool_frame(), "reflections, refused submission [fr]")
    tab = auditor.tab
    tab.goto(with_lang(reflections_url, "en"))
    submit_too_short(tab, level, "Too short.")
    auditor.shown(tab, "reflections, refused submission [en]")

    frame = player.frame
    for question in level.reflections:
        frame.locator(f"#answer-{question.id}").fill(
            "Une réponse de plus de trente mots pour cette question de réflexion, écrite avec soin "
            "par une personne du personnel scolaire qui suit la formation et qui relit chacune "
            "des étapes de la méthode avant de soumettre ses réponses à la personne formatrice.")
    frame.locator("#reflections-form button[type='submit']").click()
    expect(frame.locator("[data-testid='submitted']")).to_be_visible()
    check("reflections, submitted and shown back")
    player.back_home()
    check("level home, level done")
    auditor.assert_clean()


def test_instructor_deep_linking_and_configuration_pages(
    page: Page, tool: ToolServer, lms: DemoSettings, auditor: Auditor
) -> None:
    lms_page = LmsPage(page, lms).open()
    lms_page.launch("instructor", "fr-CA")
    expect(lms_page.frame.locator("h1")).to_have_text(ui("Instructor page", "fr"))
    auditor.in_frame(lms_page.tool_frame(), "instructor page")
    auditor.page(lms_page.tool_url(), "instructor page")

    lms_page.add_activity("fr-CA")
    expect(lms_page.frame.locator("h1")).to_have_text(ui("Choose the activity to add", "fr"))
    auditor.in_frame(lms_page.tool_frame(), "deep-linking picker")
    auditor.page(lms_page.tool_url(), "deep-linking picker")

    auditor.page(tool.url + "/lti/config", "tool configuration (/lti/config)")
    auditor.page(tool.url + "/lti/config?moodle=https://moodle.example.org",
                 "tool configuration with a Moodle site")
    auditor.assert_clean()
