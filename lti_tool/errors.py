"""Typed errors that become clear pages of the app, and the one place that renders them.

Every refusal is a 4xx page inside the app's chrome (base.html), in the learner's language first
(the session's, then `?lang`, the page token's or the launch's locale, then the browser's
Accept-Language), with the other language one link away, and ONE clear action: the refusal's own
(`ToolError(action=…)`), else back to the level (or the instructor page) when the session is valid,
else "open the activity again from your course".

What only an administrator can act on (`admin=`: the exact command, the registration's ids) is shown
to instructors and on pages administrators use (dynamic registration); anyone else gets a short
reference, printed on the page and logged with those details, to hand to whoever runs the tool.
Every page has a reference; the log has the technical detail; nothing shows a stack trace. A 5xx
is a bug.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, g, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError

log = logging.getLogger("lti_tool.errors")

LANGS = ("fr", "en")


@dataclass(frozen=True)
class Bilingual:
    fr: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


@dataclass(frozen=True)
class Action:
    """What the page offers to do next: a link (`url`, or `endpoint` resolved when the page is
    rendered, with the request's view arguments and the fresh page token), or, with neither, an
    instruction (e.g. "open the activity again from your course")."""

    label: Bilingual
    url: str | None = None
    endpoint: str | None = None


class ToolError(Exception):
    """A refusal the user can understand. `detail` is for the log only; `admin` is for
    administrators (instructors, the registration page) and the log; `action` is the page's one
    next step (a default is chosen when there is none)."""

    status = 400
    code = "bad_request"
    title = Bilingual("Demande refusée", "Request refused")
    action: Action | None = None
    # "administrator": the page is one an administrator uses (dynamic registration), so the
    # administrator's details are shown to whoever sees it.
    audience = "learner"

    def __init__(
        self,
        message: Bilingual,
        *,
        hint: Bilingual | None = None,
        detail: str = "",
        status: int | None = None,
        code: str | None = None,
        title: Bilingual | None = None,
        action: Action | None = None,
        admin: Bilingual | None = None,
    ) -> None:
        super().__init__(detail or message.en)
        self.message = message
        self.hint = hint
        self.admin = admin
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        if action is not None:
            self.action = action


class LaunchRefused(ToolError):
    title = Bilingual("Lancement refusé", "Launch refused")


class AccessDenied(ToolError):
    status = 403
    code = "forbidden"
    title = Bilingual("Accès refusé", "Access denied")


REOPEN = Action(Bilingual("Rouvrez l'activité depuis votre cours.",
                          "Open the activity again from your course."))


class SessionExpired(ToolError):
    status = 401
    code = "session_expired"
    title = Bilingual("Session expirée", "Session expired")
    action = REOPEN

    def __init__(self, message: Bilingual, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        if self.code == "bad_token" and "title" not in kwargs:
            # An altered or truncated link is not an expired session.
            self.title = Bilingual("Lien de session invalide", "Invalid session link")


class NoSession(SessionExpired):
    """A tool page opened without any session (a bookmark, a copied address, a new tab): there
    never was a session to expire."""

    code = "no_session"
    title = Bilingual("Ouvrez cette activité depuis votre cours",
                      "Open this activity from your course")


NO_SESSION = Bilingual(
    "Cette page fait partie d'une activité de votre cours : elle s'ouvre depuis le cours, qui "
    "vous y connecte.",
    "This page belongs to an activity of your course: it opens from the course, which signs you "
    "in.")


@dataclass
class ErrorPage:
    status: int
    code: str
    title: Bilingual
    message: Bilingual
    hint: Bilingual | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    action: Action | None = None
    admin: Bilingual | None = None
    audience: str = "learner"
    reference: str = ""


GENERIC = {
    404: (
        Bilingual("Page introuvable", "Page not found"),
        Bilingual(
            "Cette adresse n'existe pas dans l'outil.", "This address does not exist in the tool."
        ),
    ),
    405: (
        Bilingual("Méthode non permise", "Method not allowed"),
        Bilingual(
            "Cette page ne s'ouvre pas de cette façon. Relancez l'activité depuis votre cours.",
            "This page cannot be opened this way. Launch the activity again from your course.",
        ),
    ),
    413: (
        Bilingual("Envoi trop volumineux", "Request too large"),
        Bilingual("Les données envoyées sont trop volumineuses.", "The data sent is too large."),
    ),
}

BACK_TO_LEVEL = Bilingual("Retour à l'accueil du niveau", "Back to the level home")
BACK_TO_INSTRUCTOR = Bilingual("Retour à la page enseignant", "Back to the instructor page")
TELL_ADMIN = Bilingual(
    "Un réglage de l'outil ou de la plateforme doit être fait par un administrateur ou une "
    "administratrice. Signalez-le à votre enseignant ou enseignante en donnant la référence "
    "ci-dessous.",
    "A setting of the tool or the platform must be made by an administrator. Tell your "
    "instructor, giving the reference below.")

_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed back


def new_reference() -> str:
    """A short reference printed on the page and logged with the refusal's details."""
    raw = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))
    return f"{raw[:3]}-{raw[3:]}"


# -- the page's language --------------------------------------------------------------------------
def browser_lang() -> str | None:
    """The browser's preferred language among ours (Accept-Language), if it names one."""
    best = request.accept_languages.best_match(LANGS)
    return best if best in LANGS else None


def _form(name: str) -> str | None:
    """A form field of the refused request, if it has a readable form (never re-raises: a 413's
    body is not read again)."""
    if request.method != "POST":
        return None
    try:
        value = request.form.get(name)
    except Exception:  # noqa: BLE001 - the body is what was refused; the page still renders
        return None
    return value if isinstance(value, str) else None


def _token_locale() -> str | None:
    """The locale a page token carries, read without trusting it (expired, or refused for another
    reason): it only picks the language of the page that says so."""
    from lti_tool import page_token

    token = request.args.get("t") or _form("t") or request.headers.get(page_token.HEADER)
    return page_token.unverified_locale(token) if token else None


def _launch_locale() -> str | None:
    """The launch's locale, read (unverified) from the id_token a refused launch carried: the page
    only speaks the learner's language with it."""
    from lti_tool.launch import claims, id_token

    token = _form("id_token")
    if not token:
        return None
    try:
        body = id_token.parse(token).body
    except id_token.TokenFormatError:
        return None
    presentation = body.get(claims.LAUNCH_PRESENTATION)
    locale = presentation.get("locale") if isinstance(presentation, dict) else body.get("locale")
    if not isinstance(locale, str) or not locale:
        return None
    return "en" if locale.lower().startswith("en") else "fr" if locale.lower().startswith("fr") \
        else None


def error_lang() -> str:
    """The language of an error page: the session's, `?lang`, the token's or the launch's locale,
    the browser's; French by default."""
    for lang in (getattr(g, "locale", None), request.args.get("lang")):
        if lang in LANGS:
            return str(lang)
    return _token_locale() or _launch_locale() or browser_lang() or "fr"


def _switch_url(other: str) -> str | None:
    """The same address in the other language (a GET shows the same refusal again); None for a
    POST, whose page carries the other language itself."""
    if request.method != "GET":
        return None
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"] + [("lang", other)]
    return f"{request.path}?{urlencode(args)}"


# -- the page's one action ----------------------------------------------------------------------------
def _resolve(action: Action) -> tuple[Bilingual, str | None] | None:
    if action.url or not action.endpoint:
        return action.label, action.url
    token = getattr(g, "page_token", None)
    values: dict[str, Any] = dict(request.view_args or {})
    if token:
        values["t"] = token
    try:
        return action.label, url_for(action.endpoint, **values)
    except BuildError:  # the endpoint needs what this request does not name: the default then
        return None


def _action_for(page: ErrorPage, admin_hidden: bool) -> tuple[Bilingual, str | None] | None:
    if page.action is not None:
        resolved = _resolve(page.action)
        if resolved is not None:
            return resolved
    viewer = getattr(g, "viewer", None)
    token = getattr(g, "page_token", None)
    if viewer is not None and token:
        if viewer.is_instructor:
            return BACK_TO_INSTRUCTOR, url_for("grading.roster", t=token)
        return BACK_TO_LEVEL, url_for("cases.level_home", t=token)
    if admin_hidden:
        return None  # the reference to hand over is the action
    if page.audience == "administrator":
        return None
    return REOPEN.label, None


# -- rendering -----------------------------------------------------------------------------------------
def render_error(page: ErrorPage) -> tuple[str, int]:
    lang = error_lang()
    if getattr(g, "locale", None) != lang:
        g.locale = lang
        from flask_babel import refresh

        refresh()  # Flask-Babel may have cached another locale for this request
    other = "en" if lang == "fr" else "fr"
    viewer = getattr(g, "viewer", None)
    show_admin = page.admin is not None and (
        page.audience == "administrator" or (viewer is not None and viewer.is_instructor))
    admin_hidden = page.admin is not None and not show_admin
    html = render_template(
        "error.html", page=page, lang=lang, other=other, switch_url=_switch_url(other),
        action=_action_for(page, admin_hidden), show_admin=show_admin,
        admin_hidden=admin_hidden, tell_admin=TELL_ADMIN)
    return html, page.status


def _log_refusal(page: ErrorPage, detail: str) -> None:
    """One line per refusal, ending with `ref=` (a logfmt field): what the page's reference finds,
    with the administrator's details the page may not have shown."""
    admin = f" | admin: {page.admin.en}" if page.admin else ""
    log.warning("refused %s %s: %s [%s] %s%s ref=%s", request.method, request.path, page.code,
                page.status, detail, admin, page.reference)


def tool_error_response(exc: ToolError, *, audience: str | None = None,
                        default_action: Action | None = None) -> tuple[str, int]:
    """The page of a refusal (logged with its reference). A blueprint whose pages administrators
    use passes `audience="administrator"` and its own default action."""
    page = ErrorPage(exc.status, exc.code, exc.title, exc.message, exc.hint,
                     action=exc.action or default_action, admin=exc.admin,
                     audience=audience or exc.audience, reference=new_reference())
    _log_refusal(page, exc.detail or exc.message.en)
    return render_error(page)


def init_app(app: Flask) -> None:
    @app.errorhandler(ToolError)
    def _tool_error(exc: ToolError) -> tuple[str, int]:
        return tool_error_response(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        title, message = GENERIC.get(
            status,
            (
                Bilingual("Demande refusée", "Request refused"),
                Bilingual(
                    "La demande n'a pas pu être traitée.", "The request could not be processed."
                ),
            ),
        )
        page = ErrorPage(status, f"http_{status}", title, message, reference=new_reference())
        log.info("http %s %s %s ref=%s", status, request.method, request.path, page.reference)
        return render_error(page)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[str, int]:
        page = ErrorPage(
            500,
            "internal",
            Bilingual("Erreur interne", "Internal error"),
            Bilingual(
                "Une erreur imprévue s'est produite. Rien de ce que vous aviez enregistré n'est "
                "perdu. Réessayez dans un instant.",
                "An unexpected error occurred. Nothing you had saved is lost. Try again in a "
                "moment.",
            ),
            Bilingual(
                "L'erreur est consignée dans le journal de l'outil.",
                "The error is recorded in the tool's log.",
            ),
            reference=new_reference(),
        )
        log.exception("unexpected error on %s %s ref=%s", request.method, request.path,
                      page.reference)
        try:
            return render_error(page)
        except Exception:  # noqa: BLE001 - the page itself failed: a plain answer, still no trace
            log.exception("the error page failed ref=%s", page.reference)
            return (f"Erreur interne / Internal error ({page.reference})", 500)
