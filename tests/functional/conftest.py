"""A live tool and a live demo LMS (the independent lti1p3platform) talking over real HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lti_tool import create_app
from lti_tool.db import get_session
from lti_tool.demo import DemoSettings, register_demo_lms
from tests import backends
from tests.conftest import _truncate, make_settings
from tests.support.platform_server import LaunchDriver, run_platform, serve_app


@dataclass
class Live:
    app: Any
    tool_url: str
    lms: DemoSettings
    driver: LaunchDriver


@pytest.fixture
def live(
    database_url: str, redis_url: str | None, keys_dir: Path, tmp_path: Path
) -> Iterator[Live]:
    apps: list[Any] = []

    def tool(url: str) -> Any:
        app = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path, base_url=url))
        apps.append(app)
        return app

    with serve_app(tool) as tool_url:
        app = apps[0]
        settings = DemoSettings(
            base_url="http://127.0.0.1:0",
            tool_base_url=tool_url,
            keys_dir=tmp_path / "demo-platform",
            storage_target=None,
            allow_test_overrides=True,
        )
        with run_platform(settings) as lms_url, LaunchDriver(lms_url) as driver:
            lms = dataclasses.replace(settings, base_url=lms_url)
            with app.test_request_context():
                session = get_session()
                register_demo_lms(session, lms)
                session.commit()
            try:
                yield Live(app, tool_url, lms, driver)
            finally:
                _truncate(app)
                if redis_url:
                    backends.redis_client().flushdb()
                app.extensions["db_engine"].dispose()
