"""JSON nesting limits everywhere JSON is parsed (issue 6, finding 9): the parser itself, Flask's
`request.get_json()` (the draft endpoint of the reflections), and the id_token of a launch.
Too deep is a clear 4xx and writes nothing, never a 500."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from flask import request
from sqlalchemy import func, select
from werkzeug.exceptions import BadRequest

from lti_tool import safe_json
from lti_tool.models import Learner
from tests.cases.player_support import Player, pass_all_cases, snapshot
from tests.support.minted import minted_platform


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- the parser ------------------------------------------------------------------------------------------
def test_json_up_to_the_limit_is_parsed() -> None:
    assert safe_json.loads('{"a": [1, {"b": "[[[["}]}') == {"a": [1, {"b": "[[[["}]}
    assert safe_json.loads(nested(32).encode()) == json.loads(nested(32))
    # Many brackets side by side (or inside strings) are not depth: the count only pre-screens.
    wide = {"items": [[i] for i in range(200)], "text": "{" * 100}
    assert safe_json.loads(json.dumps(wide)) == wide


@pytest.mark.parametrize("text", [
    nested(33), '{"a": ' * 40 + "1" + "}" * 40, nested(100_000), "[" * 100_000,
])
def test_json_beyond_the_limit_is_too_deep(text: str) -> None:
    with pytest.raises(safe_json.JsonTooDeep):
        safe_json.loads(text)
    with pytest.raises(ValueError):  # what callers catch
        safe_json.loads(text.encode())


@pytest.mark.parametrize("text", ["", "{", "[1,]", "nan-ish", b"\xff\xfe\x00"])
def test_invalid_json_is_a_value_error(text: Any) -> None:
    with pytest.raises(safe_json.JsonInvalid):
        safe_json.loads(text)


def test_flask_get_json_answers_400_for_too_deep_json(app: Any) -> None:
    """Flask turns the ValueError of `app.json.loads` into a 400 (None with silent=True)."""
    assert isinstance(app.json, safe_json.SafeJSONProvider)
    with app.test_request_context("/", method="POST", data=nested(5000),
                                  content_type="application/json"):
        assert request.get_json(silent=True) is None
    with app.test_request_context("/", method="POST", data=nested(40),
                                  content_type="application/json"):
        with pytest.raises(BadRequest):
            request.get_json()


# -- the reflections' JSON endpoint ----------------------------------------------------------------------
def test_a_too_deep_draft_is_a_400_and_saves_nothing(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    pass_all_cases(app)
    player.get(player.page.path + "?t=" + player.token)
    page = player.follow("Répondre aux questions de réflexion")
    for depth in (40, 100_000):  # beyond the limit; beyond the C decoder's recursion
        body = '{"question": "steps", "text": "x", "more": ' + nested(depth) + "}"
        response = client.post("/reflections/draft", data=body, content_type="application/json",
                               headers={"X-Page-Token": page.token, "Accept": "application/json"})
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert snapshot(app)["reflection_answer"] == []
    ok = client.post("/reflections/draft", json={"question": "steps", "text": "x"},
                     headers={"X-Page-Token": page.token, "Accept": "application/json"})
    assert ok.status_code == 200  # the same learner, a sane draft


# -- the id_token --------------------------------------------------------------------------------------------
def _learners(app: Any) -> int:
    session = app.extensions["db_sessionmaker"]()
    try:
        return int(session.scalar(select(func.count()).select_from(Learner)) or 0)
    finally:
        session.close()


def test_an_id_token_nested_too_deeply_is_refused(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        deep: Any = "x"
        for _ in range(40):
            deep = {"a": deep}
        response = platform.launch(client, custom=deep)  # validly signed, only too deep
        assert response.status_code == 400
        assert 'data-error-code="bad_jwt"' in response.get_data(as_text=True)
        # Deep enough for the C decoder's RecursionError (the 500 of the review), still signed.
        auth = platform.login(client)
        payload = (json.dumps({"iss": platform.issuer})[:-1] + ', "x": ' + nested(20_000) + "}").encode()
        token = jwt.api_jws.encode(payload, platform.key, algorithm="RS256",
                                   headers={"kid": platform.kid})
        response = platform.launch(client, auth=auth, token=token)
        assert response.status_code == 400
        assert 'data-error-code="bad_jwt"' in response.get_data(as_text=True)
        assert _learners(app) == 0
        assert platform.launch(client).status_code in (200, 303)  # the same platform, a sane token
