"""Deep Linking 2.0 (https://www.imsglobal.org/spec/lti-dl/v2p0): an LtiDeepLinkingRequest launch
lands on the picker; the instructor's choice comes back as an LtiDeepLinkingResponse JWT that is
checked here with PyJWT against the JWKS the app publishes (independently of the tool's code);
launching the link it created opens what was chosen."""

from __future__ import annotations

import html
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sqlalchemy import select

from lti_tool import page_token
from lti_tool.db import get_session
from lti_tool.models import ResourceLink
from tests.support.minted import DROP, LTI, TOOL_URL, MintedPlatform, landing, minted_platform

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
RETURN_URL = "https://lms.example.test/deep-linking/return?course=5"
# French typography (the loader's one rule): no-break spaces inside « ».
CASE_TITLES = {"case-1": "«\u00a0Une seule personne…\u00a0»", "case-2": "«\u00a0Le groupe\u00a0»",
               "case-3": "«\u00a0Plusieurs fronts\u00a0»"}


@pytest.fixture
def https_client(client: Any) -> Any:
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


@pytest.fixture
def platform(app: Any) -> Any:
    with minted_platform(app) as p:
        yield p


def dl_settings(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "deep_link_return_url": RETURN_URL, "accept_types": ["ltiResourceLink"],
        "accept_presentation_document_targets": ["iframe", "window"], "accept_multiple": False,
        "auto_create": True, "title": "Ajouter une activité", "data": "opaque-csrf-7f3a",
    }
    for key, value in overrides.items():
        if value is DROP:
            settings.pop(key)
        else:
            settings[key] = value
    return settings


def dl_launch(client: Any, platform: MintedPlatform, *, roles: list[str] | None = None,
              sub: str = "teacher-1", locale: str = "fr-CA", **settings: Any) -> str:
    """A deep-linking launch; returns the picker URL the tool redirects to."""
    auth = platform.login(client)
    token = platform.sign(platform.claims(
        auth, sub=sub, lti_message_type="LtiDeepLinkingRequest", lti_resource_link=DROP,
        lti_roles=roles or [INSTRUCTOR], lti_launch_presentation={"locale": locale},
        **{DL + "deep_linking_settings": dl_settings(**settings)}))
    response = client.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:800]
    location = landing(response)
    assert location.startswith("/lti/deep-linking?t="), location
    return location


def token_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["t"][0]


def choose(client: Any, location: str, *activities: str, lang: str | None = None) -> Any:
    path = "/lti/deep-linking" + (f"?lang={lang}" if lang else "")
    return client.post(path, data={"t": token_of(location), "activity": list(activities)})


def response_form(page: str) -> tuple[str, str]:
    match = re.search(r'<form id="dl-response" method="post" action="([^"]+)">\s*'
                      r'<input type="hidden" name="JWT" value="([^"]+)">', page)
    assert match, page[:1500]
    return html.unescape(match.group(1)), match.group(2)


def verify(client: Any, token: str, platform: MintedPlatform) -> dict[str, Any]:
    """Check the response JWT the way a platform does: the tool's published JWKS, RS256, aud."""
    jwks = client.get("/.well-known/jwks.json").get_json()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=platform.issuer,
                      issuer=platform.client_id, options={"require": ["exp", "iat", "nonce"]})


def assert_refused(response: Any, code: str, status: int) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, page[:800])
    assert f'data-error-code="{code}"' in page, page[:800]
    assert 'lang="fr"' in page and 'lang="en"' in page
    return page


def test_picker_lists_the_level_and_the_three_cases(https_client: Any,
                                                    platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    response = https_client.get(location)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="fr"' in page
    values = re.findall(r'<input type="radio" name="activity" value="([^"]+)"', page)
    assert values == ["level", "case-1", "case-2", "case-3"]
    assert 'type="checkbox"' not in page  # accept_multiple is false: one choice only
    assert "SEXTO — Niveau Architecte" in page
    for title in CASE_TITLES.values():
        assert html.escape(title, quote=False) in page or title in page
    english = https_client.get(location + "&lang=en").get_data(as_text=True)
    assert 'lang="en"' in english and "Choose the activity to add" in english
    assert "“The group”" in english


def test_choice_comes_back_as_a_signed_deep_linking_response(https_client: Any,
                                                              platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    response = choose(https_client, location, "case-2")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:800]
    assert response.headers["Cache-Control"] == "no-store"
    action, token = response_form(page)
    assert action == RETURN_URL
    assert "js/deep-linking-submit.js" in page and "<script>" not in page
    assert re.search(r'<button type="submit">[^<]+</button>', page)  # fallback without script

    claims = verify(https_client, token, platform)
    assert claims["iss"] == platform.client_id
    assert claims["aud"] in ([platform.issuer], platform.issuer)
    assert claims["exp"] > time.time() > claims["iat"] - 60
    assert claims[LTI + "deployment_id"] == platform.deployment_id
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[DL + "data"] == "opaque-csrf-7f3a"
    assert claims[DL + "msg"] == "Activités SEXTO ajoutées : 1."
    [item] = claims[DL + "content_items"]
    title = "SEXTO — Niveau Architecte — Cas 2 : «\u00a0Le groupe\u00a0»"  # content typography
    assert item["type"] == "ltiResourceLink"
    assert item["title"] == title
    assert item["url"] == TOOL_URL + "/lti/launch"
    assert item["custom"] == {"sexto_activity": "case-2"}
    assert item["lineItem"] == {"scoreMaximum": 100, "label": title, "resourceId": "case-2",
                                "tag": "sexto-architect"}
    assert item["text"]


def test_several_items_when_accept_multiple(https_client: Any, platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform, accept_multiple=True)
    page = https_client.get(location).get_data(as_text=True)
    assert re.findall(r'<input type="checkbox" name="activity" value="([^"]+)"', page) == [
        "level", "case-1", "case-2", "case-3"]
    response = choose(https_client, location, "case-3", "level", "case-1", "case-3")
    _, token = response_form(response.get_data(as_text=True))
    claims = verify(https_client, token, platform)
    items = claims[DL + "content_items"]
    assert [i["custom"]["sexto_activity"] for i in items] == ["level", "case-1", "case-3"]
    assert [i["lineItem"]["resourceId"] for i in items] == ["level", "case-1", "case-3"]
    assert items[0]["title"] == "SEXTO — Niveau Architecte"
    assert claims[DL + "msg"] == "Activités SEXTO ajoutées : 3."


def test_accept_multiple_as_the_string_true(https_client: Any, platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform, accept_multiple="true")
    response = choose(https_client, location, "case-1", "case-2")
    _, token = response_form(response.get_data(as_text=True))
    assert len(verify(https_client, token, platform)[DL + "content_items"]) == 2


def test_english_response(https_client: Any, platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform, locale="en-CA")
    response = choose(https_client, location, "level")
    _, token = response_form(response.get_data(as_text=True))
    claims = verify(https_client, token, platform)
    assert claims[DL + "content_items"][0]["title"] == "SEXTO — Architect level"
    assert claims[DL + "msg"] == "SEXTO activities added: 1."


def test_no_data_claim_when_the_request_had_none(https_client: Any,
                                                 platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform, data=DROP)
    _, token = response_form(choose(https_client, location, "case-1").get_data(as_text=True))
    assert DL + "data" not in verify(https_client, token, platform)


def test_several_choices_refused_when_the_platform_wants_one(https_client: Any,
                                                             platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    assert_refused(choose(https_client, location, "case-1", "case-2"), "single_only", 400)


def test_unknown_case_is_refused(https_client: Any, platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    page = assert_refused(choose(https_client, location, "case-9"), "unknown_activity", 400)
    text = html.unescape(page)
    assert "Cette activité n'est pas offerte." in text and "This activity is not offered." in text
    assert_refused(choose(https_client, location, "level", "../case-1"), "unknown_activity", 400)


def test_nothing_chosen_is_refused(https_client: Any, platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    assert_refused(choose(https_client, location), "nothing_chosen", 400)


def test_a_learner_cannot_use_the_picker(https_client: Any, platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform, roles=[LEARNER])
    assert_refused(https_client.get(location), "instructor_only", 403)
    assert_refused(choose(https_client, location, "case-1"), "instructor_only", 403)


def test_without_page_token(https_client: Any) -> None:
    assert https_client.get("/lti/deep-linking").status_code == 401
    assert https_client.post("/lti/deep-linking", data={"activity": "level"}).status_code == 401


def test_another_persons_launch_record_cannot_be_used(app: Any, https_client: Any,
                                                      platform: MintedPlatform) -> None:
    mine = token_of(dl_launch(https_client, platform, sub="teacher-1"))
    theirs = token_of(dl_launch(https_client, platform, sub="teacher-2"))
    with app.test_request_context():
        me, other = page_token.read(mine), page_token.read(theirs)
        assert me.learner_id != other.learner_id
        # A token (validly signed) naming someone else's launch record.
        forged = page_token.issue(page_token.Viewer(**{**me.__dict__,
                                                       "launch_id": other.launch_id}))
    response = https_client.post("/lti/deep-linking", data={"t": forged, "activity": "case-1"})
    assert_refused(response, "forbidden", 403)


def test_a_resource_link_launch_cannot_answer_deep_linking(https_client: Any,
                                                          platform: MintedPlatform) -> None:
    launch = platform.launch(https_client, lti_roles=[INSTRUCTOR])
    assert launch.status_code in (200, 303)
    token = token_of(landing(launch))
    response = https_client.post("/lti/deep-linking", data={"t": token, "activity": "case-1"})
    assert_refused(response, "not_deep_linking", 400)


def test_the_created_link_opens_what_was_chosen(app: Any, https_client: Any,
                                                platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    _, token = response_form(choose(https_client, location, "case-2").get_data(as_text=True))
    [item] = verify(https_client, token, platform)[DL + "content_items"]

    # The platform creates the link with the item's custom parameters; a learner launches it.
    launch = platform.launch(https_client, lti_custom=item["custom"],
                             lti_resource_link={"id": "rl-from-dl", "title": item["title"]})
    assert launch.status_code in (200, 303), launch.get_data(as_text=True)[:800]
    with app.test_request_context():
        viewer = page_token.read(token_of(landing(launch)))
        link = get_session().execute(
            select(ResourceLink).where(ResourceLink.resource_link_id == "rl-from-dl")).scalar_one()
        assert (viewer.activity, link.activity) == ("case-2", "case-2")


# -- answered once (issue 10) ----------------------------------------------------------------------
def launch_id_of(app: Any, location: str) -> str:
    with app.test_request_context():
        return page_token.read(token_of(location)).launch_id


def assert_answered(response: Any, status: int, first: str) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, page[:800])
    assert 'data-testid="dl-answered"' in page and 'id="dl-response"' not in page
    assert response.headers["Cache-Control"] == "no-store"
    text = html.unescape(page)
    french = text.index("Choix déjà envoyé à votre cours")
    english = text.index("Choice already sent to your course")
    assert (french < english) == (first == "fr"), "the page's language comes first"
    assert "rouvrez le sélecteur depuis votre cours" in text
    assert "open the picker again from your course" in text
    return page


@pytest.mark.parametrize("locale, first", [("fr-CA", "fr"), ("en-CA", "en")])
def test_a_second_submit_after_back_is_not_answered_again(
        app: Any, https_client: Any, platform: MintedPlatform, locale: str, first: str) -> None:
    location = dl_launch(https_client, platform, locale=locale)
    response_form(choose(https_client, location, "case-1").get_data(as_text=True))
    # Back to the picker (no-store: the browser fetches it again) and a second choice.
    assert_answered(https_client.get(location), 200, first)
    assert_answered(choose(https_client, location, "case-2"), 409, first)
    assert_answered(choose(https_client, location, "case-2", lang="en"), 409, "en")


def test_a_refused_choice_does_not_use_up_the_request(https_client: Any,
                                                      platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    page = assert_refused(choose(https_client, location), "nothing_chosen", 400)
    text = html.unescape(page)
    assert "Choisissez au moins une activité." in text and "Choose at least one activity." in text
    assert "cochez-en au moins une" in text
    # The page's one action: back to the same list (the request is still open).
    back = re.search(r'<a[^>]+href="(/lti/deep-linking\?[^"]+)"', page)
    assert back, page[:1500]
    assert https_client.get(html.unescape(back.group(1))).status_code == 200
    response = choose(https_client, location, "case-3")
    assert response.status_code == 200
    response_form(response.get_data(as_text=True))


def test_the_picker_is_never_cached(https_client: Any, platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    assert https_client.get(location).headers["Cache-Control"] == "no-store"


def test_two_concurrent_claims_give_one_response(app: Any, https_client: Any,
                                                 platform: MintedPlatform) -> None:
    """The mark is one conditional UPDATE: while the first request's transaction holds it
    uncommitted, a second one waits (PostgreSQL row lock, SQLite write lock), then finds it."""
    from lti_tool.launch.deep_linking import claim_response

    launch_id = launch_id_of(app, dl_launch(https_client, platform))
    maker = app.extensions["db_sessionmaker"]
    first, second = maker(), maker()
    results: dict[str, bool] = {}
    try:
        assert claim_response(first, launch_id) is True
        waiting = threading.Thread(
            target=lambda: results.setdefault("second", claim_response(second, launch_id)))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive(), "the second claim did not wait for the first transaction"
        first.commit()
        waiting.join(20)
        assert not waiting.is_alive()
        second.commit()
    finally:
        first.close()
        second.close()
    assert results == {"second": False}
    third = maker()
    try:
        assert claim_response(third, launch_id) is False
    finally:
        third.close()


def test_two_concurrent_submits_over_http_give_one_response(app: Any, https_client: Any,
                                                            platform: MintedPlatform) -> None:
    location = dl_launch(https_client, platform)
    start = threading.Barrier(2)
    responses: list[Any] = []

    def submit(activity: str) -> None:
        client = app.test_client()
        client.environ_base.update(https_client.environ_base)
        start.wait()
        responses.append(choose(client, location, activity))

    threads = [threading.Thread(target=submit, args=(a,)) for a in ("case-1", "case-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], statuses
    winner = next(r for r in responses if r.status_code == 200)
    response_form(winner.get_data(as_text=True))
    assert_answered(next(r for r in responses if r.status_code == 409), 409, "fr")
