"""French (Quebec) punctuation spacing, applied in one place: the loader passes every content text
through `text_for(lang, ...)` when it builds the model, so authors may type an ordinary space, or
none, and learners always read the same rule.

The rule (Quebec usage, as the Office québécois de la langue française's Banque de dépannage
linguistique describes it): a no-break space (U+00A0) before « : » and inside
« guillemets »; before « ? », « ! » and « ; » no full space, but a narrow no-break space (U+202F),
which keeps the sign on the line of its word. English takes no space before these signs.
"""

from __future__ import annotations

import re

NBSP = "\u00a0"
NNBSP = "\u202f"
_SPACES = "[ \u00a0\u202f]"

# `?`, `!`, `;` after a word (or a closing sign): any spacing becomes one narrow no-break space.
_BEFORE_QUESTION = re.compile(rf"(?<=[^\s\u00a0\u202f?!;]){_SPACES}*(?=[?!;])")
# A French colon is followed by a space or ends the text; 10:15 or https:// are left alone.
_BEFORE_COLON = re.compile(rf"(?<=[^\s\u00a0\u202f]){_SPACES}*:(?=[\s\u00a0\u202f»]|$)")
_AFTER_OPENING = re.compile(rf"«{_SPACES}*")
_BEFORE_CLOSING = re.compile(rf"{_SPACES}*»")
_ENGLISH_BEFORE = re.compile(rf"{_SPACES}+(?=[?!;:])")


def french(text: str) -> str:
    """The French rule; idempotent."""
    text = _AFTER_OPENING.sub("«" + NBSP, text)
    text = _BEFORE_CLOSING.sub(NBSP + "»", text)
    text = _BEFORE_COLON.sub(NBSP + ":", text)
    return _BEFORE_QUESTION.sub(NNBSP, text)


def english(text: str) -> str:
    """No space before ? ! ; : in English; idempotent."""
    return _ENGLISH_BEFORE.sub("", text)


def text_for(lang: str, text: str) -> str:
    return french(text) if lang == "fr" else english(text)
