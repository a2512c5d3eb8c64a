"""The page token (lti_tool/page_token.py) bound to a live learner of a live registration, its
absolute lifetime, the name shown on its pages, and the redaction of URL secrets in every log
(lti_tool/logs.py: the tool's logger, werkzeug's request log, gunicorn's access log)."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import text
from werkzeug.serving import make_server

from lti_tool import page_token
from lti_tool.db import get_session
from lti_tool.launch.registry import remove_platform
from lti_tool.models import Learner
from tests.cases.player_support import Player, snapshot
from tests.support.minted import DROP, MintedPlatform, landing, minted_platform

INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
SECRET_PARAMS = ("t", "registration_token", "invite", "id_token", "state")


@pytest.fixture
def platform(app: Any) -> Iterator[MintedPlatform]:
    with minted_platform(app) as p:
        yield p


def refused(response: Any, status: int, code: str) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, html[:600])
    assert f'data-error-code="{code}"' in html, html[:800]
    assert 'lang="fr"' in html and 'lang="en"' in html
    return html


def viewer_of(app: Any, token: str) -> page_token.Viewer:
    with app.test_request_context():
        return page_token.read(token)


def issue(app: Any, viewer: page_token.Viewer) -> str:
    with app.test_request_context():
        return page_token.issue(viewer)


def every_row(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The player's tables and the launch's own rows, compared before and after a refusal."""
    rows = snapshot(app)
    with app.extensions["db_engine"].connect() as conn:
        for table in ("learner", "course", "resource_link", "platform"):
            rows[table] = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]
    return rows


def remove(app: Any, p: MintedPlatform) -> None:
    with app.test_request_context():
        session = get_session()
        assert remove_platform(session, p.issuer, p.client_id) == 1
        session.commit()


def try_everything(client: Any, token: str, status: int, code: str) -> None:
    """Read and write pages with the token: each refused, nothing written."""
    refused(client.get(f"/level?t={token}"), status, code)
    refused(client.get("/level", headers={"X-Page-Token": token}), status, code)
    refused(client.post("/cases/case-1/attempts", data={"t": token}), status, code)
    refused(client.post("/reflections/draft", data={"t": token, "question": "q1", "text": "x"}),
            status, code)
    refused(client.get(f"/instructor?t={token}"), status, code)


# -- tenant binding ------------------------------------------------------------------------------
def test_a_removed_registrations_token_is_refused_at_once(app: Any, client: Any,
                                                         platform: MintedPlatform) -> None:
    alex = Player.launch(client, platform)
    alex.start("case-1")
    token = alex.token
    assert client.get(f"/level?t={token}").status_code == 200
    remove(app, platform)
    before = every_row(app)
    try_everything(client, token, 401, "session_revoked")
    html = refused(client.get(f"/level?t={token}"), 401, "session_revoked")
    assert "n&#39;est plus inscrit" in html and "is no longer registered in the tool" in html
    assert every_row(app) == before


def test_a_reused_id_cannot_reach_another_tenant(app: Any, client: Any) -> None:
    with minted_platform(app, issuer="https://lms-a.example.test", client_id="A") as a:
        alex = Player.launch(client, a)
        token_a = alex.token
    viewer_a = viewer_of(app, token_a)
    remove(app, a)
    with minted_platform(app, issuer="https://lms-b.example.test", client_id="B") as b:
        blake = Player.launch(client, b, sub="user-b", name="Blake Gagnon")
        blake.start("case-1")
    viewer_b = viewer_of(app, blake.token)
    # The ids of the removed tenant are never handed out again (SQLite AUTOINCREMENT, PG sequences).
    assert viewer_b.learner_id != viewer_a.learner_id
    assert viewer_b.platform_id != viewer_a.platform_id
    assert viewer_b.resource_link_pk != viewer_a.resource_link_pk
    assert viewer_b.course_id != viewer_a.course_id
    before = every_row(app)
    try_everything(client, token_a, 401, "session_revoked")
    assert every_row(app) == before
    assert "Blake" not in client.get(f"/level?t={token_a}").get_data(as_text=True)
    assert client.get(f"/level?t={blake.token}").status_code == 200  # B is not disturbed


def test_a_token_naming_another_platforms_link_or_course_is_refused(app: Any, client: Any) -> None:
    """The query checks that link and course belong to the learner's platform (defence in depth:
    a token is signed by the tool, but must never combine two tenants)."""
    with minted_platform(app, issuer="https://lms-a.example.test", client_id="A") as a:
        alex = Player.launch(client, a)
    with minted_platform(app, issuer="https://lms-b.example.test", client_id="B") as b:
        blake = Player.launch(client, b, sub="user-b")
    va, vb = viewer_of(app, alex.token), viewer_of(app, blake.token)
    before = every_row(app)
    for mixed in ({"resource_link_pk": vb.resource_link_pk}, {"course_id": vb.course_id},
                  {"platform_id": vb.platform_id}):
        token = issue(app, page_token.Viewer(**{**va.__dict__, **mixed}))
        try_everything(client, token, 401, "session_revoked")
    assert every_row(app) == before
    assert client.get(f"/level?t={alex.token}").status_code == 200


def test_a_deleted_learners_token_is_a_clear_401(app: Any, client: Any,
                                                 platform: MintedPlatform) -> None:
    alex = Player.launch(client, platform)
    page = alex.start("case-1")
    attempt_url = page.path
    token = alex.token
    with app.test_request_context():
        session = get_session()
        session.delete(session.get(Learner, viewer_of(app, token).learner_id))
        session.commit()
    before = every_row(app)
    try_everything(client, token, 401, "session_revoked")
    refused(client.get(f"{attempt_url}?t={token}"), 401, "session_revoked")
    refused(client.post(f"{attempt_url}/choice", data={"t": token, "v": "1", "choice": "d1-b"}),
            401, "session_revoked")
    assert every_row(app) == before


def test_a_pending_registrations_token_is_refused(app: Any, client: Any,
                                                 platform: MintedPlatform) -> None:
    alex = Player.launch(client, platform)
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text("UPDATE platform SET status = 'pending'"))
    before = every_row(app)
    html = refused(client.get(f"/level?t={alex.token}"), 403, "registration_not_active")
    assert "approbation" in html and "awaiting approval" in html
    try_everything(client, alex.token, 403, "registration_not_active")
    assert every_row(app) == before


# -- lifetimes -----------------------------------------------------------------------------------
def test_sliding_refresh_never_passes_the_absolute_lifetime(app: Any, client: Any,
                                                            platform: MintedPlatform,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    settings = app.extensions["settings"]
    assert (settings.page_token_ttl, settings.session_max_age) == (2 * 3600, 8 * 3600)
    alex = Player.launch(client, platform)
    launched_at = viewer_of(app, alex.token).launched_at
    # Moves the page-token clock (signing and both lifetimes): an active learner, one page every
    # 1 h 50 min, well inside the idle lifetime each time.
    for hours in (1.8, 3.6, 5.4, 7.2, 7.9):
        monkeypatch.setattr(page_token, "now", lambda h=hours: launched_at + int(h * 3600))
        page = alex.get(f"/level?t={alex.page.token}")
        assert page.status == 200, (hours, page.html[:400])
        assert viewer_of(app, page.token).launched_at == launched_at  # the refresh keeps it
    fresh = alex.page.token  # signed at launch + 7 h 54
    fresh_viewer = viewer_of(app, fresh)
    monkeypatch.setattr(page_token, "now", lambda: launched_at + 8 * 3600 + 60)
    before = every_row(app)
    refused(client.get(f"/level?t={fresh}"), 401, "session_expired")
    refused(client.post("/cases/case-1/attempts", data={"t": fresh}), 401, "session_expired")
    assert every_row(app) == before
    # The idle lifetime still applies inside the absolute one.
    monkeypatch.setattr(page_token, "now", lambda: launched_at + 3600)
    token = issue(app, fresh_viewer)
    monkeypatch.setattr(page_token, "now", lambda: launched_at + 3600 + 2 * 3600 + 60)
    refused(client.get(f"/level?t={token}"), 401, "session_expired")


def test_a_token_from_an_old_launch_is_refused_however_fresh(app: Any, client: Any,
                                                              platform: MintedPlatform) -> None:
    alex = Player.launch(client, platform)
    viewer = viewer_of(app, alex.token)
    old = page_token.Viewer(**{**viewer.__dict__, "launched_at": int(time.time()) - 8 * 3600 - 5})
    refused(client.get(f"/level?t={issue(app, old)}"), 401, "session_expired")
    recent = page_token.Viewer(**{**viewer.__dict__, "launched_at": int(time.time()) - 7 * 3600})
    assert client.get(f"/level?t={issue(app, recent)}").status_code == 200


def test_a_token_without_a_launch_time_is_refused(app: Any, client: Any,
                                                  platform: MintedPlatform) -> None:
    """Tokens signed before the launch time was carried had no absolute lifetime."""
    alex = Player.launch(client, platform)
    v = viewer_of(app, alex.token)
    with app.test_request_context():
        legacy = page_token._sign([v.learner_id, v.platform_id, v.resource_link_pk,
                                   v.course_id, v.launch_id, v.role, v.locale, v.activity,
                                   page_token.now()])
    refused(client.get(f"/level?t={legacy}"), 403, "bad_token")


# -- who is signed in --------------------------------------------------------------------------
def signed_in(page: Any) -> str:
    [p] = [p for p in page.tree.find_all("p") if p.attrs.get("class") == "signed-in"]
    return p.raw_text.strip()


def test_the_learners_name_is_shown_on_the_level_page(client: Any, platform: MintedPlatform) -> None:
    alex = Player.launch(client, platform)
    assert signed_in(alex.page) == "Connecté·e\u00a0: Alex Tremblay"
    english = alex.get(alex.page.path + f"?t={alex.token}&lang=en")
    assert signed_in(english) == "Signed in: Alex Tremblay"
    assert signed_in(alex.start("case-1")) == "Signed in: Alex Tremblay"


def test_the_course_is_shown_when_the_platform_shares_no_name(client: Any,
                                                              platform: MintedPlatform) -> None:
    alex = Player.launch(client, platform, name=DROP, given_name=DROP, family_name=DROP)
    assert signed_in(alex.page) == "Lancé depuis Formation SEXTO"
    blake = Player.launch(client, platform, sub="user-2", name=DROP, given_name="Blake",
                          family_name=DROP)
    assert signed_in(blake.page) == "Connecté·e\u00a0: Blake"


def test_the_name_is_escaped_and_shown_to_instructors_too(client: Any,
                                                         platform: MintedPlatform) -> None:
    response = platform.launch(client, name="<script>alert(1)</script>", lti_roles=[INSTRUCTOR])
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html


def test_error_pages_name_nobody(client: Any) -> None:
    html = client.get("/level").get_data(as_text=True)
    assert "signed-in" not in html


# -- logs ---------------------------------------------------------------------------------------
def secrets_in(text_: str, values: list[str]) -> list[str]:
    return [v for v in values if v in text_]


def test_the_launch_info_line_reaches_the_console_in_logfmt(client: Any, platform: MintedPlatform,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    capsys.readouterr()
    response = platform.launch(client)
    token = parse_qs(urlsplit(landing(response)).query)["t"][0]
    logging.getLogger("lti_tool.launch.views").info("echo %s", landing(response))
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if 'msg="launch ok"' in x)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=INFO "
                    r"logger=lti_tool\.launch(\.views)? msg=\"launch ok\" platform=\d+ ", line), line
    assert "msg=\"echo /level?t=[redacted]\"" in err
    assert token not in err


def test_configuring_twice_adds_no_second_handler(app: Any, settings: Any) -> None:
    from lti_tool import create_app

    create_app(settings).extensions["db_engine"].dispose()
    for name in ("lti_tool", "werkzeug"):
        assert len(logging.getLogger(name).handlers) == 1, logging.getLogger(name).handlers


def test_the_tools_logs_and_werkzeugs_request_log_redact_url_secrets(
    app: Any, platform: MintedPlatform, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`lti-tool run` serves with werkzeug: a real server on loopback, its request log read."""
    values = [f"secret-{name}-0123456789" for name in SECRET_PARAMS]
    query = "&".join(f"{n}={v}" for n, v in zip(SECRET_PARAMS, values, strict=True))
    caplog.set_level(logging.INFO)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert requests.get(f"{base}/healthz?{query}", timeout=10).status_code == 200
        assert requests.get(f"{base}/level?{query}", timeout=10).status_code == 403
    finally:
        server.shutdown()
        thread.join(5)
    logging.getLogger("lti_tool.anything").warning("posted id_token=%s&state=%s", values[3],
                                                    values[4])
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /healthz?t=[redacted]&registration_token=[redacted]&invite=[redacted]" \
           "&id_token=[redacted]&state=[redacted]" in messages
    assert "posted id_token=[redacted]&state=[redacted]" in messages
    assert not secrets_in(messages + caplog.text + capsys.readouterr().err, values)


def test_redaction_leaves_other_parameters_alone() -> None:
    from lti_tool.logs import redact

    assert redact("GET /x?format=a&lang=en&t=abc.def HTTP/1.1") == \
        "GET /x?format=a&lang=en&t=[redacted] HTTP/1.1"
    assert redact('"https://lms/x?state=s1" invite=i1 at=3') == \
        '"https://lms/x?state=[redacted]" invite=[redacted] at=3'
    assert redact("status=active") == "status=active"


def test_gunicorn_access_log_redacts_url_secrets(tmp_path: Path) -> None:
    """gunicorn as the README runs it (with lti_tool/gunicorn_conf.py), on an ephemeral port."""
    values = [f"secret-{name}-9876543210" for name in SECRET_PARAMS]
    query = "&".join(f"{n}={v}" for n, v in zip(SECRET_PARAMS, values, strict=True))
    access, errors, stderr = tmp_path / "access.log", tmp_path / "error.log", tmp_path / "stderr"
    env = {**os.environ, "LTI_TOOL_ENV": "test", "SECRET_KEY": "k" * 40,
           "LTI_TOOL_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/db",
           "LTI_TOOL_LOG_LEVEL": "INFO"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with stderr.open("wb") as err_out:
        proc = subprocess.Popen(  # noqa: S603
            [str(gunicorn), "-c", "python:lti_tool.gunicorn_conf", "-b", "127.0.0.1:0", "-w", "1",
             "--access-logfile", str(access), "--error-logfile", str(errors),
             "lti_tool:create_app()"],
            env=env, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
            stderr=err_out,
        )
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            assert proc.poll() is None, errors.read_text() if errors.exists() else "gunicorn died"
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)",
                              errors.read_text() if errors.exists() else "")
            port = int(found.group(1)) if found else None
            time.sleep(0.05)
        assert port, "gunicorn did not start"
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):  # the worker may still be importing the app
            try:
                response = requests.get(f"{base}/healthz?{query}", timeout=10,
                                        headers={"Referer": f"https://lms.test/view?t={values[0]}"})
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert response.status_code == 200
        assert requests.get(f"{base}/nothing-here?{query}", timeout=10).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    log = access.read_text()
    assert "GET /healthz?t=[redacted]&registration_token=[redacted]&invite=[redacted]" \
           "&id_token=[redacted]&state=[redacted] HTTP/1.1\" 200" in log, log
    assert "https://lms.test/view?t=[redacted]" in log
    console = stderr.read_text()
    # The tool's own INFO line reaches gunicorn's console, in the tool's format.
    assert re.search(r"level=INFO logger=lti_tool\.errors msg=\"http 404 GET /nothing-here\"",
                     console), console
    assert not secrets_in(log + console + errors.read_text(), values)

