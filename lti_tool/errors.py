"""Typed errors that become clear, bilingual pages, and the one place that renders them.

Every refusal is a 4xx with a page saying, in French and English, what went wrong and what the
administrator can do; the log gets the technical details; nothing shows a stack trace. A 5xx is a bug.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("lti_tool.errors")


@dataclass(frozen=True)
class Bilingual:
    fr: str
    en: str


class ToolError(Exception):
    """A refusal the user can understand. `detail` is for the log only."""

    status = 400
    code = "bad_request"
    title = Bilingual("Demande refusée", "Request refused")

    def __init__(
        self,
        message: Bilingual,
        *,
        hint: Bilingual | None = None,
        detail: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail or message.en)
        self.message = message
        self.hint = hint
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class LaunchRefused(ToolError):
    title = Bilingual("Lancement refusé", "Launch refused")


class AccessDenied(ToolError):
    status = 403
    code = "forbidden"
    title = Bilingual("Accès refusé", "Access denied")


class SessionExpired(ToolError):
    status = 401
    code = "session_expired"
    title = Bilingual("Session expirée", "Session expired")


@dataclass
class ErrorPage:
    status: int
    code: str
    title: Bilingual
    message: Bilingual
    hint: Bilingual | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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


def render_error(page: ErrorPage) -> tuple[str, int]:
    return render_template("error.html", page=page), page.status


def init_app(app: Flask) -> None:
    @app.errorhandler(ToolError)
    def _tool_error(exc: ToolError) -> tuple[str, int]:
        log.warning(
            "refused %s %s: %s [%s] %s",
            request.method,
            request.path,
            exc.code,
            exc.status,
            exc.detail or exc.message.en,
        )
        return render_error(ErrorPage(exc.status, exc.code, exc.title, exc.message, exc.hint))

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
        log.info("http %s %s %s", status, request.method, request.path)
        return render_error(ErrorPage(status, f"http_{status}", title, message))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return render_error(
            ErrorPage(
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
            )
        )
