"""The demo LMS's Flask application: a separate app, never a blueprint of the tool's."""

from __future__ import annotations

import logging

import flask

from .badges import BadgeLister
from .keys import load_or_create_keys
from .platform import ToolKeySet
from .settings import DemoSettings
from .storage import DemoStore
from .views import EXTENSION, DemoLms, bp

log = logging.getLogger(__name__)


def create_demo_lms(settings: DemoSettings, badges: BadgeLister | None = None) -> flask.Flask:
    """Build the demo platform for `settings` (generates its key pair on first use); `badges`
    lists the badges the tool awarded (shown on the course page), when given."""
    app = flask.Flask(
        "lti_tool.demo",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    app.extensions[EXTENSION] = DemoLms(
        settings=settings,
        keys=load_or_create_keys(settings.keys_dir),
        store=DemoStore(settings.state_file),
        tool_keys=ToolKeySet(settings.tool_jwks_url),
        badges=badges,
    )
    app.register_blueprint(bp)
    log.warning(
        "DEMO LMS at %s (issuer) for the tool at %s: not for production use",
        settings.base_url,
        settings.tool_base_url,
    )
    return app
