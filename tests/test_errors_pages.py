"""Error pages as part of the app (issue 10, item 5): the chrome, the learner's language first with
the other one a link (or a fold) away, one action that works, and the administrator's details
only for instructors and administrators — everyone else gets a reference the log knows."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from lti_tool.errors import Action, Bilingual, ToolError
from lti_tool.page_token import require_viewer
from tests.cases.player_support import Page, Player, parse
from tests.launch.test_deep_linking import choose, dl_launch
from tests.support.error_pages import logged_for, reference_of
from tests.support.minted import minted_platform

INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
ADMIN_HINT = Bilingual("Administrateur de l'outil : exécutez lti-tool secret-fix --now",
                       "Tool administrator: run lti-tool secret-fix --now")


@pytest.fixture
def app_with_probe(app: Flask) -> Flask:
    """The app with a page that refuses with administrator details (added before any request)."""

    @require_viewer
    def probe() -> Any:
        raise ToolError(Bilingual("Réglage manquant.", "A setting is missing."), admin=ADMIN_HINT,
                        detail="probe refused")

    app.add_url_rule("/test-probe", "test_probe", probe)
    return app


def error_of(response: Any, code: str, status: int) -> Page:
    page = Page(response)
    assert page.status == status, page.html[:800]
    main = page.tree.find("main")
    assert main.attrs.get("data-error-code") == code and "error-page" in main.attrs["class"]
    assert page.tree.find("header")  # the app's chrome, not a bare page
    assert "Traceback" not in page.html
    return page


def action_of(page: Page) -> Any:
    [action] = page.tree.find_all(**{"data-testid": "error-action"})
    return action


def test_a_tool_page_opened_without_any_session_says_so(client: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    page = error_of(client.get("/level"), "no_session", 401)
    assert page.tree.find("html").attrs["lang"] == "fr"
    assert page.h1 == "Ouvrez cette activité depuis votre cours"
    assert "expirée" not in page.html and "expired" not in page.html
    assert "Rouvrez l'activité depuis votre cours" in action_of(page).text
    # English is one link away (the header's), and folded on the page; never stacked.
    switch = page.tree.find(**{"data-testid": "error-lang-switch"})
    assert switch.attrs["href"] == "/level?lang=en" and switch.attrs["hreflang"] == "en"
    folded = page.tree.find("details", **{"data-testid": "error-other-lang"})
    assert folded.attrs["lang"] == "en" and "Open this activity from your course" in folded.text
    assert "no page token" in logged_for(caplog, page.html)
    english = error_of(client.get(switch.attrs["href"]), "no_session", 401)
    assert english.tree.find("html").attrs["lang"] == "en"
    assert english.h1 == "Open this activity from your course"
    assert english.tree.find(**{"data-testid": "error-lang-switch"}).attrs["href"] == \
        "/level?lang=fr"


def test_the_browser_language_when_nothing_else_says(client: Any) -> None:
    page = error_of(client.get("/level", headers={"Accept-Language": "en-CA,en;q=0.9"}),
                    "no_session", 401)
    assert page.tree.find("html").attrs["lang"] == "en"
    page = error_of(client.get("/nowhere", headers={"Accept-Language": "fr-CA"}), "http_404", 404)
    assert page.tree.find("html").attrs["lang"] == "fr" and page.h1 == "Page introuvable"


def test_an_altered_link_is_not_called_an_expired_session(client: Any) -> None:
    page = error_of(client.get("/level?t=bm90LWEtdG9rZW4.AAAA"), "bad_token", 403)
    assert page.h1 == "Lien de session invalide" and "Session expirée" not in page.html


def test_a_stale_form_offers_back_to_the_case_and_the_link_works(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    decision = player.start("case-1")
    form = decision.form("/choice")
    data = {**decision.fields(form), "choice": decision.choices()[0]}
    assert client.post(form.attrs["action"], data=data).status_code == 303
    page = error_of(client.post(form.attrs["action"], data=data), "already_answered", 409)
    assert page.tree.find("html").attrs["lang"] == "fr"  # the session's language
    link = action_of(page).find("a")
    assert "Retour au cas" in link.text
    attempt_path = form.attrs["action"].split("/choice")[0]
    assert link.attrs["href"].startswith(attempt_path + "?t=")
    # A POST cannot be asked again in English: the English text is folded on the page.
    assert not page.tree.find_all(**{"data-testid": "error-lang-switch"})
    folded = page.tree.find("details", **{"data-testid": "error-other-lang"})
    assert "Step already answered" in folded.text and "Back to the case" in folded.text
    back = Page(client.get(link.attrs["href"]))
    assert back.status == 200 and back.path == attempt_path


def test_deep_linking_with_nothing_ticked_links_back_to_the_picker(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        location = dl_launch(client, platform, locale="en")
    page = error_of(choose(client, location), "nothing_chosen", 400)
    assert page.tree.find("html").attrs["lang"] == "en"
    link = action_of(page).find("a")
    assert "Back to the choice of activities" in link.text
    assert link.attrs["href"].startswith("/lti/deep-linking?t=")
    picker = Page(client.get(link.attrs["href"]))
    assert picker.status == 200 and picker.tree.find("form")


def test_administrator_details_only_for_instructors_else_a_reference_in_the_log(
        app_with_probe: Flask, client: Any, caplog: pytest.LogCaptureFixture) -> None:
    with minted_platform(app_with_probe) as platform:
        learner = Player.launch(client, platform)
        page = error_of(client.get(f"/test-probe?t={learner.token}"), "bad_request", 400)
        assert "lti-tool secret-fix" not in page.html
        assert "Signalez-le à votre enseignant" in page.html
        assert "lti-tool secret-fix --now" in logged_for(caplog, page.html)
        # The learner's session is valid: the one action is back to the level.
        link = action_of(page).find("a")
        assert "Retour à l'accueil du niveau" in link.text
        assert Page(client.get(link.attrs["href"])).path == "/level"

        response = platform.launch(client, lti_roles=INSTRUCTOR, sub="teacher-1")
        landing = response.headers.get("Content-Location") or response.headers["Location"]
        token = landing.split("t=", 1)[1]
        page = error_of(client.get(f"/test-probe?t={token}&lang=en"), "bad_request", 400)
        admin = page.tree.find(**{"data-testid": "error-admin"})
        assert "Tool administrator: run lti-tool secret-fix --now" in admin.text
        assert "Back to the instructor page" in action_of(page).text
        reference_of(page.html)  # still there, for the log


def test_a_refused_launch_keeps_administrator_details_apart_from_the_learner_hint() -> None:
    from lti_tool.launch.validation import RELAUNCH, refuse

    exc = refuse("x", "a", "a", admin=ADMIN_HINT)
    assert exc.hint is None and exc.admin == ADMIN_HINT  # relaunching would not help
    assert refuse("x", "a", "a").hint == RELAUNCH
    learner_hint = Bilingual("Relancez.", "Launch again.")
    exc = ToolError(Bilingual("a", "a"), hint=learner_hint,
                    action=Action(Bilingual("x", "x"), url="/y"))
    assert exc.hint == learner_hint and exc.admin is None and exc.action is not None


def test_a_refused_launch_speaks_the_launch_language(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        response = platform.launch(client, lti_deployment_id="deploy-99",
                                   lti_launch_presentation={"locale": "en-US"})
    page = error_of(response, "unknown_deployment", 403)
    assert page.tree.find("html").attrs["lang"] == "en"
    assert "deploy-99" in page.tree.find("h1").text + page.tree.find("main").text
    assert "lti-tool" not in page.html  # the command is for the log, under the reference
    assert parse(page.html).find(**{"class": "error-code"}).text.startswith("Reference: ")
