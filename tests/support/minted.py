"""A platform whose id_tokens the tests write themselves, to send the bad cases of the LTI.md
checklist and the 1EdTech certification payloads. Its JWKS is served over real HTTP so the tool's
key cache, re-fetch on unknown kid and rate limit run for real. (Whole launches against an
independent platform implementation are in tests/functional, with lti1p3platform.)
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
TOOL_URL = "https://tool.test"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_PLATFORM_KEY = new_key()  # one per test process: RSA generation is the slow part of a test


def platform_key() -> rsa.RSAPrivateKey:
    return _PLATFORM_KEY


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return jwk


class JwksServer:
    """Serves `keys` at /jwks over HTTP; counts the requests."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/jwks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.hits += 1
        if request.path == "/jwks":
            response = Response(json.dumps({"keys": self.keys}), mimetype="application/json")
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()


@dataclass
class MintedPlatform:
    jwks: JwksServer
    issuer: str = "https://lms.example.test"
    client_id: str = "client-A"
    deployment_id: str = "deploy-1"
    kid: str = "platform-key-1"
    key: rsa.RSAPrivateKey = field(default_factory=platform_key)

    def __post_init__(self) -> None:
        self.jwks.keys.append(public_jwk(self.key, self.kid))

    @property
    def auth_url(self) -> str:
        return self.issuer + "/auth"

    def register(self, app: Any, deployments: tuple[str, ...] | None = None) -> None:
        from lti_tool.db import get_session
        from lti_tool.launch.registry import add_platform

        with app.test_request_context():
            session = get_session()
            add_platform(
                session,
                issuer=self.issuer,
                client_id=self.client_id,
                auth_url=self.auth_url,
                token_url=self.issuer + "/token",
                jwks_url=self.jwks.url,
                deployment_ids=list(deployments or (self.deployment_id,)),
            )
            session.commit()

    # -- the two legs of a launch ------------------------------------------------------------------
    def login(
        self, client: Any, *, target: str = TOOL_URL + "/lti/launch", **extra: str
    ) -> dict[str, str]:
        params = {
            "iss": self.issuer,
            "login_hint": "user-1",
            "target_link_uri": target,
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
            **extra,
        }
        params = {k: v for k, v in params.items() if v is not None}
        response = client.get("/lti/login", query_string=params)
        return self.login_answer(response)

    def login_answer(self, response: Any) -> dict[str, str]:
        """The authentication request the tool's login redirected to (state, nonce, hints…)."""
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        return {k: v[0] for k, v in query.items()}

    def claims(self, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "user-1",
            "exp": now + 300,
            "iat": now,
            "nonce": auth.get("nonce", ""),
            "name": "Alex Tremblay",
            "given_name": "Alex",
            "family_name": "Tremblay",
            "email": "alex@example.test",
            LTI + "message_type": "LtiResourceLinkRequest",
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": TOOL_URL + "/lti/launch",
            LTI + "resource_link": {"id": "rl-1", "title": "Niveau Architecte"},
            LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            LTI + "context": {"id": "course-1", "title": "Formation SEXTO"},
            LTI + "launch_presentation": {"locale": "fr-CA"},
        }
        for name, value in overrides.items():
            claim = name if name in body or not name.startswith("lti_") else LTI + name[4:]
            if value is DROP:
                body.pop(claim, None)
            else:
                body[claim] = value
        return body

    def sign(
        self,
        body: dict[str, Any],
        *,
        key: rsa.RSAPrivateKey | None = None,
        headers: dict[str, Any] | None = None,
        algorithm: str = "RS256",
    ) -> str:
        hdr = {"kid": self.kid, **(headers or {})}
        return jwt.encode(body, key or self.key, algorithm=algorithm, headers=hdr)

    def launch(
        self,
        client: Any,
        *,
        auth: dict[str, str] | None = None,
        token: str | None = None,
        state: str | None = None,
        **overrides: Any,
    ) -> Any:
        auth = auth or self.login(client)
        token = token if token is not None else self.sign(self.claims(auth, **overrides))
        return client.post(
            "/lti/launch",
            data={"id_token": token, "state": auth["state"] if state is None else state},
        )


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()


@contextmanager
def minted_platform(app: Any, **kwargs: Any) -> Iterator[MintedPlatform]:
    with JwksServer() as server:
        platform = MintedPlatform(server, **kwargs)
        platform.register(app)
        yield platform


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def landing(response: Any) -> str:
    """Where a launch landed: a learner's first page comes in the launch response (200, its URL in
    Content-Location); the instructor and deep-linking pages after a 303."""
    if response.status_code == 200:
        return str(response.headers["Content-Location"])
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return str(response.headers["Location"])
