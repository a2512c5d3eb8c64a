"""The level home of a learner who has nothing yet — no attempt, no reflection, no score — is the
page most launches land on (a learner's first launch, and every launch until they start a case),
and it is the same for every such learner apart from their page token and the "signed in" line.
It is therefore rendered once per process for each set of inputs it can depend on, and served with
those two substituted (issue 11: the render was half of a complete launch's CPU).

The key is every input of the template for a blank learner besides those two: the language, the
level and activity, the role, the result panel (score and delivery state) and the badge panel's
facts. `tests/cases/test_blank_home.py` renders blank learners both ways and compares byte for
byte (languages, gradable or not, organisations and agreements, names French typography touches).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable

from flask import current_app, g
from markupsafe import Markup

# Stand-ins while the shared page is rendered: the token's alphabet (base64url and ".") so every
# place a real token goes (URLs, form fields) carries this one unchanged; the slot is a comment,
# which the typography finalize leaves alone (tags are never typeset).
TOKEN = "blankhome" + secrets.token_urlsafe(24) + ".x"
SIGNED_IN = Markup("<!--signed-in-->")
# Keys differ by language, activity and the tenant's badge facts (the date among them): a handful
# per deployment and day. Bounded all the same; cleared whole when full (cheap to refill). Kept per
# app, like the level's cached fragments (views._cached): the level is the app's.
_LIMIT = 512


def render(key: Hashable, render_page: Callable[[], str]) -> str:
    """The page for `key`, rendered by `render_page` the first time with the stand-ins in `g`, then
    with this request's token and signed-in line put in their place."""
    pages = _pages()
    page = pages.get(key)
    if page is None:
        token = g.page_token
        g.page_token, g.signed_in_slot = TOKEN, SIGNED_IN
        try:
            page = render_page()
        finally:
            g.page_token, g.signed_in_slot = token, None
        if len(pages) >= _LIMIT:
            pages.clear()
        pages[key] = page
    return _personal(page)


def cached(key: Hashable) -> str | None:
    """The page for `key` when it is rendered already, else None (no Flask request needed)."""
    page = _pages().get(key)
    return _personal(page) if page is not None else None


def _pages() -> dict[Hashable, str]:
    return current_app.extensions.setdefault("blank_home_pages", {})  # type: ignore[no-any-return]


def _personal(page: str) -> str:
    # The line alone, straight from the environment (gettext and the typography are its globals
    # and finalize): Flask's render_template would run every context processor for one line.
    signed_in = current_app.jinja_env.get_template("_signed_in.html").render(g=g)
    return page.replace(TOKEN, g.page_token).replace(SIGNED_IN, signed_in)
