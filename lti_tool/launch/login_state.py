"""The OIDC login state, stateless: everything the launch needs to know about its login travels in
the `state` parameter itself, signed by the tool; the only thing stored is the nonce once used.

Why: a login used to write a record (and the launch read, then delete it), which cost two
statements and a commit on the login request alone (issue 11). Now the login does no I/O at all;
the launch checks the signature and expiry of the state, then consumes its nonce with one atomic
write that a second use cannot pass, on any worker or host:
- Redis (`SET … NX`): one key per used nonce, expiring with the state;
- the database: `INSERT … ON CONFLICT DO NOTHING` into `login_state`, whose rows are now the used
  nonces (key = nonce, expires_at = the state's expiry; purged now and then at a launch).
pylti1p3 never consumes the nonce, so a captured id_token + state would replay until `exp` (LTI.md).

What the state carries (JSON, base64url, then an HMAC-SHA256 of it under a key derived from
SECRET_KEY): the nonce, the registration id, the target link, the expiry, whether Platform Storage
was offered, and the login's own parameters (so a launch refused for want of a browser binding can
restart the login in a new top-level window, views.py). Nothing secret: the platform sent or will
see all of it. The browser bindings are secret, and are not in the state: they are HMACs of the
state under the server key (`binding`), so only the tool can compute them and one state's binding
says nothing about another's.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from lti_tool.launch.hot_sql import HotSQL

# The login parameters kept in the state to restart a login at top level (and nothing else: the
# state goes through the platform's URL, so it stays small).
# (`iss` and `target_link_uri` are fields of their own.)
RESTART_PARAMS = ("login_hint", "client_id", "lti_deployment_id", "lti_message_hint")
_VERSION = 1


@dataclass(frozen=True)
class LoginState:
    nonce: str
    platform_id: int
    iss: str
    client_id: str  # the registration's (the login request may not name it)
    target_link_uri: str
    expires_at: int  # epoch seconds
    storage_target: str | None
    login_params: dict[str, str]


@functools.lru_cache(maxsize=16)  # a few (secret, purpose) pairs per process: each launch needs 2
def _key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), b"lti-login-state/" + purpose.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret_key: str, *, platform_id: int, iss: str, client_id: str, target_link_uri: str,
          ttl: int,
          storage_target: str | None, login_params: dict[str, str]) -> tuple[str, LoginState]:
    """A new login: returns (state string, LoginState)."""
    login = LoginState(
        nonce=secrets.token_urlsafe(18),
        platform_id=platform_id,
        iss=iss,
        client_id=client_id,
        target_link_uri=target_link_uri,
        expires_at=int(time.time()) + ttl,
        storage_target=storage_target,
        login_params={k: login_params[k] for k in RESTART_PARAMS if login_params.get(k)},
    )
    payload = _b64(json.dumps(
        [_VERSION, login.nonce, login.platform_id, login.iss, login.client_id,
         login.target_link_uri, login.expires_at, login.storage_target, login.login_params],
        separators=(",", ":")).encode())
    mac = hmac.new(_key(secret_key, "sign"), payload.encode(), hashlib.sha256).digest()[:20]
    return f"{payload}.{_b64(mac)}", login


def read(secret_key: str, state: str, now: float | None = None) -> LoginState | None:
    """The state's login if the tool signed it and it has not expired, else None."""
    payload, _, mac = state.partition(".")
    if not payload or not mac or len(state) > 8192:
        return None
    expected = hmac.new(_key(secret_key, "sign"), payload.encode(), hashlib.sha256).digest()[:20]
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        data = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, list) or len(data) != 9 or data[0] != _VERSION:
        return None
    login = LoginState(*data[1:])
    if login.expires_at <= (time.time() if now is None else now):
        return None
    return login


def restart_params(login: LoginState) -> dict[str, str]:
    """The parameters of the login request that started this state (to start it again)."""
    return {"iss": login.iss, "target_link_uri": login.target_link_uri, **login.login_params}


def binding(secret_key: str, state: str, channel: str) -> str:
    """The secret that proves a browser started this login: `cookie` (set with the login's
    redirect) or `storage` (put in the platform's storage by the login page). Two channels, two
    values: the cookie's value is never accepted as a storage proof."""
    return _b64(hmac.new(_key(secret_key, channel), state.encode(), hashlib.sha256).digest()[:24])


class NonceLedger(Protocol):
    def consume(self, nonce: str, expires_at: int) -> bool:
        """True the first time a nonce is presented, False ever after (until it expires)."""
        ...


PURGE_ONE_IN = 200


class DatabaseNonces:
    def __init__(self, session: Session) -> None:
        self.sql = HotSQL.of(session)

    def consume(self, nonce: str, expires_at: int) -> bool:
        # One statement, atomic on both engines: the primary key lets exactly one insert through
        # (a concurrent second one waits for the first's commit, then does nothing).
        self.sql.run(
            "INSERT INTO login_state (state, data, expires_at) VALUES (:nonce, :data, :exp) "
            "ON CONFLICT (state) DO NOTHING",
            {"nonce": "nonce:" + nonce, "data": self.sql.json({}),
             "exp": self.sql.at(datetime.fromtimestamp(expires_at, UTC))},
        )
        return self.sql.rowcount() == 1


def purge_now_and_then(session: Session) -> None:
    """Used nonces past their state's expiry, and launch data past its lifetime, about once in
    PURGE_ONE_IN launches: no housekeeping process is needed."""
    if secrets.randbelow(PURGE_ONE_IN) == 0:
        purge_expired(session)


def purge_expired(session: Session) -> None:
    sql = HotSQL.of(session)
    now = {"now": sql.now()}
    sql.run("DELETE FROM login_state WHERE expires_at <= :now", now)
    sql.run("DELETE FROM launch_record WHERE expires_at <= :now", now)


class RedisNonces:
    prefix = "lti:nonce:"

    def __init__(self, client: Any) -> None:
        self.client = client

    def consume(self, nonce: str, expires_at: int) -> bool:
        return bool(self.client.set(self.prefix + nonce, b"1", nx=True, exat=expires_at))
