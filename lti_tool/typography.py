"""French punctuation spacing at render time, in one place: a Jinja `finalize` that every `{{ … }}`
of a French page goes through (translated strings, bilingual messages, labels built in Python).

The rule is the content loader's (lti_tool/cases/loading/typography.py, Quebec usage): a no-break
space (U+00A0) before « : » and inside « guillemets », a narrow no-break space (U+202F) before
« ? », « ! » and « ; ». At render time the text is not prose only, so the rule is stricter there:

- `? ! ;` get their space only when they end a word (followed by a space, the end, or a closing
  sign): `/level?t=…`, `a!=b` and `&amp;` are left alone; `:` only when a space, « » » or the end
  follows (`https://`, `10:15` are left alone).
- Markup (translated strings are Markup): only the text between tags and entities is touched, and
  nothing inside <code>, <pre>, <textarea>, <script> or <style>; attributes never.
- `{{ value|verbatim }}` opts out (what a learner typed, echoed in a form field, must come back as
  typed); `{{ value|typeset("en") }}` sets a passage in another language than the page's.

Applying it twice changes nothing, so the NBSP the .po files already carry are harmless.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from flask import Flask, g, has_app_context, has_request_context
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from lti_tool.cases.loading.typography import NBSP, NNBSP, english

_SPACES = "[ \u00a0\u202f]"
# Anything the rule could change: most values (ids, tokens, numbers) have none and return at once.
_CANDIDATE = re.compile("[:;!?«»]")
_AFTER_OPENING = re.compile(rf"«{_SPACES}*")
_BEFORE_CLOSING = re.compile(rf"{_SPACES}*»")
_BEFORE_COLON = re.compile(rf"(?<=[^\s\u00a0\u202f]){_SPACES}*:(?=[\s\u00a0\u202f»]|$)")
# `?`, `!`, `;` closing a word: a space, the end or a closing sign after the run of signs.
_BEFORE_QUESTION = re.compile(
    rf"(?<=[^\s\u00a0\u202f?!;]){_SPACES}*(?=[?!;]+(?:[\s\u00a0\u202f»)\]\"'’”.,…]|$))")
# Markup is split into tags, entities and text; only text is typeset.
_TOKENS = re.compile(r"(<[^>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);)")
_RAW_ELEMENTS = ("code", "pre", "textarea", "script", "style")
_OPEN_OR_CLOSE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")


# Memoised, both: a French page's candidates are mostly the same translated sentences on every
# visit (the level home typesets ~40 a render, four regex passes each). Pure functions of the text,
# bounded; `typed` keeps a str and an equal Markup apart (they must come back as they came).
@lru_cache(maxsize=4096, typed=True)
def french(text: str) -> str:
    """The render-time French rule on plain text; idempotent."""
    if not _CANDIDATE.search(text):
        return text
    text = _AFTER_OPENING.sub("«" + NBSP, text)
    text = _BEFORE_CLOSING.sub(NBSP + "»", text)
    text = _BEFORE_COLON.sub(NBSP + ":", text)
    return _BEFORE_QUESTION.sub(NNBSP, text)


@lru_cache(maxsize=4096, typed=True)
def french_markup(markup: Markup) -> Markup:
    """The rule on the text of an HTML fragment: tags, attributes, entities and raw elements kept."""
    source = str(markup)
    if not _CANDIDATE.search(source):
        return markup
    parts = _TOKENS.split(source)
    raw: list[str] = []  # the raw elements open at this point
    for i, part in enumerate(parts):
        if i % 2:  # a tag or an entity
            tag = _OPEN_OR_CLOSE.match(part)
            if tag is None:
                continue
            closing, name = tag.group(1) == "/", tag.group(2).lower()
            if name in _RAW_ELEMENTS:
                if not closing and not part.endswith("/>"):
                    raw.append(name)
                elif closing and name in raw:
                    del raw[len(raw) - 1 - raw[::-1].index(name):]
        elif part and not raw:
            parts[i] = french(part)
    return Markup("".join(parts))  # noqa: S704 - the same safe HTML, no-break spaces added


class Verbatim(str):
    """A string the page outputs as it is (escaped as usual, never typeset)."""

    __slots__ = ()


class VerbatimMarkup(Markup):
    """Markup the page outputs as it is."""

    __slots__ = ()


def typeset(value: Any, lang: str) -> Any:
    """`value` set by the rule of `lang` ("fr" or "en"), marked done so the page's rule leaves it."""
    if isinstance(value, (Verbatim, VerbatimMarkup)) or not isinstance(value, str):
        return value
    if isinstance(value, Markup):
        return VerbatimMarkup(french_markup(value) if lang == "fr" else value)
    return Verbatim(french(value) if lang == "fr" else english(value))


def verbatim(value: Any) -> Any:
    if isinstance(value, Markup):
        return VerbatimMarkup(value)
    return Verbatim(value) if isinstance(value, str) else value


def _french_page() -> bool:
    if not has_request_context():
        # Outside a request, only a page whose language was set says French: the launch's hot
        # path renders a page's "signed in" line in an app context (cases/blank_home.py).
        return has_app_context() and g.get("locale") == "fr"
    from lti_tool.i18n import current_lang

    return current_lang() == "fr"


@pass_eval_context  # a runtime argument: Jinja never folds constants through it at compile time
def finalize(eval_ctx: EvalContext, value: Any) -> Any:
    """Jinja's `finalize`: every `{{ … }}` of a French page gets the rule. Numbers, None, Verbatim,
    VerbatimMarkup and text the rule would not change return at once."""
    cls = type(value)
    if (cls is str or cls is Markup) and _CANDIDATE.search(value) and _is_french(eval_ctx):
        return french(value) if cls is str else french_markup(value)
    return value


def _is_french(eval_ctx: EvalContext) -> bool:
    """The page's language, asked once per render: the evaluation context is Jinja's per-render
    state, open to attributes of extensions (a page has a hundred values or so)."""
    found: bool | None = getattr(eval_ctx, "typography_french", None)
    if found is None:
        found = eval_ctx.typography_french = _french_page()  # type: ignore[attr-defined]
    return found


def init_app(app: Flask) -> None:
    app.jinja_env.finalize = finalize
    app.jinja_env.filters["verbatim"] = verbatim
    app.jinja_env.filters["typeset"] = typeset
