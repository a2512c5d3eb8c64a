"""No page scrolls sideways on a phone: at 375×667 CSS px, every page type of the demo LMS and of
the tool has `document.scrollingElement.scrollWidth <= 375` (issue 10: the demo LMS's course page
was 472 px wide and its table cells covered the launch buttons).

The demo LMS's pages are measured in a 375 px tab, and its course page is also used there: the
launches are clicked at that width (Playwright refuses a click on a covered button). The tool's
pages are reached by playing in that LMS page, then measured alone in a 375 px tab from their
address (its page token), as a phone would show them. A page only a POST shows (the LMS's
deep-linking confirmation, inside the tool frame) is measured where it appears: no wider than
its frame. Each test reports every page that overflows and the elements sticking out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from lti_tool.demo import DemoSettings
from lti_tool.demo.settings import DEFAULT_LINK_ID
from tests.badges.attestation_support import build_world, instructor_token, learner_token
from tests.browser.conftest import (
    PHONE,
    Checks,
    LmsPage,
    Player,
    ToolServer,
    best_path,
    own_context,
    ui,
)
from tests.grading.test_instructor_view import play

pytestmark = pytest.mark.browser

LEARNER_SUB = "demo-user-alex-tremblay"
# [scrollWidth, clientWidth, the first elements whose right edge is past the viewport]
MEASURE = """() => {
  const doc = document.scrollingElement || document.documentElement;
  const limit = doc.clientWidth;
  const wide = Array.from(document.querySelectorAll("body *"))
    .filter(e => e.getBoundingClientRect().right > limit + 1)
    .slice(0, 6)
    .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
      + (typeof e.className === "string" && e.className.trim()
         ? "." + e.className.trim().split(/\\s+/).join(".") : "")
      + " (" + Math.round(e.getBoundingClientRect().right) + " px)");
  return [doc.scrollWidth, limit, wide];
}"""


@dataclass
class Ruler(Checks):
    """Measures pages at 375 px and gathers every overflow."""

    measured: list[str] = field(default_factory=list)

    def url(self, url: str, where: str) -> None:
        response = self.tab.goto(url)
        assert response is not None, where
        self.tab.wait_for_load_state()
        self.shown(self.tab, f"{where} [{response.status}]")

    def shown(self, target: Page | Frame, where: str) -> None:
        """`target`'s current document: no wider than 375 px (a frame: than the frame)."""
        scroll_width, client_width, wide = target.evaluate(MEASURE)
        limit = PHONE["width"] if isinstance(target, Page) else client_width
        self.measured.append(where)
        if scroll_width > limit:
            self.failures.append(f"{where}: scrollWidth {scroll_width} > {limit} "
                                 f"(sticking out: {', '.join(wide) or '?'})")

    def assert_none_overflows(self) -> None:
        assert self.measured, "nothing was measured"
        assert not self.failures, (f"{len(self.failures)} of {len(self.measured)} pages scroll "
                                   "sideways at 375 px:\n" + "\n".join(self.failures))


@pytest.fixture
def phone(chromium: Browser) -> Iterator[Page]:
    """The LMS page, in a phone-sized window."""
    with own_context(chromium, PHONE) as context:
        yield context.new_page()


@pytest.fixture
def ruler(chromium: Browser) -> Iterator[Ruler]:
    with own_context(chromium, PHONE) as context:
        yield Ruler(context)


def test_demo_lms_pages_and_its_deep_linking_confirmation(
        phone: Page, tool: ToolServer, lms: DemoSettings, ruler: Ruler) -> None:
    ruler.url(lms.base_url + "/", "demo LMS course page")
    ruler.url(lms.base_url + "/grades", "demo LMS gradebook")
    ruler.url(lms.base_url + "/no-such-page", "demo LMS error page")

    # The instructor adds an activity: the launch button is clicked at 375 px, the tool's picker
    # answers, and the LMS's confirmation shows inside the tool frame.
    lms_page = LmsPage(phone, lms).open()
    ruler.shown(phone, "demo LMS course page (the window launching)")
    frame = lms_page.add_activity("fr-CA")
    expect(frame.locator("h1")).to_have_text(ui("Choose the activity to add", "fr"))
    ruler.url(lms_page.tool_url(), "tool: deep-linking picker")
    boxes = frame.locator("form input[type='checkbox']")
    if boxes.count():
        boxes.first.check()
    frame.locator("form button[type='submit']").click()
    expect(frame.locator("p.demo-tag")).to_be_visible()
    expect(frame.locator(".demo-banner")).to_have_count(0)  # the course page has the banner
    expect(frame.locator("h1")).to_have_count(1)
    ruler.shown(lms_page.tool_frame(), "demo LMS deep-linking confirmation (in the tool frame)")
    phone.reload()
    ruler.shown(phone, "demo LMS course page with an added activity")
    ruler.assert_none_overflows()


def test_learner_pages(phone: Page, tool: ToolServer, lms: DemoSettings, ruler: Ruler) -> None:
    level = tool.level
    first, *others = list(level.cases.values())
    lms_page = LmsPage(phone, lms).open()
    lms_page.launch("learner", "fr-CA")  # clicked at 375 px: no cell covers the button
    player = Player(lms_page, level, "fr")
    player.expect_level_home()

    def here(where: str) -> None:
        ruler.url(lms_page.tool_url(), where)

    here("level home, nothing started")
    player.start(first)
    here("decision")
    for index, (node, best) in enumerate(best_path(first)):
        player.expect_decision(node)
        player.choose(node, best)
        if index == 0:
            here("consequence")
        player.proceed()
    player.expect_ending()
    here("ending")
    player.open_debrief()
    here("debrief")

    for case in others:  # the other cases are played by the service, not clicked through
        play(tool.app, LEARNER_SUB, case.id, link=DEFAULT_LINK_ID)
    player.back_home()
    here("level home, every case passed")
    player.frame.locator("section.reflections-summary a").first.click()
    expect(player.frame.locator("h1")).to_have_text(ui("Reflection questions", "fr"))
    here("reflections")
    ruler.assert_none_overflows()


def test_instructor_attestation_and_error_pages(
        phone: Page, tool: ToolServer, lms: DemoSettings, ruler: Ruler) -> None:
    lms_page = LmsPage(phone, lms).open()
    lms_page.launch("instructor", "fr-CA")
    expect(lms_page.frame.locator("h1")).to_have_text(ui("Instructor page", "fr"))
    ruler.url(lms_page.tool_url(), "instructor view: class list")

    app = tool.app
    world = build_world(app)
    ruler.url(f"{tool.url}/attestation?t={learner_token(app, world)}", "attestation (learner)")
    ruler.url(f"{tool.url}/instructor/learners/{world.learner_id}/attestation"
              f"?t={instructor_token(app, world)}", "attestation (instructor's view)")
    ruler.url(f"{tool.url}/instructor/learners/{world.learner_id}"
              f"?t={instructor_token(app, world)}", "instructor view: a learner")

    ruler.url(tool.url + "/level?t=not-a-token", "error page: bad page token")
    ruler.url(tool.url + "/level", "error page: no launch")
    ruler.url(tool.url + "/no-such-page", "error page: 404")
    ruler.assert_none_overflows()
