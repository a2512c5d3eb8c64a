"""Launches from the demo LMS page in Chromium: the tool inside the LMS iframe, for a learner, an
instructor, a refusal, and a browser that refuses the tool's cookies in that iframe.

How the state of the OIDC login is bound to the browser (lti_tool/launch/views.py): a
`SameSite=None; Secure; Partitioned` cookie (CHIPS) and, when the platform offers it, LTI Platform
Storage (https://www.imsglobal.org/spec/lti-pm-s/v0p1). Chromium blocks third-party cookies but
keeps partitioned ones, so blocking third-party cookies does not remove the tool's state cookie;
`--test-third-party-cookie-phaseout` changes nothing there either (and Chromium 156 already blocks
unpartitioned third-party cookies in a fresh context). A browser that keeps no cookie at all for
the tool in the iframe (as browsers without CHIPS do) is made with Chromium's per-site cookie
setting ("Sites not allowed to use cookies") for the tool's origin: then only Platform Storage can
complete the launch.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from playwright.sync_api import BrowserContext, FrameLocator, Page, expect

from lti_tool.demo import DemoSettings
from tests.browser.conftest import LmsPage, ProfileFactory, ToolServer, ui

pytestmark = pytest.mark.browser

STATE_COOKIE_PREFIX = "lti1p3_state_"  # lti_tool/launch/views.py COOKIE_PREFIX
BLOCK_THIRD_PARTY = {"profile": {"cookie_controls_mode": 1, "block_third_party_cookies": True}}


def refuse_cookies_of(origin: str) -> dict[str, Any]:
    """Profile preferences: third-party cookies blocked, and no cookie at all for `origin`."""
    return {"profile": {**BLOCK_THIRD_PARTY["profile"], "content_settings": {"exceptions": {
        "cookies": {f"{origin},*": {"setting": 2}}}}}}


def tool_state_cookies(context: BrowserContext, tool_url: str) -> list[str]:
    return [c["name"] for c in context.cookies(tool_url) if c["name"].startswith(STATE_COOKIE_PREFIX)]


def launch_posts(page: Page, tool_url: str) -> list[str]:
    """Record the bodies of the POSTs to the tool's /lti/launch made by `page` (any frame)."""
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "")
            if r.method == "POST" and r.url == tool_url + "/lti/launch" else None)
    return bodies


def expect_error_page(frame: FrameLocator, code: str, lang: str = "fr") -> None:
    """The tool's refusal, with its code: the launch's language first, the other folded below."""
    other = "en" if lang == "fr" else "fr"
    expect(frame.locator(f"main.error-page[data-error-code='{code}']")).to_be_visible()
    expect(frame.locator("html")).to_have_attribute("lang", lang)
    expect(frame.locator(f"section.error-lang[lang='{lang}'] h1")).not_to_be_empty()
    # The other language: folded (errors.py's pages) or below (the new-window page).
    expect(frame.locator(f"main.error-page [lang='{other}'] h2")).not_to_be_empty()
    expect(frame.locator(f"section.error-lang[lang='{lang}'] .error-message")).not_to_be_empty()
    expect(frame.locator(f"main.error-page [lang='{other}'] .error-message")).not_to_be_empty()


def test_learner_launch_shows_the_level_home_in_french_inside_the_lms_iframe(
    page: Page, tool: ToolServer, lms: DemoSettings
) -> None:
    frame = LmsPage(page, lms).open().launch("learner", "fr-CA")

    expect(frame.locator("h1")).to_have_text(tool.level.title.fr)
    expect(frame.locator("html")).to_have_attribute("lang", "fr")
    expect(frame.locator("#intro-heading")).to_have_text(ui("About this level", "fr"))
    for case in tool.level.cases.values():
        card = frame.locator(f"li.case-card[data-case='{case.id}']")
        expect(card.locator("h3")).to_have_text(case.title.fr)
        expect(card).to_have_attribute("data-status", "not_started")
    expect(frame.locator("[data-testid='reflections-locked']")).to_be_visible()
    tool_frame = LmsPage(page, lms).tool_frame()
    assert tool_frame.url.startswith(tool.url + "/level?t="), tool_frame.url
    assert tool_frame.parent_frame == page.main_frame  # inside the LMS page, not a new tab
    assert len(page.context.pages) == 1


def test_instructor_launch_shows_the_instructor_page(
    page: Page, tool: ToolServer, lms: DemoSettings
) -> None:
    frame = LmsPage(page, lms).open().launch("instructor", "en")

    expect(frame.locator("h1")).to_have_text(ui("Instructor page", "en"))
    expect(frame.locator("html")).to_have_attribute("lang", "en")
    facts = frame.locator("dl.facts")
    expect(facts).to_contain_text("Formation SEXTO — démo")  # the course of the launch
    expect(facts).to_contain_text("Niveau Architecte")  # its resource link
    assert "/instructor?t=" in LmsPage(page, lms).tool_frame().url


def test_unknown_deployment_shows_a_bilingual_error_page_in_the_iframe(
    page: Page, tool: ToolServer
) -> None:
    lms = tool.add_lms(registered_deployments=["another-deployment"])

    frame = LmsPage(page, lms).open().launch("learner", "en")

    expect_error_page(frame, "unknown_deployment", "en")  # the launch's language first
    expect(frame.locator("section.error-lang[lang='en']")).to_contain_text(lms.deployment_id)
    expect(frame.locator("details[lang='fr']")).to_contain_text(lms.deployment_id)
    expect(frame.locator(".error-code")).to_contain_text("403")


def test_with_third_party_cookies_blocked_the_partitioned_state_cookie_still_binds_the_launch(
    chromium_profile: ProfileFactory, tool: ToolServer
) -> None:
    lms = tool.add_lms(storage_target=None)  # no Platform Storage: the cookie alone
    context = chromium_profile(BLOCK_THIRD_PARTY)
    page = context.pages[0] if context.pages else context.new_page()
    lms_page = LmsPage(page, lms).open()
    posts = launch_posts(page, tool.url)

    frame = lms_page.launch("learner")

    expect(frame.locator("h1")).to_have_text(tool.level.title.fr)
    assert len(posts) == 1 and "lti_storage_binding" not in posts[0]
    # The setting is in force: in the tool's frame an unpartitioned cookie is refused, a
    # partitioned one is kept.
    probe = lms_page.tool_frame().evaluate(
        """() => {
            document.cookie = "probe_3p=1; SameSite=None; Secure; path=/";
            document.cookie = "probe_chips=1; SameSite=None; Secure; Partitioned; path=/";
            return document.cookie;
        }""")
    assert "probe_chips=1" in probe and "probe_3p" not in probe, probe


def test_without_the_tool_cookie_and_without_platform_storage_the_launch_is_refused(
    chromium_profile: ProfileFactory, tool: ToolServer
) -> None:
    lms = tool.add_lms(storage_target=None)
    context = chromium_profile(refuse_cookies_of(tool.url))
    page = context.pages[0] if context.pages else context.new_page()
    lms_page = LmsPage(page, lms).open()

    frame = lms_page.launch("learner")

    expect_error_page(frame, "state_not_bound")
    # The refusal offers to continue in a new top-level window (issue 10, 8b).
    expect(frame.locator("section.error-lang[lang='fr'] h1")).to_have_text(
        "Ouvrir l'activité dans une nouvelle fenêtre")
    expect(frame.locator("section.error-lang[lang='en'] h2")).to_have_text(
        "Open the activity in a new window")
    expect(frame.locator("form[action='/lti/login'][target='_blank'] button").first).to_be_visible()
    assert tool_state_cookies(context, tool.url) == []  # the state cookie never reached the jar


def test_without_the_tool_cookie_platform_storage_completes_the_launch(
    chromium_profile: ProfileFactory, tool: ToolServer
) -> None:
    lms = tool.add_lms(storage_target="_parent")
    context = chromium_profile(refuse_cookies_of(tool.url))
    page = context.pages[0] if context.pages else context.new_page()
    lms_page = LmsPage(page, lms).open()
    posts = launch_posts(page, tool.url)

    frame = lms_page.launch("learner", "en")

    expect(frame.locator("h1")).to_have_text(tool.level.title.en)
    expect(frame.locator("html")).to_have_attribute("lang", "en")
    assert tool_state_cookies(context, tool.url) == []
    # First POST: the id_token without a cookie → the tool asks the LMS page (lti.get_data);
    # second POST: the same id_token with the binding read back from Platform Storage.
    assert len(posts) == 2, posts
    first, second = (dict(parse_qsl(body, keep_blank_values=True)) for body in posts)
    assert set(first) == {"id_token", "state"}
    assert second["id_token"] == first["id_token"] and second["state"] == first["state"]
    assert second["lti_storage_binding"]
