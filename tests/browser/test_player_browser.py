"""A learner plays the whole level in Chromium, inside the demo LMS's iframe: the three cases to
their debrief (one critical error and its retry, one decision by keyboard only, the tab closed
mid-case and the activity relaunched), then the three reflections (autosaved draft, reload,
submit). Once in French; once in English, switched with the page's language link.

Choices are read from the content files (content/cases/*.yaml): the 2-point choice of each
decision, and the first critical error on that path.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from lti_tool.cases.service import word_count
from lti_tool.demo import DemoSettings
from tests.browser.conftest import (
    LmsPage,
    Player,
    ToolServer,
    best_path,
    critical_choice,
    ui,
    ui_prefix,
)

pytestmark = pytest.mark.browser

REFLECTIONS = {
    "fr": {
        "steps": (
            "Au dévoilement, je déclenche le protocole sans réflexe disciplinaire. J'accueille "
            "l'élève avec bienveillance, je repère les éléments aggravants et j'escalade au besoin, "
            "je documente la grille avec la trousse, je sécurise les appareils sans regarder "
            "l'image, j'avise la police et je laisse le DPCP qualifier l'acte avant le suivi."
        ),
        "learned": (
            "Les trois situations m'ont appris qu'il faut agir vite mais dans l'ordre : noter les "
            "faits sans faire décrire l'image, ne jamais demander de copie, informer les parents "
            "avec l'information nécessaire seulement et ne rien promettre sur l'issue du dossier."
        ),
        "delicate": (
            "L'étape la plus délicate pour moi est l'accueil de la victime, parce qu'il faut être "
            "honnête sur les limites de la confidentialité tout en la rassurant. Une "
            "personne-ressource du service de police et une mise en situation m'aideraient."
        ),
    },
    "en": {
        "steps": (
            "On disclosure I trigger the protocol with no disciplinary reflex. I welcome the "
            "student with care, spot aggravating elements and escalate at once when needed, "
            "document the grid with the kit, secure the devices without viewing the image, notify "
            "the police and let the DPCP qualify the act before the school follow-up."
        ),
        "learned": (
            "The three situations taught me to act quickly but in order: note the facts without "
            "having the image described, never ask for a copy, tell parents only the necessary "
            "information, and promise nothing about how the file will end."
        ),
        "delicate": (
            "The most delicate step for me is welcoming the victim, because I must be honest "
            "about the limits of confidentiality while reassuring them. A resource person from the "
            "police service and a practice scenario with colleagues would help me."
        ),
    },
}


def _launch(context: BrowserContext, lms: DemoSettings, locale: str) -> tuple[Page, LmsPage]:
    page = context.new_page()
    lms_page = LmsPage(page, lms).open()
    lms_page.launch("learner", locale)
    return page, lms_page


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_learner_plays_the_three_cases_and_answers_the_reflections(
    lang: str, context: BrowserContext, tool: ToolServer, lms: DemoSettings
) -> None:
    level = tool.level
    first, second, third = list(level.cases.values())
    page, lms_page = _launch(context, lms, "fr-CA")
    player = Player(lms_page, level, "fr")
    player.expect_level_home()
    if lang == "en":
        player.switch_language("en")
        player.expect_level_home()
        expect(player.frame.locator("#cases-heading")).to_have_text(ui("The three cases", "en"))
    frame = player.frame

    # -- case 1: a critical error, its note, the same decision again; one decision by keyboard --
    crit_node, crit_choice = critical_choice(first)
    path = list(best_path(first))
    keyboard_node = next(node for node, _ in path if node != crit_node)
    player.start(first)
    expect(frame.locator("#situation-heading")).to_have_text(ui("The situation", lang))
    for node, best in path:
        player.expect_decision(node)
        if node == crit_node:
            player.choose(node, crit_choice, critical=True)
            note = first.decision(node).choice(crit_choice).note  # type: ignore[union-attr]
            assert note is not None
            first_sentence = " ".join(note.get(lang).split())[:60]
            expect(frame.locator("[data-testid='critical-note']")).to_contain_text(first_sentence)
            expect(frame.locator("#critical-heading")).to_contain_text(ui("Critical error", lang))
            button = frame.locator("form.continue-form button")
            expect(button).to_have_text(ui("Back to the same decision", lang))
            player.proceed()
            player.expect_decision(node, retry=True)
        if node == keyboard_node:
            player.choose_with_keyboard(node, best)
        else:
            player.choose(node, best)
        player.proceed()
    player.expect_ending(passed=True)
    player.open_debrief()
    critical_line = frame.locator(f"ul.critical-list li[data-node='{crit_node}']")
    expect(critical_line.locator(".status-ok")).to_be_visible()  # resolved by the retry
    # the best practice found on the retry is not called "the best practice" (issue 10)
    expect(frame.locator(f".path-line[data-node='{crit_node}']")).to_have_attribute(
        "data-best", "no")
    player.back_home()
    expect(frame.locator(f"li.case-card[data-case='{first.id}']")).to_have_attribute(
        "data-status", "passed")

    # -- case 2: the tab is closed mid-case; a relaunch from the LMS resumes the same decision --
    path = list(best_path(second))
    player.start(second)
    for node, best in path[:3]:
        player.expect_decision(node)
        player.choose(node, best)
        player.proceed()
    where = path[3][0]
    player.expect_decision(where)
    page.close()

    page, lms_page = _launch(context, lms, "fr-CA" if lang == "fr" else "en")
    player = Player(lms_page, level, lang)
    frame = player.frame
    player.expect_level_home()
    resume = frame.locator("[data-testid='resume']")
    expect(resume).to_contain_text(second.title.get(lang))
    card = frame.locator(f"li.case-card[data-case='{second.id}']")
    expect(card).to_have_attribute("data-status", "in_progress")
    expect(card.locator("a.button")).to_contain_text(ui("Continue", lang))
    resume.locator("a").click()
    player.expect_decision(where)
    player.play_best(second, where)
    player.open_debrief()
    expect(frame.locator("ul.critical-list")).to_have_count(0)
    player.back_home()

    # -- case 3, straight through ---------------------------------------------------------------
    player.start(third)
    player.play_best(third)
    player.open_debrief()
    player.back_home()
    expect(frame.locator("li.case-card[data-status='passed']")).to_have_count(3)

    # -- the reflections: autosaved draft, reload, submit ---------------------------------------
    frame.locator("section.reflections-summary a.button").click()
    expect(frame.locator("h1")).to_have_text(ui("Reflection questions", lang))
    player.expect_lang()
    texts = REFLECTIONS[lang]
    status = frame.locator("#draft-status")
    for question in level.reflections:
        with page.expect_response(
            lambda r, q=question.id: r.url.startswith(tool.url + "/reflections/draft")
            and r.request.method == "POST" and f'"question":"{q}"' in (r.request.post_data or "")
        ) as saved:
            frame.locator(f"#answer-{question.id}").fill(texts[question.id])
        assert saved.value.ok, saved.value.status
        expect(status).to_contain_text(ui_prefix("Draft saved at %(time)s.", lang))
    words = frame.locator(f"#words-{level.reflections[0].id}")
    expect(words).to_contain_text(str(word_count(texts[level.reflections[0].id])))

    tool_frame = lms_page.tool_frame()
    tool_frame.goto(tool_frame.url)  # reload the frame before submitting
    for question in level.reflections:
        expect(frame.locator(f"#answer-{question.id}")).to_have_value(texts[question.id])
    expect(status).to_contain_text(ui_prefix("Draft saved at %(time)s.", lang))
    expect(frame.locator("section.submitted-answers")).to_have_count(0)

    frame.locator("#reflections-form button[type='submit']").click()
    expect(frame.locator("[data-testid='submitted']")).to_contain_text(
        ui("Your answers were submitted.", lang))
    expect(frame.locator("#submitted-heading")).to_have_text(ui("Your submitted answers", lang))
    for question in level.reflections:
        shown = frame.locator(f"section.submitted-answers .learner-text[data-question='{question.id}']")
        expect(shown).to_have_text(texts[question.id])
    player.back_home()
    done = frame.locator("section.reflections-summary .status-ok")
    expect(done).to_contain_text(re.sub(r"\s+$", "", ui_prefix(
        "Your answers were submitted on %(date)s. You can reread and revise them.", lang)))
