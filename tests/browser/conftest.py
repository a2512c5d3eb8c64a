"""The tool and the demo LMS served over real HTTP, and headless Debian Chromium driven by Playwright.

The LMS page is served at http://127.0.0.1:<p1> and the tool at http://localhost:<p2>: two sites,
so the tool's iframe in the LMS page is truly third-party (both hosts are loopback, which Chromium
treats as secure contexts: `Secure` and `Partitioned` cookies work over plain http there).

Chromium is Debian's, at /usr/bin/chromium (scripts/ensure-browser.sh installs it): when it is
missing the tests fail, they never skip. Every test gets a fresh browser context and an empty
database afterwards (the suite runs on SQLite and again on PostgreSQL + Redis).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from babel.support import Translations
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Frame,
    FrameLocator,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

import lti_tool
from lti_tool import create_app
from lti_tool.cases.loader import load_level
from lti_tool.cases.model import Case, Decision, Level
from lti_tool.db import get_session
from lti_tool.demo import DemoSettings
from lti_tool.demo.settings import DEFAULT_LINK_ID
from lti_tool.launch.registry import add_platform
from tests import backends
from tests.conftest import _truncate, make_settings
from tests.support.platform_server import run_platform, serve_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 667}
TOOL_HOST = "localhost"  # the LMS is on 127.0.0.1: another site

expect.set_options(timeout=TIMEOUT_MS)


# -- the browser -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    # Module scope, not session: other suites (tests/demo) start their own sync_playwright(),
    # which cannot run while another one is open in the same thread.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


ProfileFactory = Callable[[dict[str, Any]], BrowserContext]


@pytest.fixture
def chromium_profile(playwright_driver: Playwright, tmp_path: Path) -> Iterator[ProfileFactory]:
    """Chromium with a user profile whose Preferences are given: the way to change settings that
    have no command-line flag (cookie controls, per-site cookie exceptions)."""
    opened: list[BrowserContext] = []

    def open_profile(preferences: dict[str, Any]) -> BrowserContext:
        user_data = tmp_path / f"chromium-profile-{len(opened)}"
        (user_data / "Default").mkdir(parents=True)
        (user_data / "Default" / "Preferences").write_text(json.dumps(preferences))
        ctx = playwright_driver.chromium.launch_persistent_context(
            str(user_data), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport=DESKTOP)
        ctx.set_default_timeout(TIMEOUT_MS)
        opened.append(ctx)
        return ctx

    yield open_profile
    for ctx in opened:
        ctx.close()


# -- the tool and the demo LMS -----------------------------------------------------------------
@dataclass
class ToolServer:
    """The tool served at `url`; `add_lms` serves a demo LMS registered in it."""

    app: Flask
    url: str
    tmp: Path
    exits: ExitStack

    @property
    def level(self) -> Level:
        return content_level(self.app.extensions["settings"].content_dir)

    def add_lms(self, *, storage_target: str | None = "_parent", register: bool = True,
                registered_deployments: list[str] | None = None) -> DemoSettings:
        settings = DemoSettings(base_url="http://127.0.0.1:0", tool_base_url=self.url,
                                keys_dir=self.tmp / "demo", storage_target=storage_target)
        lms = dataclasses.replace(settings, base_url=self.exits.enter_context(run_platform(settings)))
        if register:
            with self.app.test_request_context():
                session = get_session()
                add_platform(session, issuer=lms.issuer, client_id=lms.client_id,
                             auth_url=lms.auth_url, token_url=lms.token_url, jwks_url=lms.jwks_url,
                             deployment_ids=registered_deployments or [lms.deployment_id],
                             name="Demo LMS")
                session.commit()
        return lms


@pytest.fixture
def tool(database_url: str, redis_url: str | None, keys_dir: Path,
         tmp_path: Path) -> Iterator[ToolServer]:
    apps: list[Flask] = []

    def factory(url: str) -> Flask:
        app = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path, base_url=url))
        apps.append(app)
        return app

    with serve_app(factory, host=TOOL_HOST) as url:
        app = apps[0]
        try:
            with ExitStack() as exits:
                yield ToolServer(app, url, tmp_path, exits)
        finally:
            _truncate(app)
            if redis_url:
                backends.redis_client().flushdb()
            app.extensions["db_engine"].dispose()


@pytest.fixture
def lms(tool: ToolServer) -> DemoSettings:
    """The demo LMS with LTI Platform Storage in its page (target `_parent`), registered."""
    return tool.add_lms()


@cache
def content_level(content_dir: Path) -> Level:
    return load_level(content_dir)


# -- UI strings in the page's language ---------------------------------------------------------
@cache
def _french() -> Translations:
    root = Path(lti_tool.__file__).parent
    catalogs = [Translations.load(str(d.parent), ["fr"]) for d in sorted(root.glob("**/translations/fr"))]
    merged = catalogs[0]
    for other in catalogs[1:]:
        merged.merge(other)
    return merged


def ui(msgid: str, lang: str, **values: Any) -> str:
    """What the tool shows for `msgid` in `lang` (its catalogues, as the app uses them)."""
    text = msgid if lang == "en" else _french().gettext(msgid)
    return text % values if values else text


def ui_prefix(msgid: str, lang: str) -> str:
    """The fixed start of a message with placeholders (for `to_contain_text`)."""
    return ui(msgid, lang).split("%(")[0]


def with_lang(url: str, lang: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "lang"] + [("lang", lang)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- the LMS page and the tool in its iframe ---------------------------------------------------
@contextmanager
def own_context(chromium: Browser, viewport: Any) -> Iterator[BrowserContext]:
    """A browser context of its own: a second tab in the LMS page's window would put that page in
    the background, where Chromium stops rendering it."""
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def check_page(tab: Page, where: str, lang: str, wide: Any = DESKTOP) -> list[str]:
    """The tab's current page, in `lang`: axe at the `wide` size and at 375 px, and no sideways
    scrolling at 375 px; the problems found (the tab is left at the wide size)."""
    from tests.browser import axe

    problems: list[str] = []
    expect(tab.locator("html")).to_have_attribute("lang", lang)
    for viewport in (wide, PHONE):
        tab.set_viewport_size(viewport)
        violations = axe.run(tab)
        if violations:
            problems.append(axe.report(f"{where} [{lang}] {viewport['width']} px", violations))
    width = tab.evaluate("() => document.scrollingElement.scrollWidth")
    if width > PHONE["width"]:
        problems.append(f"{where} [{lang}] scrolls sideways at 375 px: {width} px")
    tab.set_viewport_size(wide)
    return problems


@dataclass
class Checks:
    """Checks that gather every failure, so one run reports them all, in a tab of their own
    (opened when first needed)."""

    context: BrowserContext
    failures: list[str] = field(default_factory=list)
    _tab: Page | None = None

    @property
    def tab(self) -> Page:
        if self._tab is None or self._tab.is_closed():
            self._tab = self.context.new_page()
        return self._tab


class LmsPage:
    """The demo LMS course page in a browser tab, and the tool in its iframe."""

    FRAME = "#tool-frame"

    def __init__(self, page: Page, lms: DemoSettings) -> None:
        self.page = page
        self.lms = lms

    def open(self) -> LmsPage:
        self.page.goto(self.lms.base_url + "/")
        return self

    def launch(self, user: str = "learner", locale: str = "fr-CA",
               link: str = DEFAULT_LINK_ID) -> FrameLocator:
        """Press the launch button of `user` on the activity `link`, in `locale`."""
        self.page.select_option("#launch-locale", locale)
        self.page.locator(
            f"li[data-link-id='{link}'] form.launch-form:has(input[name='user'][value='{user}']) "
            "button").click()
        return self.frame

    def add_activity(self, locale: str = "fr-CA") -> FrameLocator:
        """The instructor's deep-linking button."""
        self.page.select_option("#launch-locale", locale)
        self.page.locator("form.launch-form:has(input[name='kind'][value='deep_linking']) "
                          "button").click()
        return self.frame

    @property
    def frame(self) -> FrameLocator:
        return self.page.frame_locator(self.FRAME)

    def tool_frame(self) -> Frame:
        """The iframe's current document as a Frame (to evaluate scripts in it)."""
        frame = self.page.frame(name="tool-frame")
        assert frame is not None, "the LMS page has no tool frame"
        return frame

    def tool_url(self, seconds: float = 10) -> str:
        """The frame's URL. A learner's first page comes in the launch's response; its script
        (launch-url.js) puts the page's own URL in the history after the page shows, so right
        after a launch the frame may still be at /lti/launch for a moment."""
        deadline = time.monotonic() + seconds
        while (url := self.tool_frame().url).endswith("/lti/launch"):
            assert time.monotonic() < deadline, "the launch page never replaced its URL"
            time.sleep(0.05)
        return url


class Player:
    """A learner in the case player inside the LMS iframe, reading the content to choose.

    `lang` is the language every screen must be in; each expectation checks it.
    """

    def __init__(self, lms_page: LmsPage, level: Level, lang: str = "fr") -> None:
        self.lms_page = lms_page
        self.level = level
        self.lang = lang

    @property
    def frame(self) -> FrameLocator:
        return self.lms_page.frame

    @property
    def page(self) -> Page:
        return self.lms_page.page

    def expect_lang(self) -> None:
        expect(self.frame.locator("html")).to_have_attribute("lang", self.lang)

    # -- level home --------------------------------------------------------------------------
    def expect_level_home(self) -> None:
        expect(self.frame.locator("h1")).to_have_text(self.level.title.get(self.lang))
        expect(self.frame.locator("li.case-card").first).to_be_visible()
        self.expect_lang()

    def switch_language(self, lang: str) -> None:
        """Follow the page's language link."""
        self.frame.locator(f"nav.lang-switch a[hreflang='{lang}']").click()
        self.lang = lang
        self.expect_lang()

    def start(self, case: Case) -> None:
        card = self.frame.locator(f"li.case-card[data-case='{case.id}']")
        card.locator("form button[type='submit']").click()
        self.expect_decision(case.start)

    def back_home(self) -> None:
        self.frame.locator("a[href*='/level?']").last.click()
        self.expect_level_home()

    # -- a case ------------------------------------------------------------------------------
    def expect_decision(self, node: str, *, retry: bool = False) -> None:
        expect(self.frame.locator(f"section.decision[data-node='{node}']")).to_be_visible()
        self.expect_lang()
        notice = self.frame.locator("[data-testid='retry-notice']")
        if retry:
            expect(notice).to_be_visible()
        else:
            expect(notice).to_have_count(0)

    def choose(self, node: str, choice: str, *, critical: bool = False) -> None:
        """Pick `choice` with the mouse and confirm; waits for its consequence screen."""
        self.frame.locator(f"#choice-{choice}").check()
        self.frame.locator("form.decision-form button[type='submit']").click()
        self.expect_consequence(node, choice, critical=critical)

    def choose_with_keyboard(self, node: str, choice: str) -> None:
        """Only keys: Tab into the radio group, arrows to the choice, Space, Tab, Enter."""
        frame = self.frame
        radios = frame.locator("form.decision-form input[type='radio'][name='choice']")
        ids = [radios.nth(i).get_attribute("value") for i in range(radios.count())]
        # Start where the skip link leads (main, tabindex=-1), as a keyboard user would.
        frame.locator("main#main").focus()
        for _ in range(30):
            self.page.keyboard.press("Tab")
            if self._focused("name") == "choice":
                break
        start = self._focused("value")
        assert self._focused("name") == "choice", "Tab never reached the choices"
        steps = ids.index(choice) - ids.index(start)
        for _ in range(abs(steps)):
            self.page.keyboard.press("ArrowDown" if steps > 0 else "ArrowUp")
        self.page.keyboard.press("Space")
        assert self._focused("value") == choice
        expect(frame.locator(f"#choice-{choice}")).to_be_checked()
        self.page.keyboard.press("Tab")
        focused = self._focused("outerHTML")
        assert self._focused("type") == "submit", f"Tab after the choices focused {focused}"
        self.page.keyboard.press("Enter")
        self.expect_consequence(node, choice)

    def _focused(self, prop: str) -> str | None:
        value = self.lms_page.tool_frame().evaluate(
            "p => document.activeElement ? String(document.activeElement[p]) : null", prop)
        return value if value is None else str(value)

    def expect_consequence(self, node: str, choice: str, *, critical: bool = False) -> None:
        expect(self.frame.locator(
            f"section.consequence[data-node='{node}'][data-choice='{choice}']")).to_be_visible()
        self.expect_lang()
        note = self.frame.locator("[data-testid='critical-note']")
        if critical:
            expect(note).to_be_visible()
        else:
            expect(note).to_have_count(0)

    def proceed(self) -> None:
        self.frame.locator("form.continue-form button[type='submit']").click()

    def expect_ending(self, passed: bool = True) -> None:
        expect(self.frame.locator("h1[data-outcome]")).to_be_visible()
        self.expect_lang()
        expect(self.frame.locator("p.outcome")).to_have_class(
            re.compile(r"\bstatus-ok\b" if passed else r"\bstatus-bad\b"))

    def open_debrief(self) -> None:
        self.frame.locator("a[href*='/debrief?']").first.click()
        expect(self.frame.locator("h1")).to_have_text(ui("Debrief", self.lang))
        expect(self.frame.locator("ol.method-steps li.method-step").first).to_be_visible()
        self.expect_lang()

    def play_best(self, case: Case, start: str | None = None) -> None:
        """From the decision `start` (shown) to the ending screen, always the best practice."""
        for node, choice in best_path(case, start):
            self.expect_decision(node)
            self.choose(node, choice)
            self.proceed()
        self.expect_ending()


def best_path(case: Case, start: str | None = None) -> Iterator[tuple[str, str]]:
    """(decision, its 2-point choice) from `start` to the ending, as the content file says."""
    node = start or case.start
    while isinstance(case.nodes.get(node), Decision):
        best = case.decision(node).best
        yield node, best.id
        node = best.next


def critical_choice(case: Case) -> tuple[str, str]:
    """The first decision on the best path that offers a critical error, and that choice."""
    node = case.start
    while isinstance(case.nodes.get(node), Decision):
        decision = case.decision(node)
        for choice in decision.choices:
            if choice.critical:
                return node, choice.id
        node = decision.best.next
    raise AssertionError(f"{case.id} has no critical error on its best path")

