"""The stateless login state (lti_tool/launch/login_state.py): signed, expiring, its nonce used
once; used nonces expire with their state and are purged."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from lti_tool.db import get_session, utcnow
from lti_tool.launch import login_state
from lti_tool.launch.login_state import DatabaseNonces, purge_expired
from lti_tool.models import LoginState

SECRET = "s" * 48


def _issue(**overrides: Any) -> tuple[str, login_state.LoginState]:
    values: dict[str, Any] = dict(
        platform_id=3, iss="https://lms.test", client_id="c1",
        target_link_uri="https://tool.test/lti/launch", ttl=600, storage_target=None,
        login_params={"iss": "https://lms.test", "login_hint": "u1", "lti_message_hint": "m",
                      "client_id": "c1", "lti_deployment_id": "d1", "unknown": "dropped"},
    )
    values.update(overrides)
    return login_state.issue(SECRET, **values)


def test_state_round_trips_and_keeps_the_login_parameters() -> None:
    state, login = _issue()
    assert login_state.read(SECRET, state) == login
    assert login_state.restart_params(login) == {
        "iss": "https://lms.test", "target_link_uri": "https://tool.test/lti/launch",
        "login_hint": "u1", "lti_message_hint": "m", "client_id": "c1", "lti_deployment_id": "d1",
    }


def test_forged_tampered_or_expired_state_is_refused() -> None:
    state, login = _issue()
    payload, _, mac = state.partition(".")
    assert login_state.read("another-secret-" + "x" * 40, state) is None
    other, _ = _issue(platform_id=4)
    assert login_state.read(SECRET, other.partition(".")[0] + "." + mac) is None  # swapped payload
    assert login_state.read(SECRET, payload) is None
    assert login_state.read(SECRET, payload + ".AAAA") is None
    assert login_state.read(SECRET, "not a state") is None
    assert login_state.read(SECRET, state, now=login.expires_at) is None
    assert login_state.read(SECRET, state, now=time.time() + 601) is None


def test_bindings_are_secret_and_differ_per_state_and_channel() -> None:
    a, _ = _issue()
    b, _ = _issue()
    assert a != b
    cookie_a = login_state.binding(SECRET, a, "cookie")
    assert cookie_a not in a  # not derivable from the state itself
    assert cookie_a != login_state.binding(SECRET, a, "storage")
    assert cookie_a != login_state.binding(SECRET, b, "cookie")
    assert cookie_a != login_state.binding("another-secret-" + "x" * 40, a, "cookie")


def _count(session: Any) -> int:
    return session.execute(select(func.count()).select_from(LoginState)).scalar_one()


def test_a_nonce_is_consumed_once_and_expired_ones_are_purged(app: Any) -> None:
    with app.test_request_context():
        session = get_session()
        nonces = DatabaseNonces(session)
        later = int(time.time()) + 600
        assert nonces.consume("fresh", later) is True
        assert nonces.consume("fresh", later) is False
        assert nonces.consume("stale", later) is True
        session.execute(
            text("UPDATE login_state SET expires_at = :past WHERE state = 'nonce:stale'"),
            {"past": utcnow() - timedelta(seconds=1)},
        )
        purge_expired(session)
        assert _count(session) == 1
        assert nonces.consume("fresh", later) is False
