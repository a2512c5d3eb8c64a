"""The attestation page in headless Chromium: axe-core finds no WCAG 2.1 A/AA violation, in French
and English, for the learner's page (awarded, and the draft before the award), the instructor's
view and the share link; and it does not scroll sideways at 320 CSS px (WCAG 1.4.10 Reflow)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.badges.attestation_support import NAME, build_world, instructor_token, learner_token
from tests.browser import axe
from tests.browser.conftest import ToolServer

pytestmark = pytest.mark.browser

LANGS = ("fr", "en")
TITLES = {"fr": "Preuve et attestation de développement professionnel",
          "en": "Proof and attestation of professional development"}


def _check(page: Page, url: str, lang: str, where: str, failures: list[str]) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    response = page.goto(url)
    assert response is not None and response.status == 200, where
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1")).to_have_text(TITLES[lang])
    violations = axe.run(page)
    if violations:
        failures.append(axe.report(where, violations))
    page.set_viewport_size({"width": 320, "height": 640})
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        failures.append(f"{where}: scrolls sideways by {overflow}px at 320 px")


def test_attestation_pages_pass_axe_in_both_languages(tool: ToolServer, page: Page) -> None:
    app = tool.app
    world = build_world(app)
    failures: list[str] = []
    for lang in LANGS:
        mine = f"{tool.url}/attestation?t={learner_token(app, world, lang)}&lang={lang}"
        _check(page, mine, lang, f"learner's attestation ({lang})", failures)
        expect(page.get_by_test_id("attestation-learner")).to_have_text(NAME)
        share = page.get_by_test_id("attestation-share").get_attribute("href")
        assert share
        theirs = (f"{tool.url}/instructor/learners/{world.learner_id}/attestation"
                  f"?t={instructor_token(app, world, lang)}&lang={lang}")
        _check(page, theirs, lang, f"instructor's view ({lang})", failures)
        _check(page, f"{share}?lang={lang}", lang, f"share link ({lang})", failures)
    assert not failures, "\n".join(failures)


def test_draft_attestation_passes_axe(tool: ToolServer, page: Page) -> None:
    app = tool.app
    world = build_world(app, award=False)
    failures: list[str] = []
    for lang in LANGS:
        url = f"{tool.url}/attestation?t={learner_token(app, world, lang)}&lang={lang}"
        _check(page, url, lang, f"draft attestation ({lang})", failures)
        expect(page.get_by_test_id("attestation-draft")).to_be_visible()
    assert not failures, "\n".join(failures)
