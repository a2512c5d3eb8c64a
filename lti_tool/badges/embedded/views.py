"""The embedded issuer's public endpoints (DESIGN.md §5, stable once published).

- `GET /badges/issuer`: the issuer Profile (JSON);
- `GET /badges/achievements/<id>`: the Achievement (JSON);
- `GET /badges/keys/<kid>`: the public JWK the credentials' `kid` header names;
- `GET /badges/status/<list-id>`: the signed Bitstring Status List (VC-JWT);
- `GET /badges/verify/<credential-id>`: the page an employer checks the badge on (valid, revoked,
  expired), in French or English (`?lang=`), with the baked PNG (`.../badge.png`) and an "add to
  LinkedIn profile" link;
- `GET /badges/evidence/<credential-id>`: the credential's evidence URL, access-controlled: it
  opens the attestation only behind an LMS launch of the learner or their instructor.

The verification page shows no reflection text; it links to the attestation only when the visitor
came with the learner's private share link (`?a=<token>`, from the attestation page): the
credential id is public (it is in the baked image and on LinkedIn) and must open no reflection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request, url_for

from lti_tool.badges.embedded import baking, service, status_list
from lti_tool.badges.embedded import credential as cred
from lti_tool.badges.embedded import keys as badge_keys
from lti_tool.cases.loader import app_level
from lti_tool.cases.model import Level
from lti_tool.db import get_session
from lti_tool.errors import Bilingual, ToolError
from lti_tool.models import Award, Learner
from lti_tool.page_token import require_viewer

bp = Blueprint("embedded_badges", __name__)

PUBLIC_MAX_AGE = 300
STATUS_MAX_AGE = 60


class BadgeNotFound(ToolError):
    status = 404
    code = "badge_not_found"
    title = Bilingual("Badge introuvable", "Badge not found")


def _not_found(what: str) -> BadgeNotFound:
    return BadgeNotFound(
        Bilingual("Aucun badge ne correspond à cette adresse. Vérifiez le lien reçu.",
                  "No badge matches this address. Check the link you received."),
        detail=what)


def _settings() -> Any:
    return current_app.extensions["settings"]


def _level() -> Level:
    return app_level()


def _public_json(body: dict[str, Any], mimetype: str = "application/json") -> Response:
    response = jsonify(body)
    response.mimetype = mimetype
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    response.headers["Access-Control-Allow-Origin"] = "*"  # verifiers run in browsers too
    return response


@bp.get("/badges/issuer")
def issuer() -> Response:
    return _public_json(cred.issuer_profile(_settings().base_url))


@bp.get("/badges/achievements/<achievement_id>")
def achievement(achievement_id: str) -> Response:
    if achievement_id != cred.ACHIEVEMENT_ID:
        raise _not_found(f"no achievement {achievement_id[:80]!r}")
    body = {"@context": cred.CREDENTIAL_CONTEXT, **cred.achievement(_level(), _settings().base_url)}
    return _public_json(body)


@bp.get("/badges/keys/<kid>")
def key(kid: str) -> Response:
    jwk = badge_keys.public_jwk(_settings().keys_dir, kid)
    if jwk is None:
        raise _not_found(f"no badge key {kid[:80]!r}")
    return _public_json(jwk, "application/jwk+json")


@bp.get("/badges/status/<int:list_id>")
def status(list_id: int) -> Response:
    if not 1 <= list_id <= 2**31 // cred.LIST_SIZE + 1:
        raise _not_found(f"no status list {list_id}")
    settings = _settings()
    signing = badge_keys.signing_key(settings.keys_dir)
    token = status_list.signed_list(
        get_session(), base_url=settings.base_url, list_id=list_id, now=datetime.now(UTC),
        private_key=signing.private_key, kid_url=badge_keys.key_url(settings.base_url, signing.kid))
    response = Response(token, mimetype="application/vc+jwt")
    response.headers["Cache-Control"] = f"public, max-age={STATUS_MAX_AGE}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# -- the verification page ---------------------------------------------------------------------
def _award(credential_id: str) -> Award:
    award = service.find_award(get_session(), credential_id)
    if award is None:
        raise _not_found(f"no embedded credential {credential_id[:80]!r}")
    return award


def _lang(learner: Learner | None) -> str:
    asked = request.args.get("lang")
    if asked in ("fr", "en"):
        return asked  # type: ignore[return-value]
    return "fr"  # French first: an employer in Quebec; the page offers English


def _display_name(learner: Learner | None) -> str | None:
    if learner is None:
        return None
    name = (learner.name or "").strip() or " ".join(
        p for p in ((learner.given_name or "").strip(), (learner.family_name or "").strip()) if p)
    return name or None  # never the email: this page is public


def _attestation_url(award: Award, lang: str) -> str | None:
    """The attestation's share link, only when the visitor brought it (`?a=`)."""
    token = request.args.get("a")
    if not token or "attestation.shared" not in current_app.view_functions:
        return None
    from lti_tool.badges import attestation

    try:
        shared = attestation.award_for_share_token(get_session(), _settings().secret_key, token)
    except ToolError:
        return None
    if shared.id != award.id:
        return None
    return url_for("attestation.shared", token=token, lang=lang)


@bp.get("/badges/verify/<credential_id>")
def verify(credential_id: str) -> Any:
    from lti_tool.badges.attestation import datetime_label

    award = _award(credential_id)
    settings = _settings()
    learner = get_session().get(Learner, award.learner_id)
    lang = g.locale = _lang(learner)
    checked = service.verify(award, keys_dir=settings.keys_dir, base_url=settings.base_url,
                             now=datetime.now(UTC))
    verify_url = cred.verification_url(settings.base_url, credential_id)
    awarded_at = checked.valid_from or award.awarded_at
    level = _level()
    criteria = cred.criteria_narrative(level).split("\n\n")
    switch_args: dict[str, Any] = {"credential_id": credential_id, "lang": "en" if lang == "fr" else "fr"}
    if request.args.get("a"):
        switch_args["a"] = request.args["a"]
    response = current_app.make_response(render_template(
        "badges/verify.html",
        state=checked.state, credential_id=credential_id, verify_url=verify_url,
        learner_name=_display_name(learner),
        awarded_label=datetime_label(awarded_at, lang) if awarded_at else None,
        awarded_iso=awarded_at.isoformat() if awarded_at else None,
        revoked_label=datetime_label(award.revoked_at, lang) if award.revoked_at else None,
        expired_label=datetime_label(checked.valid_until, lang) if checked.valid_until else None,
        achievement_name=cred.ACHIEVEMENT_NAME if lang == "fr" else cred.ACHIEVEMENT_NAME_EN,
        criteria=criteria[0] if lang == "fr" else criteria[-1],
        objectives=[o.label.get(lang) for o in level.objectives],
        issuer_name=cred.ISSUER_NAME,
        image_url=url_for("static", filename="img/badges/architecte.png"),
        png_url=url_for(".baked", credential_id=credential_id) if checked.state == service.VALID
        else None,
        linkedin_url=service.linkedin_url(verify_url=verify_url, credential_id=credential_id,
                                          awarded_at=awarded_at)
        if checked.state == service.VALID else None,
        attestation_url=_attestation_url(award, lang) if checked.state == service.VALID else None,
        lang_switch_url=url_for(".verify", **switch_args),
    ))
    response.headers["Cache-Control"] = "no-store"  # a revocation shows at once
    response.headers["Referrer-Policy"] = "no-referrer"  # `?a=` is a private link
    return response


@bp.get("/badges/verify/<credential_id>/badge.png")
def baked(credential_id: str) -> Response:
    award = _award(credential_id)
    if award.status != "awarded" or not award.credential:
        raise _not_found(f"credential {credential_id} is {award.status}: no image")
    return Response(baking.baked_badge(award.credential), mimetype="image/png", headers={
        "Content-Disposition": 'attachment; filename="badge-sexto-architecte.png"',
        "Cache-Control": "no-store"})


@bp.get("/badges/evidence/<credential_id>")
@require_viewer
def evidence(credential_id: str) -> Any:
    award = _award(credential_id)
    viewer = g.viewer
    if "attestation.mine" not in current_app.view_functions:
        raise _not_found("attestation pages not installed")
    if viewer.learner_id == award.learner_id:
        return redirect(url_for("attestation.mine", t=g.page_token))
    if viewer.is_instructor:  # the attestation view checks the learner is in their course
        return redirect(url_for("attestation.theirs", learner_id=award.learner_id, t=g.page_token))
    raise _not_found(f"evidence of credential {credential_id} asked by another learner")
