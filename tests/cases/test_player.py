"""The case player over HTTP with the Flask test client: launch with the minted platform, then
follow the links and submit the forms of the pages, as a browser inside the LMS iframe would."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from lti_tool.cases import engine, progress
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Level
from tests.cases.player_support import Page, Player, best_choices
from tests.support.minted import LTI, minted_platform

INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]


@pytest.fixture
def level(app: Any) -> Level:
    return get_level(app.extensions["settings"].content_dir)


def assert_token_everywhere(page: Page) -> None:
    """Every internal link and every form of the page carries the page token (no cookies)."""
    for a in page.tree.find_all("a"):
        href = a.attrs.get("href", "")
        if href.startswith("/"):
            assert parse_qs(urlsplit(href).query).get("t"), f"link without token: {href}"
    for form in page.tree.find_all("form"):
        assert page.fields(form).get("t"), f"form without token: {form.attrs}"
    assert "<script>" not in page.html and " style=" not in page.html, "no inline script/style"
    assert len(page.tree.find_all("h1")) == 1


def test_a_launch_lands_on_the_level_home(app: Any, client: Any, level: Level) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    page = player.page
    assert page.status == 200 and page.path == "/level"
    assert page.tree.find("html").attrs["lang"] == "fr"
    assert page.h1 == level.title.fr
    text = page.tree.text
    for part in (level.introduction.fr.split("\n")[0], level.territory_notice.fr.split("\n")[0]):
        assert " ".join(part.split())[:80] in text
    # the rules in plain words, under "How it works", and no formula (issue 10)
    how = page.tree.find("details", **{"data-testid": "how-it-works"})
    assert "Comment ça fonctionne" in how.find("summary").text
    assert "au moins 80 % de ses points" in how.text and "≥" not in page.html
    cards = page.tree.find_all("li", **{"class": "case-card"})
    assert [c.attrs["data-case"] for c in cards] == ["case-1", "case-2", "case-3"]
    assert all(c.attrs["data-status"] == "not_started" for c in cards)
    assert "Non commencé" in cards[0].text
    assert cards[0].attrs.get("data-next") == "true" and "data-next" not in cards[1].attrs
    assert page.tree.find(**{"data-testid": "level-state"}).attrs["data-state"] == "fresh"
    assert page.html.count(level.title.fr) == 2  # the <title> and the <h1>, not the header
    locked = page.tree.find(**{"data-testid": "reflections-locked"})
    assert "0 sur 3" in locked.text
    assert_token_everywhere(page)


def test_best_choices_give_conforme_and_a_full_debrief(app: Any, client: Any,
                                                        level: Level) -> None:
    case = level.cases["case-1"]
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    page = player.start("case-1")
    assert page.path.startswith("/attempts/")
    assert "Décision 1 sur 7" in page.tree.find("p", id="case-progress-label").text
    assert page.tree.find("legend").text == " ".join(case.decision("d1").prompt.fr.split())
    timeline = page.tree.find("ol", **{"class": "timeline"})
    assert len(timeline.find_all("li")) == 7  # the case as a timeline of its decisions
    assert [li.attrs.get("aria-current") for li in timeline.find_all("li")][:2] == ["step", None]
    for n, choice in enumerate(best_choices(app, "case-1"), start=1):
        assert f"Décision {n} sur 7" in player.page.tree.text
        assert_token_everywhere(player.page)
        player.choose(choice)
        consequence = player.page.tree.find("section", **{"class": "consequence"})
        assert consequence.attrs["data-choice"] == choice
        assert not player.page.tree.find_all(**{"data-testid": "critical-note"})
        player.proceed()
    ending = player.page
    assert ending.h1 == "Intervention conforme"
    assert ending.tree.find("h1").attrs["data-outcome"] == "conforme"
    assert " ".join(case.endings["conforme"].fr.split())[:60] in ending.tree.text
    debrief = player.follow("Voir le bilan")
    assert debrief.status == 200
    steps = [li for li in debrief.tree.find_all("li") if "method-step" in li.attrs.get("class", "")]
    assert [s.attrs["data-step"] for s in steps] == [s.id for s in level.method_steps]
    in_case = {d.step for d in case.decisions}
    assert {s.attrs["data-step"]: s.attrs["data-status"] for s in steps} == {
        s.id: "done" if s.id in in_case else "absent" for s in level.method_steps}
    assert debrief.tree.find(**{"data-testid": "debrief-summary"})
    assert debrief.tree.find("details", **{"data-testid": "full-path"})
    lines = debrief.tree.find_all(**{"class": "path-line"})
    assert sorted(ln.attrs["data-node"] for ln in lines) == sorted(d.id for d in case.decisions)
    assert all(ln.attrs["data-best"] == "yes" for ln in lines)
    grid = {li.attrs["data-dimension"]: li.text for li in debrief.tree.find_all("li")
            if "data-dimension" in li.attrs}
    assert set(grid) == {"amorce", "nature", "intentions", "etendue"}
    assert all("documentée" in text for text in grid.values())
    assert "Aucune erreur critique" in debrief.tree.text
    assert " ".join(case.debrief.fr.split("\n")[0].split())[:60] in debrief.tree.text
    assert_token_everywhere(debrief)
    home = player.follow("Retour à l'accueil du niveau")
    card = home.tree.find("li", **{"data-case": "case-1"})
    assert card.attrs["data-status"] == "passed" and "100" in card.text


def test_a_critical_error_shows_the_note_then_the_same_decision(app: Any, client: Any,
                                                                 level: Level) -> None:
    case = level.cases["case-1"]
    critical = next(c for c in case.decision("d1").choices if c.critical)
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    page = player.choose(critical.id)
    note = page.tree.find(**{"data-testid": "critical-note"})
    assert " ".join(critical.note.fr.split())[:60] in note.text  # type: ignore[union-attr]
    assert "Erreur critique" in note.text
    button = page.form("/continue").find("button")
    assert button.text == "Revenir à la même décision"
    page = player.proceed()
    assert page.tree.find("section", **{"class": "decision"}).attrs["data-node"] == "d1"
    assert page.tree.find(**{"data-testid": "retry-notice"})
    assert "Décision 1 sur 7" in page.tree.text
    player.choose(critical.id)  # a second critical error: unresolved, the learner moves on
    assert "reste non résolue" in player.page.tree.text
    assert player.page.form("/continue").find("button").text == "Décision suivante"
    page = player.proceed()
    assert page.tree.find("section", **{"class": "decision"}).attrs["data-node"] == "d2"
    player.play(best_choices(app, "case-1")[1:])
    assert player.page.h1 == "À reprendre"
    debrief = player.follow("Voir le bilan")
    (error,) = debrief.tree.find("ul", **{"class": "critical-list"}).find_all("li")
    assert error.attrs["data-node"] == "d1" and "Non résolue" in error.text


def test_switching_language_keeps_the_page(app: Any, client: Any, level: Level) -> None:
    case = level.cases["case-2"]
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-2")
    player.play(best_choices(app, "case-2")[:2])
    french = player.page
    path = french.path
    switch = french.tree.find("nav", **{"class": "lang-switch"}).find("a")
    assert switch.attrs["hreflang"] == "en"
    english = player.get(switch.attrs["href"])
    assert english.path == path and english.tree.find("html").attrs["lang"] == "en"
    assert english.tree.find("legend").text == " ".join(case.decision("d3").prompt.en.split())
    assert "Decision 3 of 8" in english.tree.text
    player.choose(best_choices(app, "case-2")[2])  # the token now carries English
    assert player.page.tree.find("html").attrs["lang"] == "en"
    assert "Consequence of your choice" in player.page.tree.text
    back = player.get(player.page.tree.find("nav", **{"class": "lang-switch"}).find("a")
                      .attrs["href"])
    assert back.tree.find("html").attrs["lang"] == "fr" and back.path == path
    assert "Conséquence de votre choix" in back.tree.text


def test_a_new_launch_resumes_at_the_same_place(app: Any, client: Any, level: Level) -> None:
    choices = best_choices(app, "case-3")
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
        player.start("case-3")
        player.play(choices[:2])
        player.choose(choices[2])  # its consequence screen is not dismissed: the window closes

        again = Player.launch(client, platform)  # a new launch from the LMS
        assert again.token != player.token
        resume = again.page.tree.find(**{"data-testid": "resume"})
        assert resume is not None
        card = again.page.tree.find("li", **{"data-case": "case-3"})
        assert card.attrs["data-status"] == "in_progress"
        assert "décision 3 sur 8" in card.text
        page = again.follow("Continuer là où vous étiez")
        section = page.tree.find("section", **{"class": "consequence"})
        assert (section.attrs["data-node"], section.attrs["data-choice"]) == ("d3", choices[2])
        again.proceed()
        critical = next(c.id for c in level.cases["case-3"].decision("d4").choices if c.critical)
        again.choose(critical)
        again.proceed()  # back to the same decision, then the window closes again

        third = Player.launch(client, platform)
        page = third.follow("Continuer")
    assert page.tree.find("section", **{"class": "decision"}).attrs["data-node"] == "d4"
    assert page.tree.find(**{"data-testid": "retry-notice"})


def test_operator_notes_are_for_instructors_only(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        learner = Player.launch(client, platform)
        learner.start("case-1")
        learner.play(["d1-b"])  # d2 carries a [valider localement] marker
        assert learner.page.tree.find("section", **{"class": "decision"}).attrs["data-node"] == "d2"
        assert not learner.page.tree.find_all(**{"data-testid": "operator-note"})
        assert "Valider localement" not in learner.page.html
        assert "opérateur" not in learner.page.html

        response = platform.launch(client, sub="teacher-1", lti_roles=INSTRUCTOR)
        assert urlsplit(response.headers["Location"]).path == "/instructor"
        token = parse_qs(urlsplit(response.headers["Location"]).query)["t"][0]
        instructor = Player(client, f"/level?t={token}")
        instructor.start("case-1")
        instructor.play(["d1-b"])
    note = instructor.page.tree.find(**{"data-testid": "operator-note"})
    assert "Note pour l'opérateur : à valider localement" in note.text
    assert "Valider localement" in note.text and "C1-D2" in instructor.page.tree.text


def test_a_deep_linked_case_shows_only_that_case(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform, lti_custom={"sexto_activity": "case-2"})
    cards = player.page.tree.find_all("li", **{"class": "case-card"})
    assert [c.attrs["data-case"] for c in cards] == ["case-2"]
    assert "Questions de réflexion" not in player.page.tree.text
    assert player.page.tree.find("title").text.startswith("« Le groupe »")  # the page tree collapses spaces
    refused = client.post("/cases/case-1/attempts", data={"t": player.token})
    assert refused.status_code == 403
    assert 'data-error-code="not_in_activity"' in refused.get_data(as_text=True)
    page = player.start("case-2")
    assert page.tree.find("section", **{"class": "decision"}).attrs["data-node"] == "d1"


def test_replay_starts_a_new_attempt_and_the_best_counts(app: Any, client: Any,
                                                         level: Level) -> None:
    case = level.cases["case-1"]
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    player.play(best_choices(app, "case-1"))
    first = player.page.path
    player.follow("Voir le bilan")
    page = player.submit("/cases/case-1/attempts")  # "Rejouer le cas"
    assert page.path != first and page.tree.find("section", **{"class": "decision"})
    worst = [min((c for c in d.choices if not c.critical), key=lambda c: c.points).id
             for d in case.decisions]
    player.play(worst)
    assert player.page.h1 == "À reprendre"
    debrief = player.follow("Voir le bilan")
    assert "Votre meilleure tentative à ce cas a obtenu 100" in debrief.tree.text
    home = player.follow("Retour à l'accueil du niveau")
    card = home.tree.find("li", **{"data-case": "case-1"})
    assert card.attrs["data-status"] == "passed"
    assert first.split("?")[0] in card.find("a").attrs["href"], "the debrief link is the best"


def test_the_debrief_names_the_weakest_objective(app: Any, client: Any, level: Level) -> None:
    case = level.cases["case-2"]
    choices = best_choices(app, "case-2")
    weak = next(c.id for c in case.decision("d4").choices if c.points == 1)
    path = [*choices[:3], weak, *choices[4:]]
    expected = progress.weakest_objective(level.cases, {"case-2": engine.replay(case, path)})
    assert expected in case.decision("d4").objectives
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-2")
    player.play(path)
    debrief = player.follow("Voir le bilan")
    objective = debrief.tree.find(**{"data-objective": expected})
    label = next(o for o in level.objectives if o.id == expected).label
    assert label.fr in objective.text
    line = next(ln for ln in debrief.tree.find_all(**{"class": "path-line"})
                if ln.attrs["data-node"] == "d4")
    assert line.attrs["data-best"] == "no" and "1 sur 2" in line.text
    assert "50 %" in objective.text  # the decision's 1 of 2 points: half, not 0 % (issue 10)


def test_the_step_answers_with_server_timing(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    form = player.page.form("/choice")
    response = client.post(form.attrs["action"], data={**player.page.fields(form),
                                                       "choice": "d1-b"})
    assert response.status_code == 303
    assert response.headers["Server-Timing"].startswith("app;dur=")
    assert response.headers["Cache-Control"] == "no-store"
    assert "t=" in response.headers["Location"]


def test_the_english_launch_is_in_english(app: Any, client: Any, level: Level) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform,
                               **{"lti_launch_presentation": {"locale": "en-CA"}})
    assert player.page.tree.find("html").attrs["lang"] == "en"
    assert player.page.h1 == level.title.en
    assert "Not started" in player.page.tree.text
    assert LTI  # the claim prefix the override above expands to


def test_every_player_string_has_a_french_translation() -> None:
    """The French catalogue of the player covers every string its code and templates use."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    import lti_tool

    root = Path(lti_tool.__file__).parent
    used = {message for _file, _line, message, _comments, _context in extract_from_dir(
        str(root), method_map=[("cases/**.py", "python"), ("templates/cases/**.html", "jinja2")],
        keywords={"_": None, "gettext": None})}
    with (root / "cases/translations/fr/LC_MESSAGES/messages.po").open("rb") as fh:
        translated = {m.id for m in read_po(fh) if m.id and m.string}
    assert len(used) > 50
    assert used <= translated, f"not translated: {sorted(used - translated)}"
