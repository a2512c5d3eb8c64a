"""Inline SVG icons, self-hosted and independent of any emoji font (issue 10, item 6), in one place.

    {{ icon("check") }}                      decorative: aria-hidden, the text beside it says it all
    {{ icon("lock", title=_("Locked")) }}    meaningful alone: role="img" with that accessible name
    {{ icon("warning", class="mark") }}      extra classes on the <svg>

24×24 strokes in currentColor, sized by CSS (.icon), so they take the text's colour and contrast and
scale with it. An unknown name renders nothing (and no error).

Two families, drawn by different hands and kept as they are: the site's (error and service pages,
`{% from "_icons.html" import icon %}`) and the case player's, a little thicker and with its own
marks (timeline, status badges; `{% from "cases/_macros.html" import icon %}`). Both are this
module's `IconSet`s, registered as Jinja globals by `init_app`.

Python rather than a Jinja macro: the case pages show up to a dozen icons, and a macro call costs
about as much as the rest of the icon's markup put together; here an icon without a title is one
dictionary lookup of the finished element.
"""

from __future__ import annotations

from flask import Flask
from markupsafe import Markup, escape

SITE_PATHS = {
    "check": '<path d="M4 12.5l5 5L20 6.5"/>',
    "cross": '<path d="M6 6l12 12M18 6L6 18"/>',
    "warning": '<path d="M12 3.5L2.5 20.5h19L12 3.5z"/><path d="M12 10v4.5"/>'
               '<path d="M12 17.5v.01"/>',
    "info": '<circle cx="12" cy="12" r="9"/><path d="M12 11v6"/><path d="M12 7.5v.01"/>',
    "arrow": '<path d="M5 12h14"/><path d="M13 6l6 6-6 6"/>',
    "arrow-left": '<path d="M19 12H5"/><path d="M11 6l-6 6 6 6"/>',
    "external-window": '<path d="M14 4h6v6"/><path d="M20 4l-9 9"/>'
                       '<path d="M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5"/>',
    "lock": '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
    "person": '<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4.4 3.6-8 8-8s8 3.6 8 8"/>',
    "restart": '<path d="M20 12a8 8 0 1 1-2.34-5.66"/><path d="M20 4v5h-5"/>',
}

PLAYER_PATHS = {
    "check": '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
    "cross": '<path d="M7 7l10 10M17 7L7 17"/>',
    "alert": '<path d="M12 3.5L2.5 20h19z"/><path d="M12 10v4.5M12 17.3v.2"/>',
    "circle": '<circle cx="12" cy="12" r="8"/>',
    "half": '<circle cx="12" cy="12" r="8"/><path d="M12 4a8 8 0 0 1 0 16z" fill="currentColor"/>',
    "missed": '<circle cx="12" cy="12" r="8"/><path d="M8 12h8"/>',
    "dash": '<path d="M7 12h10"/>',
    "restart": '<path d="M4.5 12a7.5 7.5 0 1 0 2.3-5.4"/><path d="M4.5 4.5v4.5H9"/>',
    "lock": '<rect x="5" y="11" width="14" height="9" rx="1.5"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/>',
    "arrow": '<path d="M4 12h15M13 6l6 6-6 6"/>',
    "flag": '<path d="M5 21V4M5 4h12l-2.5 4 2.5 4H5"/>',
    "target": '<circle cx="12" cy="12" r="8"/><circle cx="12" cy="12" r="3.5"/>',
    "people": '<circle cx="9" cy="8" r="3.2"/><path d="M3.5 20a5.5 5.5 0 0 1 11 0"/>'
              '<circle cx="17" cy="9" r="2.5"/><path d="M15.5 14.2A4.5 4.5 0 0 1 21 18.5"/>',
}


class IconSet:
    """One family: its drawings, and the <svg> element's size and stroke width."""

    def __init__(self, paths: dict[str, str], *, size: int, stroke_width: str) -> None:
        self.paths = paths
        self.size = size
        self.stroke_width = stroke_width
        # The usual call, `icon(name)`, answered from here.
        self.plain = {name: self._render(name, None, None) for name in paths}

    def __call__(self, name: str, title: str | None = None, **attributes: str | None) -> Markup:
        """`attributes`: only `class` (extra classes), named as in the templates' calls."""
        css = attributes.pop("class", None)
        if attributes:
            raise TypeError(f"icon() got unexpected arguments: {', '.join(attributes)}")
        if not title and not css:
            return self.plain.get(name, Markup(""))
        if name not in self.paths:
            return Markup("")
        return self._render(name, title, css)

    def _render(self, name: str, title: str | None, css: str | None) -> Markup:
        classes = f"icon icon-{escape(name)}" + (f" {escape(css)}" if css else "")
        label = (f' role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
                 if title else ' aria-hidden="true">')
        return Markup(  # noqa: S704 - fixed drawings; name, class and title escaped
            f'<svg class="{classes}" viewBox="0 0 24 24" width="{self.size}" '
            f'height="{self.size}" fill="none" stroke="currentColor" '
            f'stroke-width="{self.stroke_width}" stroke-linecap="round" stroke-linejoin="round" '
            f'focusable="false"{label}{self.paths[name]}</svg>')


site_icon = IconSet(SITE_PATHS, size=24, stroke_width="2")
player_icon = IconSet(PLAYER_PATHS, size=20, stroke_width="2.2")


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(site_icon=site_icon, player_icon=player_icon)
