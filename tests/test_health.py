"""Liveness and readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lti_tool import create_app
from tests.conftest import make_settings


def test_healthz_and_readyz(client: Any, settings: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    expected = {"database": "ok"} | ({"redis": "ok"} if settings.redis_url else {})
    assert ready.get_json()["checks"] == expected


def test_readyz_reports_an_unreachable_database(keys_dir: Path, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite'}"
    app = create_app(make_settings(missing, None, keys_dir, tmp_path))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable"
    app.extensions["db_engine"].dispose()


def test_readyz_reports_an_unreachable_redis(database_url: str, keys_dir: Path, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, "redis://127.0.0.1:1/0", keys_dir, tmp_path))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "redis": "unavailable"}
    app.extensions["db_engine"].dispose()


def test_production_refuses_to_start_without_secrets() -> None:
    import pytest

    from lti_tool.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({"LTI_TOOL_ENV": "production", "LTI_TOOL_BASE_URL": "https://t.example"})
    with pytest.raises(ConfigError, match="https"):
        load_settings(
            {
                "LTI_TOOL_ENV": "production",
                "SECRET_KEY": "k" * 40,
                "LTI_TOOL_BASE_URL": "http://t.example",
                "DATABASE_URL": "postgresql://x/y",
            }
        )
    ok = load_settings(
        {
            "LTI_TOOL_ENV": "production",
            "SECRET_KEY": "k" * 40,
            "LTI_TOOL_BASE_URL": "https://t.example",
            "DATABASE_URL": "postgresql://x/y",
        }
    )
    assert ok.is_production and ok.base_url == "https://t.example"


def test_create_app_has_no_side_effects(tmp_path: Path) -> None:
    """No database file, key or secret is created by building the app."""
    from lti_tool.config import load_settings

    settings = load_settings(
        {
            "LTI_TOOL_ENV": "dev",
            "LTI_TOOL_INSTANCE_DIR": str(tmp_path / "inst"),
            "LTI_TOOL_KEYS_DIR": str(tmp_path / "keys"),
        }
    )
    create_app(settings).extensions["db_engine"].dispose()
    assert not (tmp_path / "inst").exists() and not (tmp_path / "keys").exists()
