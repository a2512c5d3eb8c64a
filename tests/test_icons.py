"""The inline SVG icons (lti_tool/icons.py) and the template gettext without context (i18n.py):
what the templates get from them, through the app's real Jinja environment."""

from __future__ import annotations

from markupsafe import Markup

from lti_tool.icons import player_icon, site_icon


def test_a_decorative_icon_is_hidden_and_an_unknown_name_renders_nothing() -> None:
    svg = site_icon("check")
    assert isinstance(svg, Markup)
    assert svg.startswith('<svg class="icon icon-check" viewBox="0 0 24 24" width="24" height="24"')
    assert 'aria-hidden="true"' in svg and "role=" not in svg and svg.endswith("</svg>")
    assert site_icon("no-such-icon") == "" and player_icon("no-such-icon", title="x") == ""
    # The player's family: its own drawing and size for the same name.
    assert 'width="20"' in player_icon("check") and player_icon("check") != site_icon("check")


def test_title_and_class_are_escaped() -> None:
    svg = site_icon("lock", title='<b>"Verrouillé"</b>', **{"class": 'mark" onclick="x'})
    assert 'role="img" aria-label="&lt;b&gt;&#34;Verrouillé&#34;&lt;/b&gt;"' in svg
    assert "<title>&lt;b&gt;&#34;Verrouillé&#34;&lt;/b&gt;</title>" in svg
    assert 'class="icon icon-lock mark&#34; onclick=&#34;x"' in svg
    assert "aria-hidden" not in svg


def test_templates_call_both_families_and_gettext_escapes_its_variables(app) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context("/?lang=en"):
        page = app.jinja_env.from_string(
            '{% from "_icons.html" import icon %}{{ icon("warning", class="mark") }}|'
            '{% from "cases/_macros.html" import icon as player with context %}{{ player("flag") }}|'
            '{% set x = 1 %}{% for i in [1] %}{{ _("Signed in: %(name)s", name="<i>") }}{% endfor %}'
        ).render()
    site, player, text = page.split("|")
    assert site == site_icon("warning", **{"class": "mark"})
    assert player == player_icon("flag")
    assert text == "Signed in: &lt;i&gt;"
