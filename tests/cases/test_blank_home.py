"""Issue 11: the level home of a learner with nothing yet is one shared page per set of inputs
(cases/blank_home.py), served with the learner's token and "signed in" line put in. Each page
served that way must be byte for byte the page the template renders for that learner, and never
carry anything of the learner it was first rendered for. Real app, real database, launches signed
by the minted platform; the direct render is the same view with the sharing switched off."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from lti_tool import page_token
from lti_tool.cases import blank_home
from tests.badges.registry_support import cli
from tests.cases.player_support import Page, Player
from tests.support.minted import MintedPlatform, minted_platform

AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
GRADABLE = {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
            "lineitem": "https://lms.example.test/lineitems/1"}
CLOCK = int(time.time())  # every token signed at one instant: two renders are comparable


@pytest.fixture(autouse=True)
def frozen_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(page_token, "now", lambda: CLOCK)


def _direct(client: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> Page:
    """The same GET rendered by the template itself, the shared pages bypassed."""
    with monkeypatch.context() as m:
        m.setattr(blank_home, "render", lambda key, render_page: render_page())
        return Page(client.get(url))


def _launch(client: Any, platform: MintedPlatform, sub: str, name: str, **claims: Any) -> Any:
    return platform.launch(client, sub=sub, name=name, **claims)


def _without_script(html: str) -> str:
    """The launch response is the page plus the script that puts its URL in the history."""
    return re.sub(r'<script src="[^"]*launch-url\.js"[^>]*></script>', "", html)


def _organisation(app: Any) -> None:
    for args in (("territory", "add", "sq", "--name", "Territoires de la SQ", "--police",
                  "Sûreté du Québec"),
                 ("organisation", "add", "css-des-rives", "--name", "CSS des Rives",
                  "--territory", "sq"),
                 ("territory", "set-agreement", "sq", "--concluded", "2020-11-06", "--verified")):
        result = cli(app, *args)
        assert result.exit_code == 0, result.output


SCENARIOS = {
    "french, not gradable": {},
    "english, gradable": {"lti_launch_presentation": {"locale": "en-CA"}, AGS: GRADABLE},
    "french, gradable, organisation": {AGS: GRADABLE,
                                       "lti_custom": {"sexto_organisation": "css-des-rives"}},
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_shared_page_is_the_page_the_template_renders_for_each_learner(
        app: Any, client: Any, monkeypatch: pytest.MonkeyPatch, scenario: str) -> None:
    claims = SCENARIOS[scenario]
    if "organisation" in scenario:
        _organisation(app)
    with minted_platform(app) as platform:
        if "organisation" in scenario:
            result = cli(app, "platform", "allow-organisation-param", "--issuer", platform.issuer,
                         "--client-id", platform.client_id, "--on")
            assert result.exit_code == 0, result.output
        # The first learner fills the shared page; the second is served from it. Names French
        # typography changes (« : », « ! ») and markup that must stay escaped.
        first = _launch(client, platform, "learner-a", "Zoé : Première !", **claims)
        second = _launch(client, platform, "learner-b", "Léo : <b>Deux</b> ?", **claims)
    assert first.status_code == second.status_code == 200
    pages = app.extensions["blank_home_pages"]
    assert len(pages) == 1  # one shared page served both

    for response in (first, second):
        url = response.headers["Content-Location"]
        launched = _without_script(response.get_data(as_text=True))
        shared = Page(client.get(url))  # a later visit, still blank: the shared page again
        direct = _direct(client, url, monkeypatch)
        assert direct.status == shared.status == 200
        assert shared.html == direct.html
        assert launched == direct.html
        assert blank_home.TOKEN not in shared.html and str(blank_home.SIGNED_IN) not in shared.html
    second_html = _without_script(second.get_data(as_text=True))
    assert "Première" not in second_html and "Deux" in second_html
    assert "&lt;b&gt;Deux&lt;/b&gt;" in second_html  # escaped, as the template escapes it
    if "english" not in scenario:  # French typography on the names, the shared page's included
        assert "Connecté·e\u00a0: Zoé\u00a0: Première\u202f!" in first.get_data(as_text=True)
        assert "Connecté·e\u00a0: Léo\u00a0: &lt;b&gt;" in second_html


def test_a_learner_with_something_of_theirs_gets_their_own_page(app: Any, client: Any) -> None:
    """Once a case is started the page is the learner's: a shared blank page would say "fresh"."""
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
        assert player.page.tree.find(**{"data-testid": "level-state"}).attrs["data-state"] == "fresh"
        player.start("case-1")
        home = player.get(f"/level?t={player.token}")
        assert home.tree.find(**{"data-testid": "level-state"}).attrs["data-state"] == "started"
        relaunched = Player.launch(client, platform)  # the same learner, from the LMS
    assert relaunched.page.tree.find(**{"data-testid": "level-state"}).attrs["data-state"] == "started"
    assert "Continuer là où vous étiez" in relaunched.page.html


def test_an_extra_query_argument_is_not_put_in_a_shared_page(
        app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The language link repeats the page's other query arguments: such a page is not shared."""
    with minted_platform(app) as platform:
        response = _launch(client, platform, "learner-a", "Zoé")
    url = response.headers["Content-Location"] + "&marker=learner-a-only"
    page = Page(client.get(url))
    assert "learner-a-only" in page.html
    assert not any("learner-a-only" in html for html in app.extensions["blank_home_pages"].values())


def test_a_learner_has_nothing_until_an_attempt_a_reflection_or_a_score_on_the_link(
        app: Any, client: Any) -> None:
    """`service.has_nothing`, which lets a returning learner's launch use the shared page."""
    from sqlalchemy import select

    from lti_tool.cases import service
    from lti_tool.db import get_session, utcnow
    from lti_tool.models import Attempt, Learner, ReflectionAnswer, ResourceLink, Score

    with minted_platform(app) as platform:
        _launch(client, platform, "learner-a", "Zoé", lti_resource_link={"id": "rl-2"})
        _launch(client, platform, "learner-a", "Zoé")
    with app.app_context():
        session = get_session()
        learner = session.scalars(select(Learner)).one()
        here, elsewhere = (session.scalars(select(ResourceLink.id).where(
            ResourceLink.resource_link_id == rl)).one() for rl in ("rl-1", "rl-2"))

        def score(link: int) -> Score:
            return Score(learner_id=learner.id, resource_link_id=link, reason="started",
                         activity_progress="Started", grading_progress="NotReady",
                         timestamp=utcnow())

        assert service.has_nothing(session, learner.id, here)
        session.add(score(elsewhere))
        session.flush()
        assert service.has_nothing(session, learner.id, here)  # another link's score
        for row in (score(here),
                    ReflectionAnswer(learner_id=learner.id, question_id="q1", draft="…"),
                    Attempt(learner_id=learner.id, case_id="case-1", number=1, state={})):
            nested = session.begin_nested()
            session.add(row)
            session.flush()
            assert not service.has_nothing(session, learner.id, here), type(row).__name__
            nested.rollback()
        assert service.has_nothing(session, learner.id, here)


def test_a_returning_learner_with_nothing_gets_the_shared_page(
        app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with minted_platform(app) as platform:
        _launch(client, platform, "learner-a", "Zoé : Une")
        again = _launch(client, platform, "learner-a", "Zoé : Une")
    url = again.headers["Content-Location"]
    assert _without_script(again.get_data(as_text=True)) == _direct(client, url, monkeypatch).html
