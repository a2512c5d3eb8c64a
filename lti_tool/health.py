"""Liveness and readiness: `/healthz` answers while the process runs; `/readyz` checks the database
(and Redis when configured) so a load balancer only sends launches to a worker that can take them."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from lti_tool.db import get_engine
from lti_tool.launch.wiring import redis_client

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    checks: dict[str, str] = {}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1 FROM platform LIMIT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the log says which
        log.warning("readiness: database not ready: %s", exc)
        checks["database"] = "unavailable"
    client = redis_client(current_app)
    if client is not None:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readiness: redis not ready: %s", exc)
            checks["redis"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503
