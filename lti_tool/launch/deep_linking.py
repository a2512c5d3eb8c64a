"""Deep Linking 2.0 (https://www.imsglobal.org/spec/lti-dl/v2p0): the activity picker.

An `LtiDeepLinkingRequest` launch lands here (launch/views.py `_landing`, with a page token). An
instructor picks the whole Architect level or one case — several at once when the platform's
`accept_multiple` allows it — and the tool answers with an `LtiDeepLinkingResponse` (§4.2) signed
with the registration's own key set when it has one (else the tool's current key), auto-posted to
`deep_link_return_url`. Each item is an `ltiResourceLink`
whose custom parameter `sexto_activity` names the choice (`level` or a case id): a later launch of
that link opens it (services.activity_of). Each carries a `lineItem` so the platform creates the
gradebook column (Moodle honours label, scoreMaximum, resourceId and tag; LTI.md).

Everything the response needs (return URL, deployment, `data`, issuer and client id) comes from the
server-side `LaunchRecord` of this launch, never from the browser; the record must belong to the
viewer of the page token.

A request is answered once (issue 10): the response is signed only by the request that sets the
record's `answered_at` (one conditional UPDATE, so two concurrent submits cannot both win); a
second submit, after Back or a double click, gets a page saying what to do instead of a second
response the platform would have to refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from flask_babel import gettext
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from pylti1p3.registration import Registration
from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from lti_tool.cases.model import Level
from lti_tool.db import get_session, utcnow
from lti_tool.errors import AccessDenied, Action, Bilingual, SessionExpired, ToolError
from lti_tool.keys import ToolKey
from lti_tool.launch import claims as c
from lti_tool.launch.context import decide_role
from lti_tool.launch.services import ACTIVITY_PARAM
from lti_tool.launch.tool_config import tool_urls
from lti_tool.launch.wiring import signing_keys
from lti_tool.models import LaunchRecord, Platform
from lti_tool.page_token import EXPIRED, Viewer, require_viewer

bp = Blueprint("deep_linking", __name__)

LEVEL = "level"
FIELD = "activity"
LINE_ITEM_TAG = "sexto-architect"
SCORE_MAXIMUM = 100
DL_MSG = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"


# Back to the picker (GET, with the fresh page token): the choice is made again there.
PICK_AGAIN = Action(Bilingual("Retour au choix des activités", "Back to the choice of activities"),
                    endpoint="deep_linking.picker")


class DeepLinkingRefused(ToolError):
    code = "deep_linking_refused"
    title = Bilingual("Choix d'activité refusé", "Activity choice refused")


# Shown when the request was already answered: both languages, the page's own first.
ANSWERED_TITLE = Bilingual("Choix déjà envoyé à votre cours",
                           "Choice already sent to your course")
ANSWERED = Bilingual(
    "Le choix fait dans ce sélecteur a déjà été envoyé à votre cours : un sélecteur ne peut "
    "répondre qu'une fois. Rien d'autre n'a été envoyé.",
    "The choice made in this picker was already sent to your course: a picker can answer only "
    "once. Nothing else was sent.")
ANSWERED_NEXT = Bilingual(
    "Pour ajouter une autre activité, fermez cette fenêtre, puis rouvrez le sélecteur depuis "
    "votre cours (« Ajouter une activité » ou l'outil SEXTO dans la liste des activités).",
    "To add another activity, close this window, then open the picker again from your course "
    "(“Add an activity” or the SEXTO tool in the list of activities).")


# -- what can be chosen ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Offer:
    id: str  # "level" or a case id: the `sexto_activity` custom parameter
    title: str  # the link's and the gradebook column's title in the LMS
    summary: str


def offers(level: Level, lang: str) -> list[Offer]:
    """The whole level first, then each case in play order."""
    choices = [Offer(LEVEL, level.title.get(lang),
                     gettext("The three cases, then the three reflection questions."))]
    for number, (case_id, case) in enumerate(level.cases.items(), start=1):
        choices.append(Offer(
            case_id,
            gettext("%(level)s — Case %(number)d: %(title)s", level=level.title.get(lang),
                    number=number, title=case.title.get(lang)),
            case.subtitle.get(lang)))
    return choices


def _level() -> Level:
    from lti_tool.cases.loader import get_level  # content loads on first use, not at create_app

    return get_level(current_app.extensions["settings"].content_dir)


# -- the launch this page answers ------------------------------------------------------------------
@dataclass(frozen=True)
class DeepLinkingLaunch:
    issuer: str
    client_id: str
    deployment_id: str
    settings: dict[str, Any]
    key_set: str | None = None  # the registration's own signing keys; None: the shared tool key
    answered: bool = False  # a response was already signed for this request

    @property
    def return_url(self) -> str:
        return str(self.settings["deep_link_return_url"])

    @property
    def accept_multiple(self) -> bool:
        value = self.settings.get("accept_multiple")
        return value is True or value == "true"

    @property
    def title(self) -> str | None:
        value = self.settings.get("title")
        return value if isinstance(value, str) and value else None


def load_launch(viewer: Viewer) -> DeepLinkingLaunch:
    """The server-side record of this viewer's deep-linking launch, checked."""
    session = get_session()
    record = session.get(LaunchRecord, viewer.launch_id)
    if (record is None or record.learner_id != viewer.learner_id
            or record.platform_id != viewer.platform_id):
        raise AccessDenied(Bilingual("Ce lancement ne vous appartient pas.",
                                     "This launch does not belong to you."),
                           hint=Bilingual("Relancez la sélection d'activité depuis votre cours.",
                                          "Start the activity selection again from your course."),
                           detail=f"launch record {viewer.launch_id!r} missing or not the viewer's")
    if record.expires_at <= utcnow():
        raise SessionExpired(EXPIRED, detail="deep-linking launch record expired")
    claims = record.claims
    if record.message_type != c.DEEP_LINKING_REQUEST:
        raise DeepLinkingRefused(
            Bilingual("Cette page sert à choisir une activité : ouvrez-la avec « Ajouter une "
                      "activité » depuis votre cours.",
                      "This page is for choosing an activity: open it with \u201cAdd an "
                      "activity\u201d from your course."),
            detail=f"launch {record.id} is a {record.message_type}", code="not_deep_linking")
    roles = claims.get(c.ROLES)
    role = decide_role(roles if isinstance(roles, list) else [])
    if not viewer.is_instructor or role != "instructor":
        raise AccessDenied(Bilingual("Seule une personne formatrice ou enseignante peut choisir "
                                     "l'activité à ajouter au cours.",
                                     "Only an instructor can choose the activity to add to the "
                                     "course."),
                           detail="deep linking by a non-instructor", code="instructor_only")
    settings = claims.get(c.DL_SETTINGS)
    if not isinstance(settings, dict) or not isinstance(settings.get("deep_link_return_url"), str):
        raise DeepLinkingRefused(Bilingual("La plateforme n'a pas dit où renvoyer le choix.",
                                           "The platform did not say where to return the choice."),
                                 detail="deep_linking_settings without deep_link_return_url",
                                 code="no_return_url")
    if "ltiResourceLink" not in (settings.get("accept_types") or ()):
        raise DeepLinkingRefused(Bilingual("Cette plateforme n'accepte pas de lien d'activité ici.",
                                           "This platform accepts no activity link here."),
                                 detail=f"accept_types {settings.get('accept_types')!r}",
                                 code="links_not_accepted")
    platform = session.get(Platform, record.platform_id)
    assert platform is not None  # the record's foreign key cascades on delete
    return DeepLinkingLaunch(issuer=platform.issuer, client_id=platform.client_id,
                             deployment_id=str(claims[c.DEPLOYMENT_ID]), settings=settings,
                             key_set=platform.key_set, answered=record.answered_at is not None)


_records = cast(Table, LaunchRecord.__table__)
_CLAIM = (update(_records)
          .where(_records.c.id == bindparam("b_id"), _records.c.answered_at.is_(None))
          .values(answered_at=bindparam("b_now")))


def claim_response(session: Session, launch_id: str) -> bool:
    """Marks the launch answered; True for the one request that did. One conditional UPDATE:
    on PostgreSQL a concurrent one waits for the row lock and then finds the mark; on SQLite the
    second writer waits for the first to commit (busy timeout) and finds it too. The request's
    commit keeps the mark only with the response (a refusal rolls both back)."""
    result = session.execute(_CLAIM, {"b_id": launch_id, "b_now": utcnow()})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def chosen(form_values: list[str], available: list[Offer], accept_multiple: bool) -> list[Offer]:
    """The offers picked, in the order offered; refuses what was not offered."""
    by_id = {o.id: o for o in available}
    picked = list(dict.fromkeys(form_values))
    if not picked:
        raise DeepLinkingRefused(Bilingual("Choisissez au moins une activité.",
                                           "Choose at least one activity."),
                                 hint=Bilingual("Revenez à la liste des activités, cochez-en au "
                                                "moins une, puis choisissez « Ajouter au cours ».",
                                                "Go back to the list of activities, tick at least "
                                                "one, then choose “Add to the course”."),
                                 detail="no activity chosen", code="nothing_chosen",
                                 action=PICK_AGAIN)
    unknown = [v for v in picked if v not in by_id]
    if unknown:
        raise DeepLinkingRefused(Bilingual("Cette activité n'est pas offerte.",
                                           "This activity is not offered."),
                                 detail=f"unknown activities {unknown[:5]!r}",
                                 code="unknown_activity", action=PICK_AGAIN)
    if len(picked) > 1 and not accept_multiple:
        raise DeepLinkingRefused(Bilingual("La plateforme n'accepte qu'une activité à la fois.",
                                           "The platform accepts only one activity at a time."),
                                 detail=f"{len(picked)} activities but accept_multiple is false",
                                 code="single_only", action=PICK_AGAIN)
    return [o for o in available if o.id in picked]


# -- the response ----------------------------------------------------------------------------------
class _ToolKeyRegistration(Registration):
    """pylti1p3's Registration, signing with our current key under its RFC 7638 kid (the one our
    JWKS publishes) instead of the kid the library would derive from a public PEM."""

    def __init__(self, key: ToolKey) -> None:
        super().__init__()
        self._kid = key.kid
        pem = key.private_key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
        self.set_tool_private_key(pem.decode("ascii"))

    def get_kid(self) -> str:
        return self._kid


class _Resource(DeepLinkResource):
    """DeepLinkResource with the optional `text` of an ltiResourceLink (DL 2.0 §3.4.1)."""

    _text: str | None = None

    def set_text(self, value: str) -> _Resource:
        self._text = value
        return self

    def to_dict(self) -> dict[str, object]:
        item = super().to_dict()
        if self._text:
            item["text"] = self._text
        return item


def content_items(picked: list[Offer], launch_url: str) -> list[DeepLinkResource]:
    items: list[DeepLinkResource] = []
    for offer in picked:
        line_item = (LineItem().set_score_maximum(SCORE_MAXIMUM).set_label(offer.title)
                     .set_resource_id(offer.id).set_tag(LINE_ITEM_TAG))
        items.append(_Resource().set_text(offer.summary).set_title(offer.title)
                     .set_url(launch_url).set_custom_params({ACTIVITY_PARAM: offer.id})
                     .set_lineitem(line_item))
    return items


def response_jwt(launch: DeepLinkingLaunch, items: list[DeepLinkResource], key: ToolKey,
                 msg: str | None = None) -> str:
    """The signed LtiDeepLinkingResponse: iss = client_id, aud = platform issuer, the request's
    `data` echoed when it had one (DL 2.0 §4.2)."""
    registration = (_ToolKeyRegistration(key).set_issuer(launch.issuer)
                    .set_client_id(launch.client_id))
    settings: Any = launch.settings  # the platform's claim, a superset of TDeepLinkData
    deep_link = DeepLink(registration, launch.deployment_id, settings)
    message = deep_link.get_message_jwt(items)
    if "data" not in launch.settings:
        message.pop(c.DL_DATA, None)  # the library writes null; the claim is only an echo
    if msg:
        message[DL_MSG] = msg
    return str(deep_link.encode_jwt(message))


# -- views -----------------------------------------------------------------------------------------
@bp.route("/lti/deep-linking", methods=["GET", "POST"])
@require_viewer
def picker() -> Any:
    viewer: Viewer = g.viewer
    launch = load_launch(viewer)
    lang = g.locale
    if launch.answered:
        return _answered(200 if request.method == "GET" else 409)
    available = offers(_level(), lang)
    if request.method == "GET":
        # no-store: Back from the platform fetches the picker again, which then says it answered.
        return _no_store(Response(render_template(
            "launch/deep_linking.html", offers=available, multiple=launch.accept_multiple,
            field=FIELD, platform_title=launch.title,
            action=url_for("deep_linking.picker", lang=lang))))
    picked = chosen(request.form.getlist(FIELD), available, launch.accept_multiple)
    items = content_items(picked, tool_urls().launch)
    # No ngettext: one message for any count keeps the catalogue free of plural forms.
    msg = gettext("SEXTO activities added: %(count)d.", count=len(picked))
    # Signed for this registration only: its key set verifies nothing sent to another platform.
    token = response_jwt(launch, items, signing_keys(launch.key_set).current(), msg)
    if not claim_response(get_session(), viewer.launch_id):
        return _answered(409)  # a concurrent submit answered first
    return _no_store(Response(render_template("launch/deep_linking_response.html",
                                              return_url=launch.return_url, jwt=token,
                                              picked=picked)))


def _answered(status: int) -> Any:
    """The page for a request already answered: the page's language first, then the other."""
    order = ("fr", "en") if g.locale == "fr" else ("en", "fr")
    parts = [{"lang": lang, "title": getattr(ANSWERED_TITLE, lang),
              "message": getattr(ANSWERED, lang), "next": getattr(ANSWERED_NEXT, lang)}
             for lang in order]
    response = Response(render_template("launch/deep_linking_answered.html", parts=parts),
                        status=status)
    return _no_store(response)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
