"""`lti-tool run --server granian` serves the app (the production server bench/launch.py measures
against gunicorn, issue 11)."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lti_tool_run_with_granian_serves_the_app(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "LTI_TOOL_ENV": "dev", "SECRET_KEY": "granian-test-" + "x" * 40,
           "LTI_TOOL_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
           "LTI_TOOL_KEYS_DIR": str(tmp_path / "keys"), "LTI_TOOL_LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    cli = Path(sys.executable).parent / "lti-tool"
    server = subprocess.Popen([str(cli), "run", "--server", "granian", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        status = None
        for _ in range(150):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    conn.request("GET", "/healthz")
                    status = conn.getresponse().status
                finally:
                    conn.close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(server.stderr.read().decode()[-2000:] if server.stderr else "exited")
                time.sleep(0.1)
        assert status == 200
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/no-such-page")
            response = conn.getresponse()
            assert response.status == 404 and b'data-error-code="http_404"' in response.read()
        finally:
            conn.close()
    finally:
        server.terminate()
        server.wait(15)
        if server.stderr:
            server.stderr.close()
