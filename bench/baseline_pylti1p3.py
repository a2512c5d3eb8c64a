"""Baseline for bench/launch.py: a minimal tool written the way pylti1p3's documentation shows
(FlaskOIDCLogin + FlaskMessageLaunch, ToolConfDict, the Flask cookie session for launch data, a
first page that reads the launch back from the cache). It does none of our extra work (no nonce
consumption, no database, no azp check) and is only here so both tools are measured by the same
harness on the same machine: `bench/launch.py --app baseline`.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, redirect, request, url_for
from pylti1p3.contrib.flask import (
    FlaskCookieService,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
    FlaskSessionService,
)
from pylti1p3.tool_config import ToolConfDict


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    base = os.environ["LTI_TOOL_BASE_URL"]
    conf = ToolConfDict({os.environ["BENCH_ISSUER"]: [{
        "default": True, "client_id": os.environ["BENCH_CLIENT_ID"],
        "auth_login_url": os.environ["BENCH_ISSUER"] + "/auth",
        "auth_token_url": os.environ["BENCH_ISSUER"] + "/token",
        "key_set_url": os.environ["BENCH_JWKS_URL"],
        "deployment_ids": [os.environ["BENCH_DEPLOYMENT"]],
    }]})

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.route("/lti/login", methods=["GET", "POST"])
    def login() -> Any:
        flask_request = FlaskRequest()
        oidc = FlaskOIDCLogin(flask_request, conf)
        return oidc.enable_check_cookies().disable_check_cookies().redirect(
            flask_request.get_param("target_link_uri"))

    @app.post("/lti/launch")
    def launch() -> Any:
        flask_request = FlaskRequest()
        message_launch = FlaskMessageLaunch(flask_request, conf)
        message_launch.get_launch_data()
        return redirect(url_for("page", launch_id=message_launch.get_launch_id()), code=303)

    @app.get("/page/<launch_id>")
    def page(launch_id: str) -> Any:
        flask_request = FlaskRequest()
        message_launch = FlaskMessageLaunch.from_cache(
            launch_id, flask_request, conf, session_service=FlaskSessionService(flask_request),
            cookie_service=FlaskCookieService(flask_request))
        data = message_launch.get_launch_data()
        return f"<!doctype html><title>Page</title><h1>Hello {data.get('name', '')}</h1>"

    _ = base, request
    return app
