"""Issue 10, 8b: when neither the cookie nor Platform Storage binds the launch to the browser that
logged in (an LMS in a cross-site frame, third-party cookies blocked), the refusal page offers to
continue in a new window: the OIDC login restarted at top level with the original parameters,
where the tool's cookie is first-party. The launch itself stays refused."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest

from tests.launch.test_launch_security import learner_count
from tests.support.minted import TOOL_URL, MintedPlatform, landing, minted_platform

HINT = '{"cmid":42,"launchid":"ltilaunch1_123"}'


@pytest.fixture
def platform(app: Any) -> Any:
    with minted_platform(app) as p:
        yield p


def _browser(app: Any, **headers: str) -> Any:
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "tool.test",
                                **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}})
    return client


def _refused_in_frame(app: Any, platform: MintedPlatform, *, locale: str = "fr-CA",
                      **headers: str) -> tuple[Any, str]:
    """Login in the frame (its cookie is then blocked: the launch comes from a cookieless client)."""
    framed = _browser(app, **headers)
    auth = platform.login(framed, lti_message_hint=HINT)
    framed.delete_cookie("lti1p3_state_" + auth["nonce"], path="/lti/")
    token = platform.sign(platform.claims(
        auth, lti_launch_presentation={"locale": locale}))
    response = framed.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
    return response, response.get_data(as_text=True)


def _form(page: str) -> tuple[str, dict[str, str]]:
    form = re.search(r'<form method="post" action="([^"]+)" target="_blank"[^>]*>(.*?)</form>',
                     page, re.S)
    assert form is not None, page
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)))
    return form.group(1), {k: html_lib.unescape(v) for k, v in fields.items()}


def test_refusal_offers_the_login_again_in_a_new_window(app: Any, platform: MintedPlatform) -> None:
    response, page = _refused_in_frame(app, platform)
    assert response.status_code == 400
    assert 'data-error-code="state_not_bound"' in page
    assert learner_count(app) == 0  # the refused launch wrote nothing
    action, fields = _form(page)
    assert action == "/lti/login"
    assert fields == {
        "iss": platform.issuer, "login_hint": "user-1", "target_link_uri": TOOL_URL + "/lti/launch",
        "client_id": platform.client_id, "lti_deployment_id": platform.deployment_id,
        "lti_message_hint": HINT,
    }
    assert "revenez à votre cours" in page and "come back to your course" in page


def test_submitting_it_at_top_level_completes_a_launch(app: Any, platform: MintedPlatform) -> None:
    _, page = _refused_in_frame(app, platform)
    action, fields = _form(page)
    window = _browser(app)  # the new top-level window: its cookies work
    login = window.post(action, data=fields)
    assert login.status_code == 302
    auth = platform.login_answer(login)
    assert auth["lti_message_hint"] == HINT and auth["login_hint"] == "user-1"
    launch = window.post("/lti/launch", data={
        "id_token": platform.sign(platform.claims(auth)), "state": auth["state"]})
    assert launch.status_code == 200, launch.get_data(as_text=True)[:500]
    assert landing(launch).startswith("/level?t=")
    assert learner_count(app) == 1


def test_the_learners_language_comes_first(app: Any, platform: MintedPlatform) -> None:
    def order(page: str) -> list[str]:
        return re.findall(r'<section class="error-text error-lang" lang="(\w+)">\s*<h(\d)', page)

    _, french = _refused_in_frame(app, platform, locale="fr-CA")
    assert order(french) == [("fr", "1"), ("en", "2")]
    _, english = _refused_in_frame(app, platform, locale="en-US")
    assert order(english) == [("en", "1"), ("fr", "2")] and '<html lang="en">' in english
    # No locale in the launch: the browser's language.
    _, asked = _refused_in_frame(app, platform, locale="", **{"Accept-Language": "en-CA,en;q=0.8"})
    assert order(asked) == [("en", "1"), ("fr", "2")]


def test_forged_state_gets_no_offer(app: Any, platform: MintedPlatform) -> None:
    """Only a state the tool signed is offered again: nothing from a forged one is echoed."""
    framed = _browser(app)
    auth = platform.login(framed)
    forged = auth["state"][:-4] + ("AAAA" if not auth["state"].endswith("AAAA") else "BBBB")
    response = _browser(app).post("/lti/launch", data={
        "id_token": platform.sign(platform.claims(auth)), "state": forged})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'data-error-code="unknown_state"' in page and "target=\"_blank\"" not in page
