"""Where the attestation is read (issue 8, item 6): a page and a PDF, in one language each.

- `/attestation`, `/attestation.pdf`: the learner's own (page token; a draft before the award);
- `/instructor/learners/<id>/attestation[.pdf]`: an instructor's view of a learner of their course
  (page token of an instructor; same course and registration, else 404 like the learner page);
- `/badges/attestation/<share token>[/pdf]`: the learner's private link for an employer, linked
  from the learner's page and the badge's verification page; awarded badges only.

The language is the viewer's (`?lang=fr|en` switches it); for the share link, the learner's own
launch language unless `?lang` asks otherwise. Views are thin: attestation.py gathers, pdf.py
renders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from lti_tool.badges import attestation as service
from lti_tool.badges import pdf
from lti_tool.cases.loader import app_level
from lti_tool.cases.model import Level
from lti_tool.db import get_session
from lti_tool.errors import AccessDenied, Bilingual
from lti_tool.grading import roster as rosters
from lti_tool.models import Course, Learner
from lti_tool.page_token import require_viewer

bp = Blueprint("attestation", __name__)


def _level() -> Level:
    return app_level()


def _settings() -> Any:
    return current_app.extensions["settings"]


@bp.after_request
def _no_store(response: Any) -> Any:
    # The learner's reflections, and tokens in the links: never cached by a browser or a proxy.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # the share token is in the URL
    return response


def _lang(default: str | None) -> str:
    asked = request.args.get("lang")
    if asked in service.WORDS:
        return asked  # type: ignore[return-value]
    base = (default or "fr").split("-")[0].lower()
    return base if base in service.WORDS else "fr"


def _own_learner(learner_id: int, platform_id: int) -> Learner:
    learner = get_session().get(Learner, learner_id)
    if learner is None or learner.platform_id != platform_id:  # check_live already refused this
        raise rosters.learner_not_found(learner_id)
    return learner


def _pdf_response(attestation: service.Attestation) -> Response:
    name = "attestation-sexto-architecte.pdf" if attestation.lang == "fr" \
        else "attestation-sexto-architect.pdf"
    return Response(pdf.render(attestation), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"'})


def _page(attestation: service.Attestation, *, pdf_url: str, share_url: str | None,
          back_url: str | None) -> str:
    g.locale = attestation.lang  # the document's language is the page's (base.html's lang=)
    return render_template("badges/attestation.html", a=attestation, w=attestation.words,
                           pdf_url=pdf_url, share_url=share_url, back_url=back_url,
                           verify_link=_verify_link(attestation))


def _verify_link(attestation: service.Attestation) -> str | None:
    """The verification page carrying the learner's share token (`?a=`), so the embedded page
    links back to this attestation. Only the tool's own page gets the token (a provider's URL
    never does), and only for an awarded badge."""
    url = attestation.verification_url
    own = _settings().base_url.rstrip("/") + "/badges/verify/"
    if not url or attestation.status != service.AWARDED or not url.startswith(own):
        return url
    award = service.current_award(get_session(), attestation.learner_id)
    if award is None or award.id != attestation.award_id:
        return url
    return f"{url}?{urlencode({'a': service.share_token(_settings().secret_key, award)})}"


def _share_url(attestation: service.Attestation) -> str | None:
    if attestation.status != service.AWARDED or attestation.award_id is None:
        return None
    award = service.current_award(get_session(), attestation.learner_id)
    if award is None:
        return None
    token = service.share_token(_settings().secret_key, award)
    # The tool's public address (not the request's Host): the link leaves the LMS frame.
    return _settings().base_url.rstrip("/") + url_for("attestation.shared", token=token)


# --- the learner --------------------------------------------------------------------------------


def _mine() -> service.Attestation:
    viewer = g.viewer
    learner = _own_learner(viewer.learner_id, viewer.platform_id)
    return service.build(get_session(), _level(), learner, lang=_lang(g.locale),
                         base_url=_settings().base_url)


@bp.get("/attestation")
@require_viewer
def mine() -> Any:
    attestation = _mine()
    return _page(attestation, pdf_url=url_for("attestation.mine_pdf", t=g.page_token,
                                              lang=attestation.lang),
                 share_url=_share_url(attestation),
                 back_url=url_for("cases.level_home", t=g.page_token))


@bp.get("/attestation.pdf")
@require_viewer
def mine_pdf() -> Response:
    return _pdf_response(_mine())


# --- the instructor -----------------------------------------------------------------------------


def _course_learner(learner_id: int) -> Learner:
    """A learner of the instructor's course and registration; 404 otherwise (ids reveal nothing)."""
    viewer = g.viewer
    if not viewer.is_instructor:
        raise AccessDenied(
            Bilingual("Cette page est réservée aux personnes qui enseignent le cours.",
                      "This page is for the course's instructors only."),
            detail="learner token on the instructor's attestation view")
    session = get_session()
    course = session.get(Course, viewer.course_id) if viewer.course_id is not None else None
    if course is None or course.platform_id != viewer.platform_id:
        raise rosters.learner_not_found(learner_id)
    roster = rosters.cached_roster(course) or rosters.Roster((), "seen", None)
    membership = rosters.course_membership(session, course_id=course.id,
                                           platform_id=viewer.platform_id, roster=roster,
                                           exclude=(viewer.learner_id,))
    return rosters.member_or_404(membership, learner_id)


def _theirs(learner_id: int) -> service.Attestation:
    learner = _course_learner(learner_id)
    return service.build(get_session(), _level(), learner, lang=_lang(g.locale),
                         base_url=_settings().base_url)


@bp.get("/instructor/learners/<int:learner_id>/attestation")
@require_viewer
def theirs(learner_id: int) -> Any:
    attestation = _theirs(learner_id)
    return _page(attestation, pdf_url=url_for("attestation.theirs_pdf", learner_id=learner_id,
                                              t=g.page_token, lang=attestation.lang),
                 share_url=None,
                 back_url=url_for("grading.learner", learner_id=learner_id, t=g.page_token))


@bp.get("/instructor/learners/<int:learner_id>/attestation.pdf")
@require_viewer
def theirs_pdf(learner_id: int) -> Response:
    return _pdf_response(_theirs(learner_id))


# --- the share link -----------------------------------------------------------------------------


def _shared(token: str) -> service.Attestation:
    session = get_session()
    award = service.award_for_share_token(session, _settings().secret_key, token)
    learner = session.get(Learner, award.learner_id)
    assert learner is not None  # the award's foreign key cascades with the learner
    return service.build(session, _level(), learner, lang=_lang(learner.locale),
                         base_url=_settings().base_url, award=award)


@bp.get("/badges/attestation/<token>")
def shared(token: str) -> Any:
    attestation = _shared(token)
    other = "en" if attestation.lang == "fr" else "fr"
    g.share_lang_url = url_for("attestation.shared", token=token, lang=other)
    return _page(attestation, pdf_url=url_for("attestation.shared_pdf", token=token,
                                              lang=attestation.lang),
                 share_url=None, back_url=None)


@bp.get("/badges/attestation/<token>/pdf")
def shared_pdf(token: str) -> Response:
    return _pdf_response(_shared(token))


# --- the evidence link a badge platform publishes -----------------------------------------------


@bp.get("/badges/awards/<int:award_id>/evidence")
@require_viewer
def evidence(award_id: int) -> Any:
    """The evidence URL external badge platforms (Badgr, Credly, OBF) publish with the badge:
    access-controlled — the learner, or an instructor of their course, launched from the LMS, is
    sent to the attestation; anyone else gets a 404. Never the share link (which opens the
    reflections without a session) and never the reflection text (BADGES.md)."""
    from lti_tool.models import Award

    award = get_session().get(Award, award_id)
    viewer = g.viewer
    if award is not None and award.learner_id == viewer.learner_id:
        return redirect(url_for("attestation.mine", t=g.page_token))
    if award is not None and viewer.is_instructor:
        _course_learner(award.learner_id)  # 404 unless the learner is in their course
        return redirect(url_for("attestation.theirs", learner_id=award.learner_id,
                                t=g.page_token))
    raise rosters.learner_not_found(award.learner_id if award is not None else award_id)
