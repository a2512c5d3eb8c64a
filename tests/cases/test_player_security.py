"""Refusals of the case player: each one answers a clear 4xx page and leaves the database exactly
as it was (every row of the player's tables compared before and after)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cases.player_support import Player, snapshot
from tests.support.minted import minted_platform


def refused(response: Any, status: int, code: str) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:600]
    assert f'data-error-code="{code}"' in html
    return html


@pytest.fixture
def two_learners(app: Any, client: Any) -> tuple[Player, Player]:
    """Alex has an attempt at case 1, one decision in; Blake has just launched."""
    with minted_platform(app) as platform:
        alex = Player.launch(client, platform)
        blake = Player.launch(client, platform, sub="user-2", name="Blake Gagnon")
    alex.start("case-1")
    alex.play(["d1-b"])
    return alex, blake


def test_another_learners_attempt_is_not_found_and_unchanged(app: Any, client: Any,
                                                               two_learners: Any) -> None:
    alex, blake = two_learners
    attempt_url = alex.page.path
    form = alex.page.form("/choice")
    version = alex.page.fields(form)["v"]
    before = snapshot(app)
    t = blake.token
    refused(client.get(f"{attempt_url}?t={t}"), 404, "attempt_not_found")
    refused(client.get(f"{attempt_url}/debrief?t={t}"), 404, "attempt_not_found")
    refused(client.post(form.attrs["action"], data={"t": t, "v": version, "choice": "d2-c"}),
            404, "attempt_not_found")
    refused(client.post(f"{attempt_url}/continue", data={"t": t, "v": version}),
            404, "attempt_not_found")
    refused(client.get(f"/attempts/999999?t={t}"), 404, "attempt_not_found")
    assert snapshot(app) == before
    alex.choose("d2-c")  # the owner still can
    assert alex.page.status == 200


@pytest.mark.parametrize("choice", ["d9-z", "d3-a", "", "d1-b"])
def test_a_choice_not_offered_is_refused_and_nothing_changes(app: Any, client: Any,
                                                              two_learners: Any,
                                                              choice: str) -> None:
    alex, _ = two_learners  # at d2: d3-a belongs to a later decision, d1-b to an earlier one
    form = alex.page.form("/choice")
    before = snapshot(app)
    html = refused(client.post(form.attrs["action"],
                               data={**alex.page.fields(form), "choice": choice}),
                   400, "choice_not_offered")
    assert "This choice is not offered at this decision" in html
    assert "Ce choix n&#39;est pas offert à cette décision" in html
    assert snapshot(app) == before


def test_a_replayed_form_is_refused_and_nothing_changes(app: Any, client: Any,
                                                         two_learners: Any) -> None:
    alex, _ = two_learners
    form = alex.page.form("/choice")
    data = {**alex.page.fields(form), "choice": "d2-c"}
    assert client.post(form.attrs["action"], data=data).status_code == 303
    before = snapshot(app)
    html = refused(client.post(form.attrs["action"], data=data), 409, "already_answered")
    assert "This step was already answered" in html
    assert "Cette étape a déjà reçu une réponse" in html
    other = {**data, "choice": "d2-a"}  # same stale version, another choice: still refused
    refused(client.post(form.attrs["action"], data=other), 409, "already_answered")
    without_version = {k: v for k, v in data.items() if k != "v"}
    refused(client.post(form.attrs["action"], data=without_version), 409, "already_answered")
    for odd in ("²", "-1", "1e3", "9" * 30):
        refused(client.post(form.attrs["action"], data={**data, "v": odd}), 409,
                "already_answered")
    assert snapshot(app) == before

    page = alex.get(alex.page.path + "?t=" + alex.token)  # the page shows the d2 consequence
    continue_form = page.form("/continue")
    continue_data = page.fields(continue_form)
    assert client.post(continue_form.attrs["action"], data=continue_data).status_code == 303
    before = snapshot(app)
    refused(client.post(continue_form.attrs["action"], data=continue_data), 409,
            "already_answered")
    assert snapshot(app) == before


def test_a_replayed_start_never_makes_a_second_attempt(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        alex = Player.launch(client, platform)
    form = alex.page.form("/cases/case-2/attempts")
    first = client.post(form.attrs["action"], data=alex.page.fields(form))
    second = client.post(form.attrs["action"], data=alex.page.fields(form))
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"].split("?")[0] == second.headers["Location"].split("?")[0]
    assert len(snapshot(app)["attempt"]) == 1


def test_a_tampered_or_missing_token_is_refused_and_nothing_changes(app: Any, client: Any,
                                                                      two_learners: Any) -> None:
    alex, _ = two_learners
    form = alex.page.form("/choice")
    data = {**alex.page.fields(form), "choice": "d2-c"}
    token = data["t"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    before = snapshot(app)
    refused(client.post(form.attrs["action"], data={**data, "t": tampered}), 403, "bad_token")
    refused(client.post(form.attrs["action"], data={k: v for k, v in data.items() if k != "t"}),
            401, "no_session")
    refused(client.get(f"{alex.page.path}?t={tampered}"), 403, "bad_token")
    refused(client.get("/level"), 401, "no_session")
    refused(client.post("/cases/case-3/attempts", data={"t": tampered}), 403, "bad_token")
    refused(client.post("/reflections/draft", json={"question": "steps", "text": "x"},
                        headers={"X-Page-Token": tampered}), 403, "bad_token")
    refused(client.post("/reflections", data={"t": tampered, "answer-steps": "x"}), 403,
            "bad_token")
    # a token signed with another key is refused just the same
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-the-secret-" + "y" * 32, salt="lti-page-token").dumps(
        [1, 1, None, None, "launch", "learner", "fr", "level"])
    refused(client.post(form.attrs["action"], data={**data, "t": forged}), 403, "bad_token")
    assert snapshot(app) == before
    assert client.post(form.attrs["action"], data=data).status_code == 303  # the real one works


def test_unknown_case_is_not_found(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        alex = Player.launch(client, platform)
    before = snapshot(app)
    refused(client.post("/cases/case-9/attempts", data={"t": alex.token}), 404, "unknown_case")
    assert snapshot(app) == before
