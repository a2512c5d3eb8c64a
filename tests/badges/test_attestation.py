"""The attestation of professional development (issue 8, item 6): the PDF in both languages with the
title, the learner, the date (Quebec time) and the three answers (read back with pypdf, an
independent reader); a three-page answer; the page; who may read it (learner, their instructor,
the share link) and who may not (another course, another registration, a forged or revoked link)."""

from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import update

from lti_tool.db import get_session
from lti_tool.models import Award
from tests.badges.attestation_support import (
    ANSWERS,
    NAME,
    World,
    build_world,
    instructor_token,
    learner_token,
    pdf_text,
    squash,
    token,
)

TITLES = {"fr": "Preuve et attestation de développement professionnel",
          "en": "Proof and attestation of professional development"}
PROGRAMS = {"fr": "Trousse de réponse Sexto 2 – Architecte", "en": "Sexto 2 response kit – Architect"}
DATES = {"fr": "12 mars 2026 à 14 h 05", "en": "March 12, 2026 at 2:05"}
LABELS = {"fr": ("Badge attribué à :", "Date d'obtention :"),
          "en": ("Badge awarded to:", "Date obtained:")}
NOTICE = {"fr": "a conclu son entente avec le DPCP", "en": "has concluded its agreement with the DPCP"}
QUESTIONS = {"fr": "Résumez les étapes de la méthode SEXTO.",
             "en": "Summarize the steps of the SEXTO method."}


@pytest.fixture
def world(app) -> World:  # type: ignore[no-untyped-def]
    return build_world(app)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pdf_has_title_learner_date_and_the_three_answers(app, client, world, lang) -> None:  # type: ignore[no-untyped-def]
    t = learner_token(app, world, locale=lang)
    response = client.get(f"/attestation.pdf?t={t}&lang={lang}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    text, pages = pdf_text(response.data)
    assert TITLES[lang] in text
    assert PROGRAMS[lang] in text
    assert NOTICE[lang] in text  # the level's description includes the territory notice
    for label in LABELS[lang]:
        assert squash(label) in text
    assert NAME in text
    assert DATES[lang] in text  # Quebec time (EDT), not the stored UTC 18:05
    assert QUESTIONS[lang] in text
    for answer in ANSWERS.values():
        assert squash(answer) in text  # accents, « guillemets », narrow no-break spaces
    assert "https://tool.test/badges/verify/" in text
    assert "BROUILLON" not in text and "DRAFT" not in text
    assert pages >= 1


def test_a_three_page_answer_renders_whole(app, client) -> None:  # type: ignore[no-untyped-def]
    paragraph = ("Lors du dévoilement, l'intervenant·e accueille l'élève « sans jugement », "
                 "note les faits\u202f; il ou elle ne regarde jamais l'image. ")
    long_answer = "\n\n".join(f"Paragraphe {i}. " + paragraph * 4 for i in range(1, 31))
    assert len(long_answer) <= 20_000
    w = build_world(app, answers={**ANSWERS, "learned": long_answer})
    response = client.get(f"/attestation.pdf?t={learner_token(app, w)}")
    assert response.status_code == 200
    text, pages = pdf_text(response.data)
    assert pages >= 3
    assert "Paragraphe 1." in text and "Paragraphe 30." in text
    assert squash(long_answer.split("\n\n")[-1]) in text  # the end of the answer, on a later page
    assert squash(ANSWERS["delicate"]) in text  # and what comes after it


def test_page_in_both_languages(app, client, world) -> None:  # type: ignore[no-untyped-def]
    for lang in ("fr", "en"):
        response = client.get(f"/attestation?t={learner_token(app, world, lang)}")
        assert response.status_code == 200
        html = unescape(response.get_data(as_text=True))
        assert f'<html lang="{lang}">' in html
        assert TITLES[lang] in html and PROGRAMS[lang] in html and NAME in html
        assert DATES[lang] in html
        for answer in ANSWERS.values():
            assert answer in html
        assert "/badges/attestation/" in html  # the private link for an employer


def test_draft_before_the_award_is_marked_on_the_page_and_the_pdf(app, client) -> None:  # type: ignore[no-untyped-def]
    w = build_world(app, award=False)
    t = learner_token(app, w)
    html = unescape(client.get(f"/attestation?t={t}").get_data(as_text=True))
    assert 'data-testid="attestation-draft"' in html
    assert "BROUILLON" in html
    assert "/badges/attestation/" not in html  # no share link for a badge not awarded
    text, _ = pdf_text(client.get(f"/attestation.pdf?t={t}").data)
    assert "BROUILLON — badge pas encore attribué" in text
    assert "pas encore attribué" in text
    assert squash(ANSWERS["steps"]) in text


def test_instructor_of_the_course_reads_it(app, client, world) -> None:  # type: ignore[no-untyped-def]
    t = instructor_token(app, world, locale="en")
    page = client.get(f"/instructor/learners/{world.learner_id}/attestation?t={t}")
    assert page.status_code == 200
    assert NAME in unescape(page.get_data(as_text=True))
    response = client.get(f"/instructor/learners/{world.learner_id}/attestation.pdf?t={t}")
    assert response.status_code == 200
    text, _ = pdf_text(response.data)
    assert TITLES["en"] in text and NAME in text


def test_isolation_other_course_other_registration_and_learners(app, client, world) -> None:  # type: ignore[no-untyped-def]
    other_course = token(app, learner_id=world.other_instructor_id, platform_id=world.platform_id,
                         course_id=world.other_course_id, link_id=world.other_link_id,
                         role="instructor")
    foreign = token(app, learner_id=world.foreign_instructor_id,
                    platform_id=world.other_platform_id, course_id=world.foreign_course_id,
                    link_id=world.foreign_link_id, role="instructor")
    for t in (other_course, foreign):
        for suffix in ("", ".pdf"):
            response = client.get(f"/instructor/learners/{world.learner_id}/attestation{suffix}?t={t}")
            assert response.status_code == 404
            assert NAME not in response.get_data(as_text=True)
    # A learner's token is not an instructor's, even for themselves.
    response = client.get(
        f"/instructor/learners/{world.learner_id}/attestation?t={learner_token(app, world)}")
    assert response.status_code == 403
    # No token at all.
    assert client.get("/attestation").status_code == 401
    assert client.get(f"/instructor/learners/{world.learner_id}/attestation.pdf").status_code == 401


def _share_link(app, client, world) -> str:  # type: ignore[no-untyped-def]
    html = client.get(f"/attestation?t={learner_token(app, world)}").get_data(as_text=True)
    start = html.index("https://tool.test/badges/attestation/")
    return html[start:html.index('"', start)].replace("https://tool.test", "")


def test_share_link_opens_it_without_a_session(app, client, world) -> None:  # type: ignore[no-untyped-def]
    link = _share_link(app, client, world)
    page = client.get(link)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = unescape(page.get_data(as_text=True))
    assert NAME in html and ANSWERS["learned"] in html
    english = unescape(client.get(link + "?lang=en").get_data(as_text=True))
    assert TITLES["en"] in english
    text, _ = pdf_text(client.get(link + "/pdf").data)
    assert squash(ANSWERS["delicate"]) in text


def test_share_link_refused_when_forged_or_revoked(app, client, world) -> None:  # type: ignore[no-untyped-def]
    link = _share_link(app, client, world)
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    for bad in (forged, "/badges/attestation/1", f"/badges/attestation/{world.award_id}",
                "/badges/attestation/urn:uuid:7f0c1c55-6d8e-4f0e-9a7e-0c5d1b2a3c4d"):
        response = client.get(bad)
        assert response.status_code == 404
        assert NAME not in response.get_data(as_text=True)
    with app.app_context():
        session = get_session()
        session.execute(update(Award).where(Award.id == world.award_id).values(status="revoked"))
        session.commit()
    assert client.get(link).status_code == 404
    assert client.get(link + "/pdf").status_code == 404
    # The learner still sees theirs, marked revoked.
    html = client.get(f"/attestation?t={learner_token(app, world)}").get_data(as_text=True)
    assert 'data-testid="attestation-revoked"' in html


def test_evidence_link_published_by_badge_platforms_is_access_controlled(  # type: ignore[no-untyped-def]
        app, client, world) -> None:
    url = f"/badges/awards/{world.award_id}/evidence"
    assert client.get(url).status_code == 401  # no session: nothing (a badge page visitor)
    mine = client.get(f"{url}?t={learner_token(app, world)}")
    assert mine.status_code == 302 and "/attestation?t=" in mine.headers["Location"]
    theirs = client.get(f"{url}?t={instructor_token(app, world, locale='fr')}")
    assert theirs.status_code == 302
    assert f"/instructor/learners/{world.learner_id}/attestation" in theirs.headers["Location"]
    other_course = token(app, learner_id=world.other_instructor_id, platform_id=world.platform_id,
                         course_id=world.other_course_id, link_id=world.other_link_id,
                         role="instructor")
    refused = client.get(f"{url}?t={other_course}")
    assert refused.status_code == 404 and NAME not in refused.get_data(as_text=True)
