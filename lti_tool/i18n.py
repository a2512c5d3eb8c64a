"""French (Quebec) first, English second. The page language comes from the launch
(`launch_presentation.locale`: fr, fr-CA, en-*), can be switched on every page, and defaults to fr.

UI strings go through gettext (Flask-Babel); msgids are English, French lives in
`lti_tool/translations/fr/LC_MESSAGES/messages.po` (compiled .mo committed beside it; a test checks
they agree). Case content carries both languages itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, g, request
from flask_babel import Babel
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

LANGS = ("fr", "en")
LABELS = {"fr": "Français", "en": "English"}


def current_lang() -> str:
    lang = getattr(g, "locale", None)
    if lang in LANGS:
        return lang  # type: ignore[no-any-return]
    asked = request.args.get("lang") if request else None
    return asked if asked in LANGS else "fr"


def translation_dirs(app: Flask) -> list[str]:
    root = Path(app.root_path)
    return [str(p.parent) for p in sorted(root.glob("**/translations/fr"))] or [str(root / "translations")]


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "fr")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_dirs(app))
    Babel(app, locale_selector=current_lang)
    _install_fast_gettext(app)

    @app.context_processor
    def _lang_context() -> dict[str, Any]:
        lang = current_lang()
        other = "en" if lang == "fr" else "fr"
        switch = None
        if request.endpoint and request.method == "GET" and getattr(g, "page_token", None):
            args = {k: v for k, v in request.args.items() if k not in ("lang", "t")}
            from flask import url_for

            values: dict[str, Any] = {**(request.view_args or {}), **args, "lang": other,
                                      "t": g.page_token}
            switch = url_for(request.endpoint, **values)
        return {
            "page_lang": lang,
            "other_lang": other,
            "other_lang_label": LABELS[other],
            "lang_switch_url": switch,
        }


def _install_fast_gettext(app: Flask) -> None:
    """Template gettext through a per-process catalogue per language.

    Flask-Babel's template callables resolve the request's translations on every string (several
    context-local lookups each); a page has dozens of strings and this showed as ~10 % of a page's
    CPU. The catalogues are the same ones Flask-Babel loads (all `**/translations` dirs, merged).
    """
    from flask_babel import get_translations

    catalogues: dict[str, Any] = {}

    def catalogue() -> Any:
        lang = current_lang()
        found = catalogues.get(lang)
        if found is None:
            found = catalogues[lang] = get_translations()
        return found

    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: catalogue().ugettext(s),
        ngettext=lambda s, p, n: catalogue().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalogue().unpgettext(c, s, p, n),
    )

    # `_` and `gettext` as Jinja's newstyle gettext does them, but given the evaluation context
    # only: Jinja's own take the whole template context, and inside a loop or a block holding a
    # `{% set %}` every call then copies that context first (a third of a page's gettext cost).
    @pass_eval_context
    def gettext(eval_ctx: EvalContext, string: str, **variables: Any) -> str:
        text = catalogue().ugettext(string)
        if eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - a msgstr of our catalogue; `variables` are escaped
        return text % variables  # type: ignore[no-any-return]

    app.jinja_env.globals.update(_=gettext, gettext=gettext)
