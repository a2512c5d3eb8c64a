"""The dynamic registration page follows the administrator's language (Accept-Language, `?lang=`,
a switch), its refusals are administrators' pages, and the tool registers a bilingual name
(issue 10, item 8b)."""

from __future__ import annotations

from typing import Any

from lti_tool.launch.platforms import for_family
from lti_tool.launch.tool_config import REGISTERED_NAME, ToolUrls, registration_request
from tests.cases.player_support import Page
from tests.launch.test_dynamic_registration import FakePlatform, _start, invite

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def test_the_page_follows_the_browser_language_with_a_switch(app: Any, client: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle") as lms:
        client.environ_base.update(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
        page = Page(_start(client, lms, secret))
        assert page.status == 200, page.html[:800]
        assert page.tree.find("html").attrs["lang"] == "en"
        assert page.h1 == "Register the tool with your platform"
        assert page.tree.find("form").attrs["action"] == "/lti/register?lang=en"
        switch = page.tree.find("nav", **{"class": "lang-switch"}).find("a")
        assert switch.attrs["hreflang"] == "fr" and "lang=fr" in switch.attrs["href"]
        french = Page(client.get(switch.attrs["href"]))
        assert french.status == 200 and french.tree.find("html").attrs["lang"] == "fr"
        assert french.h1 == "Inscrire l'outil dans votre plateforme"
        # The name the platform will show, in both languages whatever the administrator's.
        name = page.tree.find(**{"data-testid": "client-name"}).text
        assert name == REGISTERED_NAME == "SEXTO — Niveau Architecte / Architect level"


def test_a_french_browser_and_no_header_get_french(app: Any, client: Any) -> None:
    secret = invite(app)
    with FakePlatform("moodle") as lms:
        page = Page(_start(client, lms, secret))
        assert page.tree.find("html").attrs["lang"] == "fr"
        client.environ_base.update(HTTP_ACCEPT_LANGUAGE="fr-CA,en;q=0.5")
        page = Page(_start(client, lms, secret, lang="fr"))
        assert page.tree.find("html").attrs["lang"] == "fr"


def test_a_refusal_is_an_administrators_page_in_their_language(client: Any) -> None:
    with FakePlatform("moodle") as lms:
        page = Page(client.get("/lti/register", headers=ENGLISH, query_string={
            "openid_configuration": lms.config_url, "registration_token": lms.token}))
    assert page.status == 403, page.html[:800]
    assert page.tree.find("html").attrs["lang"] == "en"
    assert page.tree.find("main").attrs["data-error-code"] == "invitation_missing"
    action = page.tree.find(**{"data-testid": "error-action"})
    assert "Start the registration again from the platform" in action.text
    assert "Open the activity again from your course" not in page.html  # not a learner's page


def test_the_registration_request_names_the_tool_in_both_languages() -> None:
    payload = registration_request(ToolUrls("https://tool.example"), for_family("moodle"))
    assert payload["client_name"] == "SEXTO — Niveau Architecte / Architect level"
    assert payload["client_name#fr"] == "SEXTO — Niveau Architecte"
    assert payload["client_name#en"] == "SEXTO — Architect level"
    [launch, deep_linking] = payload["https://purl.imsglobal.org/spec/lti-tool-configuration"][
        "messages"]
    assert launch["label"] == REGISTERED_NAME and launch["label#en"] == "SEXTO — Architect level"
    assert deep_linking["label"] == ("Ajouter une activité SEXTO Architecte / "
                                     "Add a SEXTO Architect activity")
