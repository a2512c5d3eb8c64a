"""Badge issuers behind one interface (issue 8, item 3; base.py), chosen by `BADGE_ISSUER`.

`issuer_for(name, app)` builds the adapter that issues (or issued: revocations go to the award's
own issuer, whatever the current setting) a badge. The embedded Open Badges 3.0 issuer lives in
`lti_tool.badges.embedded`, which provides `make_issuer(app) -> Issuer`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from lti_tool.badges.issuers.base import (
    AwardInfo,
    Issuer,
    IssuerError,
    IssueResult,
    IssuerRefused,
    IssuerUnavailable,
    Recipient,
    TokenStore,
)

__all__ = ["AwardInfo", "Issuer", "IssuerError", "IssuerRefused", "IssuerUnavailable", "IssueResult",
           "Recipient", "TokenStore", "issuer_for", "tokens"]

NAMES = ("embedded", "badgr", "credly", "obf", "lms", "none")


def tokens(app: Flask) -> TokenStore:
    """The app's token store: Redis when configured (every worker shares a token), else memory."""
    store = app.extensions.get("badge_tokens")
    if store is None:
        store = app.extensions["badge_tokens"] = TokenStore(app.extensions.get("redis"))
    return store  # type: ignore[no-any-return]


def issuer_for(name: str, app: Flask | None = None) -> Issuer:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    settings: Any = app.extensions["settings"]
    if name == "badgr":
        from lti_tool.badges.issuers.badgr import BadgrIssuer

        return BadgrIssuer(url=settings.badgr_url, username=settings.badgr_username,
                           password=settings.badgr_password, badgeclass=settings.badgr_badgeclass,
                           tokens=tokens(app))
    if name == "credly":
        from lti_tool.badges.issuers.credly import CredlyIssuer

        return CredlyIssuer(url=settings.credly_url, org=settings.credly_org,
                            token=settings.credly_token, template=settings.credly_template)
    if name == "obf":
        from lti_tool.badges.issuers.obf import ObfIssuer

        return ObfIssuer(url=settings.obf_url, client_id=settings.obf_client_id,
                         client_secret=settings.obf_client_secret, badge_id=settings.obf_badge_id,
                         tokens=tokens(app))
    if name == "lms":
        from lti_tool.badges.issuers.lms import LmsIssuer

        return LmsIssuer()
    if name == "none":
        from lti_tool.badges.issuers.lms import NoIssuer

        return NoIssuer()
    if name == "embedded":
        try:
            from lti_tool.badges import embedded
        except ImportError as exc:  # not deployed yet: the award waits rather than fails
            raise IssuerUnavailable("the embedded issuer (lti_tool.badges.embedded) is not "
                                    "available") from exc
        return embedded.make_issuer(app)  # type: ignore[no-any-return]
    raise IssuerRefused(f"unknown badge issuer {name!r} (one of {', '.join(NAMES)})")
