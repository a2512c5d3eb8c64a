"""Issue 10, the learner's case pages: the debrief's two computation bugs (the objective to work on
named at 0 % where the learner had scored, a best practice found on the retry called "the best
practice"; the choice that left a critical error unresolved missing from "Erreurs critiques"),
the engine's "can this attempt still pass", "restart this case now", and one vocabulary of status
words apart from the ending titles. Real content, real database (SQLite, or PostgreSQL with
LTI_TEST_BACKEND=postgres), pages through the Flask test client."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.cases import debrief, engine, progress
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Case, Level
from lti_tool.models import Attempt
from tests.cases.engine_fixtures import linear_case, moves
from tests.cases.player_support import Player, best_choices, snapshot
from tests.support.minted import minted_platform


@pytest.fixture
def level(app: Any) -> Level:
    return get_level(app.extensions["settings"].content_dir)


def play(case: Case, choices: list[str]) -> engine.CaseState:
    return engine.replay(case, choices)


def best(case: Case) -> list[str]:
    return [d.best.id for d in case.decisions]


def criticals(case: Case, node: str) -> list[str]:
    return [c.id for c in case.decision(node).choices if c.critical]


# --- the debrief's computations -----------------------------------------------------------------


def test_a_best_practice_found_on_the_retry_is_not_called_the_best_practice(level: Level) -> None:
    """Case 1, a critical error at d1 then its best practice on the retry: 1 point, "best on the
    second try", and the objective it trains is at 50 %, not 0 %."""
    case = level.cases["case-1"]
    path = [criticals(case, "d1")[0], *best(case)]  # d1 critical, then d1's best (the retry)
    state = engine.replay(case, path)
    d = debrief.build(level, case, state, {})
    (line,) = [ln for ln in d.steps[0].lines if ln.decision.id == "d1"]
    assert line.retried and line.points == 1
    assert not line.is_best and line.best_on_retry
    assert d.steps[0].status == "critical"  # the error stays in the record, resolved or not
    # lo1 is trained at d1 only: the retry's 1 point of 2 is 50 %, where the old count said 0 %
    assert d.weakest is not None and d.weakest.id == "lo1"
    assert d.weakest_mastery == pytest.approx(0.5)


def test_mastery_follows_the_points_of_the_score() -> None:
    case = linear_case("c1", n=2, objectives=[("lo1",), ("lo2",)])
    state = play(case, moves("ok", "ce>best"))  # 1 point at d1, the retry's 1 point at d2
    assert progress.objective_mastery({"c1": case}, {"c1": state}) == {"lo1": 0.5, "lo2": 0.5}


def test_the_objective_to_work_on_is_measured_on_the_attempt_shown(level: Level) -> None:
    """A replay worse than the best attempt: its debrief speaks of what the learner just did."""
    case = level.cases["case-1"]
    perfect = engine.replay(case, best(case))
    weak = next(c.id for c in case.decision("d6").choices if c.points == 0)
    worse = engine.replay(case, [*best(case)[:5], weak, best(case)[6]])
    d = debrief.build(level, case, worse, {"case-1": perfect})
    assert d.weakest is not None and d.weakest.id in case.decision("d6").objectives
    assert d.weakest_mastery is not None and d.weakest_mastery < 1


def test_an_unresolved_critical_error_keeps_the_choice_that_left_it_unresolved(
        level: Level) -> None:
    case = level.cases["case-2"]  # d1 offers two critical choices
    first, second = criticals(case, "d1")
    state = engine.replay(case, [first, second, *best(case)[1:]])
    d = debrief.build(level, case, state, {})
    (error,) = d.critical
    assert not error.resolved
    assert error.choice.id == first
    assert error.unresolved_by is not None and error.unresolved_by.id == second
    assert error.faults == ("view", "delete")  # both reasons, in order
    assert d.steps[0].status == "critical"


# --- can an attempt still pass ------------------------------------------------------------------


def test_can_still_pass_follows_the_engine_rules() -> None:
    case = linear_case(n=5)
    assert engine.can_still_pass(case, play(case, []))
    assert engine.can_still_pass(case, play(case, moves("ce")))  # a pending retry: still open
    assert engine.can_still_pass(case, play(case, moves("ce>best")))  # 9 of 10 still possible
    assert not engine.can_still_pass(case, play(case, moves("ce>ce")))  # unresolved
    assert engine.can_still_pass(case, play(case, moves("bad")))  # 8 of 10: the pass mark
    assert not engine.can_still_pass(case, play(case, moves("bad", "ok")))  # 7 of 10 at best
    assert engine.can_still_pass(case, play(case, moves(*["best"] * 5)))  # finished, passed
    assert not engine.can_still_pass(case, play(case, moves("bad", "bad", *["best"] * 3)))


def test_can_still_pass_reads_every_way_ahead(level: Level) -> None:
    """On the real content, the best way ahead is found whatever the branches."""
    for case in level.cases.values():
        assert engine.can_still_pass(case, engine.new_state(case))
        state = engine.new_state(case)
        for choice in best(case)[:-1]:
            state, _ = engine.step(case, state, choice)
            if state.finished:
                break
            assert engine.can_still_pass(case, state)


# --- pages: status words, the unresolved error, restart -----------------------------------------


def _attempts(app: Any) -> list[Attempt]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(session.scalars(select(Attempt).order_by(Attempt.id)))


def test_the_debrief_shows_the_choice_that_left_the_error_unresolved(app: Any, client: Any,
                                                                     level: Level) -> None:
    case = level.cases["case-2"]
    first, second = criticals(case, "d1")
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-2")
    player.play([first, second, *best_choices(app, "case-2")[1:]])
    page = player.follow("Voir le bilan")
    (item,) = page.tree.find("ul", **{"class": "critical-list"}).find_all("li")
    second_choice = case.decision("d1").choice(second)
    assert second_choice is not None and second_choice.note is not None
    assert " ".join(second_choice.text.fr.split()) in item.text  # the old page left it out
    assert item.attrs["data-resolved"] == "false" and "Non résolue" in item.text
    shown = item.find(**{"data-testid": "unresolving-choice"}).text
    assert " ".join(second_choice.text.fr.split()) in shown
    assert " ".join(second_choice.note.fr.split())[:60] in item.text
    assert "Motif : regarder l'image, faire effacer l'image." in item.text


def test_status_words_are_not_ending_titles(app: Any, client: Any, level: Level) -> None:
    """An attempt at 57 %: the ending is titled "À consolider", its status is "Pas encore
    réussi", the same words as the level home's card (issue 10)."""
    case = level.cases["case-1"]
    choices = best(case)
    ok = {d.id: next(c.id for c in d.choices if c.points == 1) for d in case.decisions
          if any(c.points == 1 for c in d.choices)}
    path = [ok.get(d.id, b) if i < 6 else b for i, (d, b) in enumerate(zip(case.decisions, choices,
                                                                         strict=True))]
    assert engine.outcome(case, engine.replay(case, path)) == "consolider"
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    ending = player.play(path)
    assert ending.h1 == "À consolider"
    outcome = ending.tree.find("p", **{"class": "outcome status-bad"})
    assert "Pas encore réussi" in outcome.text and "À reprendre" not in outcome.text
    assert ending.tree.find("button", **{"data-testid": "restart-case"}).text == \
        "Recommencer ce cas maintenant"  # kept on the ending
    home = player.follow("Retour à l'accueil du niveau")
    card = home.tree.find("li", **{"data-case": "case-1"})
    assert card.attrs["data-status"] == "redo"
    assert "Pas encore réussi" in card.text and "À reprendre" not in card.text
    assert "À consolider" not in card.text


def test_restart_is_offered_once_the_attempt_cannot_pass(app: Any, client: Any,
                                                         level: Level) -> None:
    case = level.cases["case-1"]
    crit = criticals(case, "d1")[0]
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    page = player.start("case-1")
    assert not page.tree.find_all(**{"data-testid": "lost-notice"})
    page = player.choose(crit)  # first critical error: the retry can still resolve it
    assert not page.tree.find_all(**{"data-testid": "lost-notice"})
    player.proceed()
    page = player.choose(crit)  # unresolved: offered on the consequence screen already
    assert page.tree.find(**{"data-testid": "lost-notice"})
    restart_form = page.form("/restart")
    assert restart_form.find("button").text == "Recommencer ce cas maintenant"
    page = player.proceed()  # and on the decisions that follow
    assert page.tree.find(**{"data-testid": "lost-notice"})
    old = page.path
    old_fields = page.fields(page.form("/restart"))
    page = player.submit("/restart")
    assert page.status == 200 and page.path != old
    assert page.tree.find("section", **{"class": "decision"}).attrs["data-node"] == "d1"
    assert not page.tree.find_all(**{"data-testid": "lost-notice"})
    first, second = _attempts(app)
    assert (first.outcome, first.passed, first.finished_at is not None) == ("restarted", False, True)
    assert second.number == 2 and second.finished_at is None

    # a double click: the same form again lands on the new attempt, nothing more is created
    again = client.post(f"{old}/restart", data=old_fields)
    assert again.status_code == 303 and f"/attempts/{second.id}?" in again.headers["Location"]
    assert len(_attempts(app)) == 2
    # the old attempt takes no step any more, and its address leads to the new one
    before = snapshot(app)
    stale = client.post(f"{old}/choice", data={**old_fields, "choice": best(case)[1]})
    assert stale.status_code == 409 and 'data-error-code="already_answered"' in stale.get_data(
        as_text=True)
    assert snapshot(app) == before
    moved = client.get(f"{old}?t={old_fields['t']}")
    assert moved.status_code == 303 and f"/attempts/{second.id}?" in moved.headers["Location"]

    # the level home: the new attempt is the one in progress; the restarted one is not a best
    home = player.follow("Retour à l'accueil du niveau")
    card = home.tree.find("li", **{"data-case": "case-1"})
    assert card.attrs["data-status"] == "in_progress"
    assert f"/attempts/{second.id}?" in card.find("a").attrs["href"]


def test_restart_is_refused_while_the_attempt_can_pass(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    page = player.start("case-1")
    fields = page.fields(page.form("/choice"))
    before = snapshot(app)
    refused = client.post(f"{page.path}/restart", data={"t": fields["t"], "v": fields["v"]})
    assert refused.status_code == 409
    assert 'data-error-code="restart_refused"' in refused.get_data(as_text=True)
    assert snapshot(app) == before


def test_the_level_home_shows_the_complete_state(app: Any, client: Any, level: Level) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform, lti_custom={"sexto_activity": "case-3"})
    player.start("case-3")
    player.play(best_choices(app, "case-3"))
    home = player.follow("Retour à l'accueil du niveau")
    state = home.tree.find(**{"data-testid": "level-state"})
    assert state.attrs["data-state"] == "complete" and "Tout est terminé" in state.text
