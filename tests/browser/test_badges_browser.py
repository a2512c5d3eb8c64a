"""The badge verification page (`/badges/verify/<credential-id>`) passes axe-core — 0 WCAG 2.1 A/AA
violations — in French and English, for a valid and for a revoked badge, at 1280 px and 320 px
wide (no sideways scrolling: WCAG 1.4.10), opened alone in a tab as an employer would."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.badges.embedded_support import NAME, issue_badge, revoke
from tests.browser import axe
from tests.browser.conftest import DESKTOP, ToolServer

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 640}
STATES = {"valid": {"fr": "Ce badge est valide.", "en": "This badge is valid."},
          "revoked": {"fr": "Ce badge a été révoqué.", "en": "This badge has been revoked."}}


def _check(page: Page, url: str, state: str, lang: str) -> list[str]:
    failures = []
    for viewport in (DESKTOP, NARROW):
        page.set_viewport_size(viewport)
        page.goto(url)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.get_by_test_id("badge-state")).to_contain_text(STATES[state][lang])
        expect(page.get_by_test_id("badge-learner")).to_have_text(NAME)
        where = f"{state} badge, {lang}, {viewport['width']} px"
        violations = axe.run(page)
        if violations:
            failures.append(axe.report(where, violations))
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            failures.append(f"{where}: scrolls sideways by {overflow} px")
    return failures


def test_verification_page_is_accessible_in_both_languages(tool: ToolServer, page: Page) -> None:
    issued = issue_badge(tool.app)
    failures: list[str] = []
    for lang in ("fr", "en"):
        url = f"{tool.url}/badges/verify/{issued.credential_id}?lang={lang}"
        failures += _check(page, url, "valid", lang)
        # The language switch leads to the same page in the other language.
        page.set_viewport_size(DESKTOP)
        page.goto(url)
        other = "en" if lang == "fr" else "fr"
        page.locator(f'a[hreflang="{other}"]').click()
        expect(page.locator("html")).to_have_attribute("lang", other)
        expect(page.get_by_test_id("badge-linkedin")).to_be_visible()

    revoke(tool.app, issued.award_id)
    for lang in ("fr", "en"):
        failures += _check(page, f"{tool.url}/badges/verify/{issued.credential_id}?lang={lang}",
                           "revoked", lang)
    assert not failures, "\n".join(failures)
