"""`make run` as a newcomer meets it: `lti-tool setup` then `lti-tool demo`, real processes.

What they print (issue 10): the development secret is "created" once, never reported missing
after it was written; the demo prints the URL to open and "Ctrl+C to stop", and stops on Ctrl+C;
its request log carries no page token (lti_tool/logs.py) and no terminal colour codes.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from lti_tool.logs import LogfmtFormatter, redact

LTI_TOOL = str(Path(sys.executable).with_name("lti-tool"))
MISSING = "missing"  # the word of config.py's warning about the absent secret file


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A checkout's environment with a scratch instance folder, keys and SQLite database."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("LTI_TOOL_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"))}
    return {**clean, "LTI_TOOL_ENV": "dev", "LTI_TOOL_INSTANCE_DIR": str(tmp_path / "instance"),
            "LTI_TOOL_KEYS_DIR": str(tmp_path / "keys"), "PYTHONUNBUFFERED": "1"}


def _setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([LTI_TOOL, "setup"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_setup_says_created_once_and_never_that_the_secret_is_missing(
        env: dict[str, str], tmp_path: Path) -> None:
    secret = tmp_path / "instance" / "secret_key"
    first = _setup(env)
    assert f"created {secret}" in first.stdout
    assert MISSING not in first.stdout + first.stderr, first.stderr
    assert secret.read_text().strip()
    kept = secret.read_text()

    second = _setup(env)
    assert "created" not in second.stdout.replace("(kept)", "")
    assert "set up: signing key" in second.stdout and "(kept)" in second.stdout
    assert MISSING not in second.stdout + second.stderr
    assert secret.read_text() == kept


def test_setup_leaves_a_secret_key_from_the_environment_alone(
        env: dict[str, str], tmp_path: Path) -> None:
    done = _setup({**env, "SECRET_KEY": "s" * 48})
    assert not (tmp_path / "instance" / "secret_key").exists()
    assert "created" not in done.stdout.replace("(created)", "")


@pytest.fixture
def demo(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`lti-tool demo` on free ports (after `setup`), its output read line by line."""
    _setup(env)
    tool_port, lms_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [LTI_TOOL, "demo", "--port", str(tool_port), "--lms-port", str(lms_port)],
        env={**env, "LTI_TOOL_ENV": "demo"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        yield proc, f"http://127.0.0.1:{tool_port}", f"http://127.0.0.1:{lms_port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _read_until(proc: subprocess.Popen[str], text: str, seen: list[str]) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed:\n{''.join(seen)}")


def test_demo_prints_the_url_to_open_and_ctrl_c_and_logs_no_page_token(
        demo: tuple[subprocess.Popen[str], str, str]) -> None:
    proc, tool_url, lms_url = demo
    seen: list[str] = []
    _read_until(proc, "Ctrl+C to stop", seen)
    banner = "".join(seen)
    assert f"Open the demo LMS in your browser:  {lms_url}/" in banner
    assert MISSING not in banner

    assert requests.get(lms_url + "/", timeout=10).status_code == 200
    token = "eyJwYWdlIjoic2VjcmV0In0.Zx1-SECRET_token"
    refused = requests.get(f"{tool_url}/level", params={"t": token, "lang": "fr"}, timeout=10)
    assert refused.status_code in (401, 403)
    _read_until(proc, "GET /level?", seen)
    log = "".join(seen)
    assert "GET /level?t=[redacted]&lang=fr" in log
    assert token not in log and "SECRET_token" not in log
    assert "\x1b" not in log  # werkzeug's terminal colours do not reach the logfmt lines

    proc.send_signal(signal.SIGINT)  # Ctrl+C
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "demo stopped" in out


# -- the log lines themselves ------------------------------------------------------------------
def test_logfmt_lines_drop_terminal_colours() -> None:
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               '127.0.0.1 - - "\x1b[33mGET /level?t=abc.def HTTP/1.1\x1b[0m" 404 -',
                               None, None)
    line = LogfmtFormatter().format(record)
    assert "\x1b" not in line and "[33m" not in line
    assert 'GET /level?t=[redacted] HTTP/1.1' in line and "abc.def" not in line


def test_redaction_reaches_a_page_url_carried_percent_encoded_in_another_url() -> None:
    assert redact("GET /x?next=%2Flevel%3Ft%3Dabc.DEF-1_2%26lang%3Dfr HTTP/1.1") == \
        "GET /x?next=%2Flevel%3Ft%3D%5Bredacted%5D%26lang%3Dfr HTTP/1.1"
    assert redact("uri=https%3A%2F%2Flms%2Fv%3Fformat%3Dx%26state%3Ds1%26id_token%3Dj.w.t") == \
        "uri=https%3A%2F%2Flms%2Fv%3Fformat%3Dx%26state%3D%5Bredacted%5D" \
        "%26id_token%3D%5Bredacted%5D"
    # A name that only ends in a secret's name, and a redacted value, are left as they are.
    assert redact("q=%3Fformat%3Dt%26list%3D1") == "q=%3Fformat%3Dt%26list%3D1"
    assert redact("%3Ft%3D%5Bredacted%5D") == "%3Ft%3D%5Bredacted%5D"


def test_the_tool_answers_favicon_requests_with_its_icon(client: Any) -> None:
    """A tool page opened in a tab (registration, attestation) makes the browser ask for it."""
    with client.get("/favicon.ico") as ico:  # a file response: closed, or its file stays open
        assert ico.status_code == 200 and ico.data[:4] == b"\x00\x00\x01\x00"
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
