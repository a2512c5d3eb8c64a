"""Reflection questions over HTTP: locked until the three cases pass, drafts saved through the JSON
endpoint, too-short answers refused with the text kept, submission and revision with history, and
learner text always escaped when shown back."""

from __future__ import annotations

from typing import Any

import pytest

from lti_tool.cases import service
from lti_tool.cases.loader import get_level
from tests.cases.player_support import Player, pass_all_cases, snapshot
from tests.support.minted import minted_platform

QUESTIONS = ("steps", "learned", "delicate")


def words(n: int, tag: str = "") -> str:
    return " ".join(f"réponse{tag}{i}" for i in range(n))


@pytest.fixture
def learner(app: Any, client: Any) -> Player:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    pass_all_cases(app)
    player.get(player.page.path + "?t=" + player.token)  # the home, reloaded
    return player


def draft(client: Any, token: str, question: str, text: str) -> Any:
    return client.post("/reflections/draft", json={"question": question, "text": text},
                       headers={"X-Page-Token": token, "Accept": "application/json"})


def test_reflections_are_locked_until_the_three_cases_pass(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    assert player.page.tree.find(**{"data-testid": "reflections-locked"})
    assert "Verrouillé" in player.page.tree.text
    before = snapshot(app)
    for response in (client.get(f"/reflections?t={player.token}"),
                     draft(client, player.token, "steps", "un brouillon"),
                     client.post("/reflections", data={"t": player.token,
                                                       "answer-steps": words(40)})):
        assert response.status_code == 403
        assert 'data-error-code="reflections_locked"' in response.get_data(as_text=True)
    assert snapshot(app) == before
    pass_all_cases(app)
    home = player.get(player.page.path + "?t=" + player.token)
    assert not home.tree.find_all(**{"data-testid": "reflections-locked"})
    page = player.follow("Répondre aux questions de réflexion")
    assert page.status == 200 and page.h1 == "Questions de réflexion"


def test_the_page_lists_the_three_questions_with_labels(app: Any, learner: Player) -> None:
    level = get_level(app.extensions["settings"].content_dir)
    page = learner.follow("Répondre aux questions de réflexion")
    for q in level.reflections:
        textarea = page.tree.find("textarea", id=f"answer-{q.id}")
        label = page.tree.find("label", **{"for": f"answer-{q.id}"})
        assert " ".join(q.question.fr.split()) in label.text  # the tree collapses no-break spaces
        described = textarea.attrs["aria-describedby"].split()
        assert page.tree.find(id=described[0]).text == " ".join(q.guidance.fr.split())
    status = page.tree.find(id="draft-status")
    assert status.attrs["role"] == "status"
    form = page.form("/reflections")
    assert form.attrs["data-draft-url"] == "/reflections/draft"
    assert page.tree.find("script").attrs["src"].endswith("/js/reflections.js")


def test_a_draft_is_saved_through_the_json_endpoint(app: Any, client: Any,
                                                    learner: Player) -> None:
    page = learner.follow("Répondre aux questions de réflexion")
    token = page.token
    response = draft(client, token, "learned", "Premier jet\nsur deux lignes")
    assert response.status_code == 200 and response.is_json
    data = response.get_json()
    assert data["question"] == "learned" and data["words"] == 5
    assert data["message"].startswith("Brouillon enregistré à ")
    assert data["token"] and data["saved_at"]
    second = draft(client, data["token"], "learned", "Deuxième jet")  # the fresh token works
    assert second.status_code == 200
    rows = snapshot(app)
    assert len(rows["reflection_answer"]) == 1 and rows["reflection_submission"] == []
    page = learner.get(page.path + "?t=" + token)
    assert page.tree.find("textarea", id="answer-learned").raw_text == "\nDeuxième jet"
    assert "Brouillon enregistré à" in page.tree.find(id="draft-status").text
    for bad in ({"question": "nope", "text": "x"}, {"question": "steps"}, ["steps", "x"]):
        refusal = client.post("/reflections/draft", json=bad, headers={"X-Page-Token": token})
        assert refusal.status_code == 400
    assert client.post("/reflections/draft", json={"question": "steps", "text": "x"}
                       ).status_code == 401


def test_a_too_short_submit_is_refused_and_the_text_kept(app: Any, client: Any,
                                                         learner: Player) -> None:
    page = learner.follow("Répondre aux questions de réflexion")
    texts = {"steps": words(40), "learned": "Trop court, vraiment.", "delicate": words(12)}
    form = page.form("/reflections")
    posted = client.post(form.attrs["action"], data={**page.fields(form),
                                                     **{f"answer-{q}": t for q, t in texts.items()}})
    # Post/Redirect/Get even when refused: a reload shows the page again, it never re-posts.
    assert posted.status_code == 303
    location = posted.headers["Location"]
    assert location.startswith("/reflections?") and "refused=1" in location
    after_post = snapshot(app)
    for page in (learner.get(location), learner.get(location)):  # the redirect, then a reload
        assert page.status == 200
        summary = page.tree.find(**{"data-testid": "error-summary"})
        assert "Vos réponses n'ont pas été soumises" in summary.text
        assert [a.attrs["href"] for a in summary.find_all("a")] == ["#answer-learned",
                                                                   "#answer-delicate"]
        assert "au moins 30 mots" in summary.text and "Mots" not in summary.text
        assert page.tree.find("title").text.startswith("Erreur :")
        for question, text in texts.items():
            textarea = page.tree.find("textarea", id=f"answer-{question}")
            assert textarea.raw_text == "\n" + text, "the text is kept"
            assert ("aria-invalid" in textarea.attrs) == (question != "steps")
            # One word count per answer, which is also its error message when too short.
            counts = [e for e in page.tree.iter() if e.tag == "p" and e.text.count("Mots :")]
            line = page.tree.find(id=f"words-{question}")
            assert line.attrs["id"] in textarea.attrs["aria-describedby"].split()
            assert ("field-error" in line.attrs["class"]) == (question != "steps")
            assert line.text.startswith("Erreur :") == (question != "steps")
        assert len(counts) == 3, [c.text for c in counts]
        assert "Mots : 3 (au moins 30)." in page.tree.find(id="words-learned").text
        # The page header is whole: the language switch keeps the refusal, the signed-in line.
        switch = page.tree.find("nav", **{"class": "lang-switch"}).find("a")
        assert "lang=en" in switch.attrs["href"] and "refused=1" in switch.attrs["href"]
        assert page.tree.find("p", **{"class": "signed-in"})
    assert snapshot(app) == after_post, "showing the refusal again changed nothing"
    rows = after_post
    assert rows["reflection_submission"] == []
    assert sorted(r[3] for r in rows["reflection_answer"]) == sorted(texts.values()), \
        "the failed submit saved every answer as a draft"
    english = learner.follow("English")
    assert english.tree.find(**{"data-testid": "error-summary"})
    assert "Words: 3 (at least 30)." in english.tree.find(id="words-learned").text


def test_the_refusal_is_computed_from_the_saved_drafts(app: Any, client: Any,
                                                      learner: Player) -> None:
    """`refused=1` carries no learner data: an answer lengthened since (autosave) is no longer
    shown as an error, and a page with nothing too short shows no error at all."""
    page = learner.follow("Répondre aux questions de réflexion")
    learner.submit("/reflections", **{f"answer-{q}": words(3) for q in QUESTIONS})
    assert learner.page.tree.find(**{"data-testid": "error-summary"})
    refused_url = learner.page.response.request.url
    for question in ("steps", "learned"):
        assert draft(client, learner.page.token, question, words(31)).status_code == 200
    page = learner.get(refused_url)
    summary = page.tree.find(**{"data-testid": "error-summary"})
    assert [a.attrs["href"] for a in summary.find_all("a")] == ["#answer-delicate"]
    assert draft(client, page.token, "delicate", words(31)).status_code == 200
    page = learner.get(refused_url)
    assert not page.tree.find_all(**{"data-testid": "error-summary"})
    assert not page.tree.find("title").text.startswith("Erreur")
    assert snapshot(app)["reflection_submission"] == []


def test_submit_then_revise_keeps_the_history(app: Any, client: Any, learner: Player) -> None:
    learner.follow("Répondre aux questions de réflexion")
    texts = {q: words(35, q) for q in QUESTIONS}
    page = learner.submit("/reflections", **{f"answer-{q}": t for q, t in texts.items()})
    assert page.path == "/reflections" and page.tree.find(**{"data-testid": "submitted"})
    shown = {d.attrs["data-question"]: d.text for d in page.tree.find_all("div")
             if d.attrs.get("class") == "learner-text"}
    assert shown == texts
    assert page.tree.find("h2", id="form-heading").text == "Réviser vos réponses"
    revised = texts | {"delicate": words(45, "v2")}
    page = learner.submit("/reflections", **{f"answer-{q}": t for q, t in revised.items()})
    assert "(version 2)" in page.tree.find("section", **{"class": "submitted-answers"}).text
    rows = snapshot(app)["reflection_submission"]
    assert len(rows) == 4, "three first versions and one revision"
    home = learner.follow("Retour à l'accueil du niveau")
    assert "Vos réponses ont été soumises le" in home.tree.text


def test_learner_text_is_escaped_wherever_it_is_shown(app: Any, client: Any,
                                                      learner: Player) -> None:
    learner.follow("Répondre aux questions de réflexion")
    hostile = ('<script>alert("x")</script> <b>gras</b> <img src=x onerror=alert(1)> '
               + words(40))
    texts = {q: words(35, q) for q in QUESTIONS} | {"delicate": hostile}
    page = learner.submit("/reflections", **{f"answer-{q}": t for q, t in texts.items()})
    assert page.tree.find(**{"data-testid": "submitted"})
    for html in (page.html, learner.get(page.path + "?t=" + learner.token).html):
        for raw in ("<script>alert", "<b>gras</b>", "<img src=x"):
            assert raw not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # the debrief shows the answer to "the most delicate step" beside the weakest objective
    home = learner.follow("Retour à l'accueil du niveau")
    debrief = learner.get(next(a.attrs["href"] for a in home.tree.find_all("a")
                               if "/debrief" in a.attrs.get("href", "")))
    assert debrief.status == 200 and home.status == 200
    assert "&lt;b&gt;gras&lt;/b&gt;" in debrief.html and "<b>gras</b>" not in debrief.html


def test_a_field_the_form_did_not_send_keeps_its_draft(app: Any, client: Any,
                                                       learner: Player) -> None:
    page = learner.follow("Répondre aux questions de réflexion")
    assert draft(client, page.token, "learned", words(33, "kept")).status_code == 200
    page = learner.submit("/reflections", **{"answer-steps": words(31), "answer-delicate": ""})
    assert page.tree.find("textarea", id="answer-learned").raw_text == "\n" + words(33, "kept")
    drafts = {r[2]: r[3] for r in snapshot(app)["reflection_answer"]}
    assert drafts == {"steps": words(31), "learned": words(33, "kept"), "delicate": ""}


def beacon(client: Any, body: dict[str, str], content_type: str | None = None) -> Any:
    """What navigator.sendBeacon(url, new URLSearchParams(body)) sends: a urlencoded form body,
    no custom header (the page token travels in the body)."""
    from urllib.parse import urlencode

    return client.post("/reflections/draft", data=urlencode(body).encode(),
                       content_type=content_type
                       or "application/x-www-form-urlencoded;charset=UTF-8")


def test_a_draft_sent_by_beacon_is_saved(app: Any, client: Any, learner: Player) -> None:
    page = learner.follow("Répondre aux questions de réflexion")
    token = page.token
    text = "Écrit juste avant de recharger\r\nla page « vraiment »"
    response = beacon(client, {"t": token, "question": "delicate", "text": text})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.get_json()["question"] == "delicate"
    page = learner.get(page.path + "?t=" + token)
    assert page.tree.find("textarea", id="answer-delicate").raw_text == \
        "\nÉcrit juste avant de recharger\nla page « vraiment »"


def test_a_beacon_is_as_protected_as_any_form(app: Any, client: Any, learner: Player) -> None:
    page = learner.follow("Répondre aux questions de réflexion")
    token = page.token
    before = snapshot(app)
    refusals = [
        (beacon(client, {"question": "steps", "text": "sans jeton"}), 401),
        (beacon(client, {"t": token[:-4] + "AAAA", "question": "steps", "text": "x"}), 403),
        (beacon(client, {"t": token, "question": "nope", "text": "x"}), 400),
        (beacon(client, {"t": token, "question": "steps"}), 400),
        (beacon(client, {"t": token, "question": "steps",
                         "text": "x" * (service.MAX_ANSWER_CHARS + 1)}), 400),
        # A Blob or a string beacon (text/plain): not a form, nothing read from it.
        (client.post(f"/reflections/draft?t={token}", data="steps=x",
                     content_type="text/plain;charset=UTF-8"), 400),
        (client.post(f"/reflections/draft?t={token}", data=b"x" * (1024 * 1024 + 1),
                     content_type="application/x-www-form-urlencoded"), 413),
    ]
    for response, status in refusals:
        assert response.status_code == status, (status, response.get_data(as_text=True)[:300])
    assert snapshot(app) == before


def test_the_page_gives_the_script_what_it_needs(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        first = Player.launch(client, platform)
        second = Player.launch(client, platform, sub="user-2")
    pass_all_cases(app)
    pass_all_cases(app, sub="user-2")
    page = first.get(f"/reflections?t={first.token}")
    scope = page.form("/reflections").attrs["data-draft-scope"]
    assert len(scope) == 16 and scope not in page.token
    for q in QUESTIONS:
        assert page.tree.find("textarea", id=f"answer-{q}").attrs["maxlength"] == str(
            service.MAX_ANSWER_CHARS)
    # Another learner has another scope (their unsaved texts are never restored for someone else).
    other = second.get(f"/reflections?t={second.token}")
    assert other.form("/reflections").attrs["data-draft-scope"] != scope
