"""Tool keys: RFC 7638 kid, the JWKS during rotation, signing after rotation, the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from jwt.algorithms import RSAAlgorithm

from lti_tool import create_app
from lti_tool.cli import main
from lti_tool.keys import KeyStore
from tests.conftest import make_settings
from tests.support.minted import landing, minted_platform


def rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    """Written from the RFC, independently of jwcrypto: SHA-256 of the required members, sorted."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )


@pytest.fixture
def rotating_app(database_url: str, redis_url: str | None, tmp_path: Path):  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    KeyStore(keys).generate()
    app = create_app(make_settings(database_url, redis_url, keys, tmp_path))
    yield app
    from tests.conftest import _truncate

    _truncate(app)
    app.extensions["db_engine"].dispose()


def verify_with_published_jwks(client: Any, token: str) -> dict[str, Any]:
    jwks = client.get("/.well-known/jwks.json").get_json()
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(
        token,
        RSAAlgorithm.from_jwk(jwk),
        algorithms=["RS256"],
        audience="https://lms.example.test/token",
    )


def test_kid_is_the_rfc7638_thumbprint(client: Any) -> None:
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kid"] == rfc7638_thumbprint(keys[0])
    assert keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert "d" not in keys[0] and "p" not in keys[0]  # public parts only


def test_rotation_publishes_current_and_previous(rotating_app: Any) -> None:
    client = rotating_app.test_client()
    store = rotating_app.extensions["tool_keys"]
    first = client.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]
    second, old = store.rotate()
    assert old == first
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert kids == [second, first]
    third, _ = store.rotate()
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert kids == [third, second]  # the oldest retired, no longer published


def test_service_assertion_after_rotation_verifies_against_published_jwks(
    rotating_app: Any,
) -> None:
    client = rotating_app.test_client()
    store = rotating_app.extensions["tool_keys"]
    before = store.sign({"aud": "https://lms.example.test/token", "iat": int(time.time())})
    new_kid, _ = store.rotate()
    after = store.sign({"aud": "https://lms.example.test/token", "iat": int(time.time())})
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    verify_with_published_jwks(client, after)
    verify_with_published_jwks(client, before)  # signed just before the rotation: still verifies


def test_launch_started_before_rotation_completes(rotating_app: Any) -> None:
    client = rotating_app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "tool.test"})
    with minted_platform(rotating_app) as platform:
        auth = platform.login(client)
        result = CliRunner().invoke(main, ["keys", "rotate"], obj=_script_info(rotating_app))
        assert result.exit_code == 0, result.output
        response = platform.launch(client, auth=auth)
    assert response.status_code in (200, 303)
    assert client.get(landing(response)).status_code == 200
    assert len(client.get("/.well-known/jwks.json").get_json()["keys"]) == 2


def _script_info(app: Any) -> Any:
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def test_keys_cli_generate_list_rotate(rotating_app: Any) -> None:
    runner = CliRunner()
    info = _script_info(rotating_app)
    out = runner.invoke(main, ["keys", "generate"], obj=info)
    assert out.exit_code == 0 and "kept existing" in out.output
    out = runner.invoke(main, ["keys", "rotate"], obj=info)
    assert out.exit_code == 0 and "previous key" in out.output
    out = runner.invoke(main, ["keys", "list"], obj=info)
    assert out.exit_code == 0
    statuses = [line.split()[1] for line in out.output.strip().splitlines()]
    assert statuses == ["current", "previous"]


def test_private_keys_are_not_world_readable(rotating_app: Any) -> None:
    keys_dir = rotating_app.extensions["settings"].keys_dir
    pems = list(Path(keys_dir).glob("*.pem"))
    assert pems and all(p.stat().st_mode & 0o077 == 0 for p in pems)


def test_running_server_notices_a_rotation_made_by_another_process(rotating_app: Any) -> None:
    client = rotating_app.test_client()
    before = client.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]
    other_process_store = KeyStore(rotating_app.extensions["settings"].keys_dir)
    new_kid, _ = other_process_store.rotate()
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert kids == [new_kid, before]
    assert (
        jwt.get_unverified_header(rotating_app.extensions["tool_keys"].sign({}))["kid"] == new_kid
    )
