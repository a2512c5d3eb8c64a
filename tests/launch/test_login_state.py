"""Login records are single-use and expire; abandoned ones are purged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from lti_tool.db import get_session, utcnow
from lti_tool.launch.login_state import DatabaseLoginStates
from lti_tool.models import LoginState


def _count(session: Any) -> int:
    return session.execute(select(func.count()).select_from(LoginState)).scalar_one()


def test_expired_login_is_neither_peeked_nor_consumed_and_is_purged(app: Any) -> None:
    with app.test_request_context():
        session = get_session()
        store = DatabaseLoginStates(session)
        store.save("fresh", {"nonce": "a"}, 600)
        store.save("stale", {"nonce": "b"}, 600)
        session.execute(
            text("UPDATE login_state SET expires_at = :past WHERE state = 'stale'"),
            {"past": utcnow() - timedelta(seconds=1)},
        )
        assert store.peek("stale") is None and store.consume("stale") is None
        assert store.peek("fresh") == {"nonce": "a"}
        store.purge_expired()
        assert _count(session) == 1
        assert store.consume("fresh") == {"nonce": "a"}
        assert store.consume("fresh") is None
        assert _count(session) == 0
