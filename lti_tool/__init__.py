"""Sexto Architect — an LTI 1.3 tool for the Architect level of the SEXTO training.

`create_app()` builds the Flask app: configuration, extensions, blueprints, error handlers, CLI.
It does no I/O (no migrations, no network, no key generation): those are CLI commands.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SessionInterface

from lti_tool import logs
from lti_tool.config import Settings, load_settings
from lti_tool.safe_json import SafeJSONProvider


class _NoSession(SessionInterface):
    """The tool keeps no Flask session (pages carry a page token; launch data is server-side):
    without this, Flask builds a cookie serializer on every request for nothing (issue 11).
    `flask.session` is then a NullSession, which refuses writes loudly."""

    def open_session(self, app: Flask, request: object) -> None:
        return None

    def save_session(self, *args: object) -> None:
        return None


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    if isinstance(config, Settings):
        settings = config
    else:
        settings = load_settings(**(config or {}))
    app = Flask(__name__)
    app.session_interface = _NoSession()
    app.json = SafeJSONProvider(app)  # nesting limit on request.get_json(): a 400, not a 500
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=1024 * 1024,
                      TESTING=settings.env == "test", PREFERRED_URL_SCHEME="https"
                      if settings.base_url.startswith("https") else "http")
    app.extensions["settings"] = settings
    logs.configure(settings.log_level)

    from lti_tool import db, errors, framing, i18n, icons, typography
    from lti_tool.badges.attestation_views import bp as attestation_bp
    from lti_tool.badges.embedded.views import bp as embedded_badges_bp
    from lti_tool.cases.views import bp as cases_bp
    from lti_tool.cases.views import shared_level_home
    from lti_tool.grading.views import bp as grading_bp
    from lti_tool.health import bp as health_bp
    from lti_tool.launch import wiring
    from lti_tool.launch.deep_linking import bp as deep_linking_bp
    from lti_tool.launch.dynamic_registration import bp as registration_bp
    from lti_tool.launch.registration_keys import bp as registration_keys_bp
    from lti_tool.launch.tool_config import bp as tool_config_bp
    from lti_tool.launch.views import bp as launch_bp

    db.init_app(app, settings.database_url)
    errors.init_app(app)
    framing.init_app(app)  # after db: its after_request runs before the commit
    i18n.init_app(app)
    typography.init_app(app)  # French spacing on every {{ … }} of a French page
    icons.init_app(app)  # the inline SVG icons, as Jinja globals
    wiring.init_app(app)
    app.extensions["landing_endpoints"] = {
        "learner": "cases.level_home", "instructor": "grading.roster",
        "deep_linking": "deep_linking.picker",
    }
    # The learner's landing page when it needs no request (launch/views._first_page).
    app.extensions["shared_landing_page"] = shared_level_home
    for blueprint in (health_bp, launch_bp, registration_bp, tool_config_bp, deep_linking_bp,
                      grading_bp, cases_bp,
                      registration_keys_bp, attestation_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(embedded_badges_bp)
    # Browsers ask every site for /favicon.ico, whatever its pages link: the icon, not a 404.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    from lti_tool.launch import hot_path

    hot_path.init_app(app)  # the common answers of the login and the launch, before Flask (issue 11)

    return app
