"""The decision step's database path (issue 11): on PostgreSQL the versioned UPDATE and the event
INSERT are one statement, and its refusals still change nothing; on SQLite the same two writes run
as two statements. Runs on SQLite, and on PostgreSQL with LTI_TEST_BACKEND=postgres."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lti_tool.cases import service
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Level
from lti_tool.db import utcnow
from lti_tool.models import Attempt, AttemptEvent
from tests import backends
from tests.cases.player_support import Player
from tests.cases.test_service import make_learner
from tests.support.minted import minted_platform
from tests.support.statements import recorded


@pytest.fixture
def level(app: Any) -> Level:
    return get_level(app.extensions["settings"].content_dir)


@pytest.fixture
def db(app: Any) -> Iterator[Session]:
    session = app.extensions["db_sessionmaker"]()
    yield session
    session.close()


def statements(app: Any) -> Any:
    """The SQL the app's engine sends through SQLAlchemy meanwhile (raw driver cursors aside)."""
    return recorded(app.extensions["db_engine"])


def test_a_step_is_one_write_statement_on_postgresql(app: Any, client: Any) -> None:
    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    player.start("case-1")
    form = player.page.form("/choice")
    data = {**player.page.fields(form), "choice": player.page.choices()[0]}

    with statements(app) as sent:
        response = client.post(form.attrs["action"], data=data)

    assert response.status_code == 303
    writes = [s for s in sent if not s.startswith("SELECT")]
    if backends.backend() == "postgres":
        assert len(writes) == 1 and writes[0].startswith("WITH step AS (UPDATE attempt"), sent
    else:
        assert [w.split()[0] for w in writes] == ["UPDATE", "INSERT"], sent
    assert len(sent) == len(writes) + 1, f"one read (the attempt) besides the token's: {sent}"


def test_an_event_already_stored_for_the_step_refuses_it_and_changes_nothing(
        db: Session, level: Level) -> None:
    """The unique (attempt, seq) is the last guard against a double write: the step is refused
    whole, the attempt's UPDATE with it."""
    learner = make_learner(db)
    case = level.cases["case-1"]
    attempt = service.start_attempt(db, learner, case)
    db.execute(insert(AttemptEvent).values(attempt_id=attempt.id, seq=1, node="d1",
                                           choice="d1-a", events=[], created_at=utcnow()))
    db.commit()

    with pytest.raises(service.StaleForm):
        service.choose(db, case, attempt, "d1-b", 1)
    db.rollback()

    row = db.scalars(select(Attempt).execution_options(populate_existing=True)).one()
    assert (row.version, row.feedback_seq, row.state["node"]) == (1, None, "d1")
    assert [e.choice for e in service.attempt_events(db, attempt.id)] == ["d1-a"]


def test_a_finishing_step_stores_the_result_in_the_same_statement(
        db: Session, level: Level) -> None:
    learner = make_learner(db)
    case = level.cases["case-1"]
    attempt = service.start_attempt(db, learner, case)
    db.commit()
    for decision in case.decisions:
        if attempt.state["node"] != decision.id:
            continue
        result = service.choose(db, case, attempt, decision.best.id, attempt.version)
        service.acknowledge(db, attempt, attempt.version)
    db.commit()
    assert result.state.finished

    row = db.scalars(select(Attempt).execution_options(populate_existing=True)).one()
    assert row.finished_at is not None and row.passed and row.outcome == attempt.outcome
    assert row.version == attempt.version and row.score == attempt.score
    events = service.attempt_events(db, attempt.id)
    assert [e.seq for e in events] == list(range(1, len(case.decisions) + 1))
    assert service.replay_events(case, events).to_dict() == row.state
