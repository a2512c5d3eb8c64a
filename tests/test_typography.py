"""French spacing at render time (lti_tool/typography.py): the rule, what it must never touch, and
the Jinja finalize that applies it to every `{{ … }}` of a French page and of no English one."""

from __future__ import annotations

from typing import Any

import pytest
from flask import render_template_string
from markupsafe import Markup

from lti_tool.cases.loading.typography import NBSP, NNBSP
from lti_tool.typography import french, french_markup


@pytest.mark.parametrize(("raw", "expected"), [
    ("Attention : un échange", f"Attention{NBSP}: un échange"),
    ("Note :", f"Note{NBSP}:"),
    ("Il dit « non » ici", f"Il dit «{NBSP}non{NBSP}» ici"),
    ("«non»", f"«{NBSP}non{NBSP}»"),
    ("Que faites-vous ?", f"Que faites-vous{NNBSP}?"),
    ("Vraiment?!", f"Vraiment{NNBSP}?!"),
    ("Attention ! Maintenant", f"Attention{NNBSP}! Maintenant"),
    ("une chose ; une autre", f"une chose{NNBSP}; une autre"),
    ("Pourquoi ?)", f"Pourquoi{NNBSP}?)"),
    # left alone: addresses, times, code-like text, signs that do not close a word
    ("https://tool.example/level?t=abc&lang=fr", "https://tool.example/level?t=abc&lang=fr"),
    ("à 10:15", "à 10:15"),
    ("a!=b", "a!=b"),
    ("mailto:x@example.org", "mailto:x@example.org"),
    ("SEXTO — Niveau Architecte", "SEXTO — Niveau Architecte"),
])
def test_the_french_rule(raw: str, expected: str) -> None:
    assert french(raw) == expected
    assert french(expected) == expected  # idempotent: the .po files' own NBSP are harmless


def test_markup_text_only_never_tags_attributes_entities_or_code() -> None:
    source = Markup(
        '<a href="https://x.example/p?q=1" title="a : b">Voir : ici</a> &amp; puis &#39;x&#39; y ; '
        "<code>key: value ; x ?</code> <pre>a : b</pre> <textarea>Pourquoi ?</textarea> fin ?")
    out = french_markup(source)
    assert isinstance(out, Markup)
    assert out == Markup(
        f'<a href="https://x.example/p?q=1" title="a : b">Voir{NBSP}: ici</a> &amp; puis '
        f"&#39;x&#39; y{NNBSP}; <code>key: value ; x ?</code> <pre>a : b</pre> "
        f"<textarea>Pourquoi ?</textarea> fin{NNBSP}?")
    assert "&amp;" in out and "&amp" + NNBSP not in out  # entities intact


def _render(app: Any, source: str, lang: str, **values: Any) -> str:
    with app.test_request_context(f"/?lang={lang}"):
        return render_template_string(source, **values)


def test_every_expression_of_a_french_page_and_none_of_an_english_one(app: Any) -> None:
    source = ("<p>{{ text }}</p><p>{{ _('Reference: %(ref)s', ref='ABC-234') }}</p>"
              "<a href=\"{{ url }}\">{{ label }}</a>")
    values = {"text": "Attention : « cas » ?", "url": "https://x.example/level?t=a:b",
              "label": "Retour !"}
    fr = _render(app, source, "fr", **values)
    assert f"Attention{NBSP}: «{NBSP}cas{NBSP}»{NNBSP}?" in fr.replace("&#34;", '"')
    assert f"Référence{NBSP}: ABC-234" in fr  # a translated string (Markup)
    assert 'href="https://x.example/level?t=a:b"' in fr  # an address, unchanged
    assert f"Retour{NNBSP}!" in fr
    en = _render(app, source, "en", **values)
    assert "Attention : « cas » ?" in en and NBSP not in en and NNBSP not in en
    assert "Reference: ABC-234" in en


def test_verbatim_and_typeset_filters(app: Any) -> None:
    source = ("<textarea>{{ typed|verbatim }}</textarea><p lang=\"en\">{{ english|typeset('en') }}"
              "</p><p>{{ french }}</p>")
    out = _render(app, source, "fr", typed="Pourquoi ? Parce que : voilà",
                  english="Note : the tool", french="Note : l'outil")
    assert "<textarea>Pourquoi ? Parce que : voilà</textarea>" in out  # as the learner typed it
    assert '<p lang="en">Note: the tool</p>' in out  # the English rule, on a French page
    assert f"Note{NBSP}: l&#39;outil" in out


def test_a_template_compiled_for_one_language_renders_the_other_right(app: Any) -> None:
    """A constant `{{ "…" }}` is not folded at compile time: the English render first must not
    fix the French one (or the reverse)."""
    source = "<p>{{ 'Bonjour : toi' }}</p>"
    assert "Bonjour : toi" in _render(app, source, "en")
    assert f"Bonjour{NBSP}: toi" in _render(app, source, "fr")
    assert "Bonjour : toi" in _render(app, source, "en")


def test_values_that_are_not_text_pass_through(app: Any) -> None:
    out = _render(app, "{{ n }}|{{ none }}|{{ flag }}", "fr", n=3, none=None, flag=True)
    assert out == "3|None|True"
