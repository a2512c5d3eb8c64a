"""Through the real Flask app and a launch signed by the minted platform: the custom parameter
`sexto_organisation` is honoured only where the registration allows it, and the level home tells
the learner, in French and in English, what their territory's status means for them and which
conditions of the badge are met."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from lti_tool.cases import engine
from lti_tool.db import get_session
from lti_tool.models import Attempt, Learner
from tests.badges.registry_support import NOW, cli, level_of
from tests.cases.player_support import Page, Player
from tests.support.minted import MintedPlatform, minted_platform

ORG = {"sexto_organisation": "css-des-rives"}
INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]


def _ok(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return str(result.output)


def _who(platform: MintedPlatform) -> list[str]:
    return ["--issuer", platform.issuer, "--client-id", platform.client_id]


def _stored_code(app: Any) -> str | None:
    with app.app_context():
        return get_session().scalar(select(Learner.organisation_code)
                                    .where(Learner.sub == "user-1"))


def _sq(app: Any, *agreement: str) -> None:
    _ok(cli(app, "territory", "add", "sq", "--name", "Territoires de la SQ", "--police",
            "Sûreté du Québec"))
    _ok(cli(app, "organisation", "add", "css-des-rives", "--name", "CSS des Rives",
            "--territory", "sq"))
    if agreement:
        _ok(cli(app, "territory", "set-agreement", "sq", *agreement))


def _panel(page: Page) -> Any:
    assert page.status == 200, page.html[:500]
    return page.tree.find("section", **{"data-testid": "badge-status"})


def _english(player: Player) -> Page:
    switch = player.page.tree.find("nav", **{"class": "lang-switch"}).find("a")
    return player.get(switch.attrs["href"])


def _conditions(panel: Any) -> dict[str, str]:
    return {li.attrs["data-condition"]: li.attrs["data-met"] for li in panel.find_all("li")}


# -- the custom parameter ----------------------------------------------------------------------------


def test_the_custom_parameter_is_honoured_only_when_the_registration_allows_it(
        app: Any, client: Any) -> None:
    _sq(app, "--concluded", "2020-11-06", "--verified")
    with minted_platform(app) as platform:
        Player.launch(client, platform, lti_custom=ORG)
        assert _stored_code(app) is None  # not allowed (the default): nothing stored
        page = Player.launch(client, platform, lti_custom=ORG).page
        assert _panel(page).attrs["data-territory-status"] == "no_organisation"

        _ok(cli(app, "platform", "allow-organisation-param", *_who(platform), "--on"))
        page = Player.launch(client, platform, lti_custom=ORG).page
        assert _stored_code(app) == "css-des-rives"
        panel = _panel(page)
        assert panel.attrs["data-territory-status"] == "in_force"
        assert "CSS des Rives" in panel.text

        # A malformed value is ignored (the previous code stays); a launch without it too.
        Player.launch(client, platform, lti_custom={"sexto_organisation": "<b>x</b> y"})
        Player.launch(client, platform)
        assert _stored_code(app) == "css-des-rives"

        _ok(cli(app, "platform", "allow-organisation-param", *_who(platform), "--off"))
        page = Player.launch(client, platform, lti_custom={"sexto_organisation": "css-autre"}).page
        assert _stored_code(app) == "css-des-rives"  # not written while switched off
        assert _panel(page).attrs["data-territory-status"] == "no_organisation"  # nor read


# -- the panel on the level home ---------------------------------------------------------------------


def test_no_organisation_says_the_school_board_must_be_registered(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    panel = _panel(player.page)
    assert panel.attrs["data-territory-status"] == "no_organisation"
    assert panel.attrs["data-eligible"] == "false"
    assert "doit être inscrit au programme" in panel.text
    assert "Vous pouvez tout de même suivre toute la formation" in panel.text
    assert _conditions(panel) == {"cases_passed": "false", "reflections_submitted": "false",
                                  "organisation": "false", "agreement": "false"}
    assert "Condition non remplie\u00a0:" in panel.raw_text
    english = _panel(_english(player))
    assert "Your school board must be registered with the program" in english.text
    assert "You can still take the whole training" in english.text
    assert "Not met:" in english.text


def test_no_recorded_agreement_the_badge_waits(app: Any, client: Any) -> None:
    _sq(app)
    with minted_platform(app) as platform:
        _ok(cli(app, "organisation", "map", "css-des-rives", *_who(platform)))
        player = Player.launch(client, platform)
    panel = _panel(player.page)
    assert panel.attrs["data-territory-status"] == "waiting"
    assert "Aucune entente entre le corps de police qui dessert votre territoire" in panel.text
    assert "Sûreté du Québec" in panel.text
    assert "le badge du programme attend que l'entente soit consignée" in panel.text.lower()
    english = _panel(_english(player))
    assert "No agreement between the police force serving your territory" in english.text
    assert "the badge waits" not in english.text  # it is the program's badge, named as such
    assert "The program's badge waits until the agreement is recorded" in english.text


def test_unverified_and_suspended_agreements_are_said_so(app: Any, client: Any) -> None:
    _sq(app, "--concluded", "2020-11-06")
    with minted_platform(app) as platform:
        _ok(cli(app, "organisation", "map", "css-des-rives", *_who(platform)))
        player = Player.launch(client, platform)
        panel = _panel(player.page)
        assert panel.attrs["data-territory-status"] == "waiting"
        assert "n'est pas encore confirmée par le programme" in panel.text
        assert panel.find("li", **{"data-condition": "agreement"}).attrs["data-reason"] \
            == "agreement_unverified"
        assert "is not confirmed by the program yet" in _panel(_english(player)).text
        _ok(cli(app, "territory", "set-agreement", "sq", "--suspended"))
        player = Player.launch(client, platform)
    panel = _panel(player.page)
    assert panel.attrs["data-territory-status"] == "suspended"
    assert "et le DPCP est suspendue" in panel.text
    assert "and the DPCP is suspended" in _panel(_english(player)).text


def test_agreement_in_force_the_badge_follows_completion(app: Any, client: Any) -> None:
    _sq(app, "--concluded", "2020-11-06", "--verified")
    with minted_platform(app) as platform:
        _ok(cli(app, "organisation", "map", "css-des-rives", *_who(platform)))
        player = Player.launch(client, platform)
        panel = _panel(player.page)
        assert panel.attrs["data-territory-status"] == "in_force"
        assert "a conclu son entente avec le DPCP, en vigueur depuis le 6 novembre 2020" \
            in panel.text
        assert "vous sera attribué lorsque vous aurez terminé le niveau" in panel.text
        assert _conditions(panel) == {"cases_passed": "false", "reflections_submitted": "false",
                                      "organisation": "true", "agreement": "true"}
        english = _panel(_english(player))
        assert "in force since November 6, 2020" in english.text
        assert "will be awarded to you when you complete the level" in english.text

        # Two cases passed: the count shows; still not eligible.
        with app.app_context():
            session = get_session()
            learner_id = session.scalar(select(Learner.id).where(Learner.sub == "user-1"))
            level = level_of(app)
            for case in list(level.cases.values())[:2]:
                state = engine.replay(case, [d.best.id for d in case.decisions])
                session.add(Attempt(learner_id=learner_id, case_id=case.id, number=1,
                                    state=state.to_dict(), score=engine.score(case, state),
                                    outcome=engine.outcome(case, state), passed=True,
                                    finished_at=NOW))
            session.commit()
        player = Player.launch(client, platform)
    panel = _panel(player.page)
    assert "Les trois cas réussis (2 sur 3)." in panel.text
    assert panel.attrs["data-eligible"] == "false"


def test_an_instructor_sees_no_badge_panel(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        response = platform.launch(client, sub="teacher-1", lti_roles=INSTRUCTOR)
    assert response.status_code == 303
    token = parse_qs(urlsplit(response.headers["Location"]).query)["t"][0]
    page = Page(client.get(f"/level?t={token}"))
    assert page.status == 200 and page.tree.find_all("li", **{"class": "case-card"})
    assert 'data-testid="badge-status"' not in page.html
