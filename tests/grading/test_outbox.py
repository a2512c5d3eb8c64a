"""The outbox delivering scores to the live demo LMS (lti1p3platform, over HTTP): outage and
recovery, 409 and 400 handled, the newest score only, compare-and-set, line items, give-up."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from lti_tool.db import get_session
from lti_tool.grading import ags
from lti_tool.grading.outbox import Backoff, lag, retry
from lti_tool.grading.service import TOPIC, enqueue, outbox_key
from lti_tool.grading.worker import Drainer, install_wakeup
from lti_tool.launch.service_connector import token_cache_key
from lti_tool.models import LineItem, OutboxMessage, Platform, ResourceLink, Score
from tests.functional.conftest import live as live_fixture  # noqa: F401  (fixture "live")
from tests.grading.delivery_support import (
    FAST,
    add_link,
    add_score,
    delivery,
    launch_both,
    make_line_item,
    received,
    rows,
    run_batch,
    scores,
    start,
    switch,
    token,
)

MS = timedelta(seconds=1)  # the step between two scores: Moodle compares whole seconds


@pytest.fixture
def live(live_fixture: Any) -> Any:  # noqa: F811
    """tests/functional's live tool + demo LMS, served over HTTP on loopback."""
    return live_fixture
DEMO_LEARNER = "demo-user-alex-tremblay"


def _wait(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_outage_then_recovery_every_final_score_arrives_once_in_order(live: Any) -> None:
    ids = launch_both(live)
    links = [ids.link] + [add_link(live, f"link-{i}", make_line_item(live, f"Activité {i}"))
                          for i in range(3)]
    t0 = start()
    # 503 for the next 6 calls, then 429 + Retry-After: 1 for 6 calls, then up again.
    switch(live, "sequence", calls=6, retry_after=1)
    for i, link in enumerate(links):
        add_score(live.app, ids.learner, link, at=t0 + i * MS, activity="Started", grading="NotReady")
    teacher_score = add_score(live.app, ids.instructor, ids.link, at=t0, given=50)
    drainer = Drainer(live.app, batch=3, poll=0.05, backoff=FAST)
    install_wakeup(live.app, drainer.wake)
    thread = threading.Thread(target=drainer.drain, daemon=True)
    thread.start()
    try:
        _wait(lambda: switch_state(live)["refused_503"] >= 3)
        # Progress while the LMS is down: newer scores for the same learner + link.
        finals: dict[int, int] = {}
        for step in (1, 2):
            for i, link in enumerate(links):
                finals[link] = add_score(live.app, ids.learner, link, at=t0 + (10 * step + i) * MS,
                                         given=20.0 * step + i)
            time.sleep(0.2)
        _wait(lambda: all(r.status != "pending" for r in rows(live.app)))
    finally:
        drainer.stop.set()
        drainer.wake.set()
        thread.join(timeout=15)
    state = switch_state(live)
    assert (state["refused_503"], state["refused_429"]) == (6, 6)

    got = received(live)
    assert {s["user_id"] for s in got} == {DEMO_LEARNER}  # the teacher's score was refused
    by_item: dict[str, list[dict[str, Any]]] = {}
    for s in got:
        by_item.setdefault(s["line_item_id"], []).append(s)
    assert len(by_item) == len(links)
    final_scores = {s.id: s for s in scores(live.app)}
    for item_scores in by_item.values():
        stamps = [datetime.fromisoformat(s["timestamp"]) for s in item_scores]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # in order, none twice
    finals_given = sorted(final_scores[f].score_given for f in finals.values())
    assert sorted(items[-1]["score_given"] for items in by_item.values()) == finals_given
    for final in finals.values():
        assert final_scores[final].delivery == "sent"
        assert final_scores[final].delivered_at is not None
    # Only the newest reached the LMS; those it replaced are marked.
    assert {s.delivery for s in final_scores.values() if s.learner_id == ids.learner} <= {
        "sent", "superseded"}

    teacher = final_scores[teacher_score]
    assert (teacher.delivery, teacher.lms_status) == ("failed", 400)
    assert "not gradable" in (teacher.lms_message or "")
    teacher_row = next(r for r in rows(live.app) if r.ref_id == teacher_score)
    assert (teacher_row.status, teacher_row.last_status) == ("failed", 400)
    assert "not gradable" in (teacher_row.last_error or "")
    # Permanent: nothing is retried any more.
    assert run_batch(live.app, delivery(live.app)).claimed == 0


def switch_state(live: Any) -> dict[str, Any]:
    import requests

    return dict(requests.get(f"{live.lms.base_url}/demo/api/score-endpoint", timeout=10).json())


def test_retry_after_is_honoured_and_the_token_is_never_in_the_reason(live: Any) -> None:
    ids = launch_both(live)
    add_score(live.app, ids.learner, ids.link, at=start(), given=10)
    switch(live, "busy", retry_after=30)
    d = delivery(live.app)
    before = datetime.now(UTC)
    result = run_batch(live.app, d)
    assert result.outcomes == {"Retry": 1}
    (row,) = rows(live.app)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 429)
    assert row.available_at >= before + timedelta(seconds=29)
    assert "Bearer" not in (row.last_error or "") and token(live, ags.SCOPE_SCORE) not in (
        row.last_error or "")
    switch(live, "up")
    assert run_batch(live.app, d).claimed == 0  # not due before the LMS's Retry-After
    assert received(live) == []


def test_a_stale_timestamp_409_is_settled_not_retried(live: Any) -> None:
    ids = launch_both(live)
    t0 = start()
    add_score(live.app, ids.learner, ids.link, at=t0 + 5 * MS, given=80)
    d = delivery(live.app)
    assert run_batch(live.app, d).outcomes == {"Delivered": 1}
    stale = add_score(live.app, ids.learner, ids.link, at=t0, given=90)  # older than the LMS's
    assert run_batch(live.app, d).outcomes == {"Superseded": 1}
    (row,) = rows(live.app)
    assert (row.status, row.last_status, row.attempts) == ("sent", 409, 1)
    score = next(s for s in scores(live.app) if s.id == stale)
    assert (score.delivery, score.lms_status) == ("superseded", 409)
    assert run_batch(live.app, d).claimed == 0
    assert [s["score_given"] for s in received(live)] == [80]


def test_only_the_newest_score_is_sent(live: Any) -> None:
    ids = launch_both(live)
    t0 = start()
    first = add_score(live.app, ids.learner, ids.link, at=t0, activity="Started", grading="NotReady")
    second = add_score(live.app, ids.learner, ids.link, at=t0 + MS, given=33)
    third = add_score(live.app, ids.learner, ids.link, at=t0 + 2 * MS, given=66)
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Delivered": 1}
    assert [s["score_given"] for s in received(live)] == [66]
    delivered = {s.id: s.delivery for s in scores(live.app)}
    assert delivered == {first: "superseded", second: "superseded", third: "sent"}


class _NewScoreDuringPost(ags.AgsClient):
    """A learner finishes a case while the worker is posting their previous score."""

    def __init__(self, app: Any, ids: Any, at: datetime) -> None:
        super().__init__()
        self.app, self.ids, self.at = app, ids, at
        self.newer: int | None = None

    def post_score(self, registration: Any, lineitem_url: str, post: ags.ScorePost) -> ags.Outcome:
        outcome = super().post_score(registration, lineitem_url, post)
        if self.newer is None:
            self.newer = add_score(self.app, self.ids.learner, self.ids.link, at=self.at, given=99)
        return outcome


def test_a_score_written_during_delivery_is_sent_next(live: Any) -> None:
    ids = launch_both(live)
    t0 = start()
    first = add_score(live.app, ids.learner, ids.link, at=t0, given=40)
    client = _NewScoreDuringPost(live.app, ids, t0 + MS)
    d = delivery(live.app, client=client)
    assert run_batch(live.app, d).outcomes == {"Delivered": 1}
    (row,) = rows(live.app)
    # The compare-and-set saw ref_id change: the row stays pending for the newer score.
    assert (row.status, row.ref_id, row.lease_token) == ("pending", client.newer, None)
    assert next(s for s in scores(live.app) if s.id == first).delivery == "sent"
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Delivered": 1}
    assert [s["score_given"] for s in received(live)] == [40, 99]
    assert rows(live.app)[0].status == "sent"


def test_a_refused_token_is_dropped_and_fetched_again_once(live: Any) -> None:
    ids = launch_both(live)
    add_score(live.app, ids.learner, ids.link, at=start(), given=70)
    cache = live.app.extensions["token_cache"]
    key = token_cache_key(live.lms.issuer, live.lms.client_id, [ags.SCOPE_SCORE])
    cache.set(key, "revoked-token", 300)
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Delivered": 1}
    assert cache.get(key) not in (None, "revoked-token")
    assert [s["score_given"] for s in received(live)] == [70]


def test_a_deleted_line_item_is_a_permanent_failure(live: Any) -> None:
    import requests

    ids = launch_both(live)
    url = make_line_item(live, "Supprimée")
    link = add_link(live, "gone", url)
    assert requests.delete(url, timeout=10, headers={
        "Authorization": f"Bearer {token(live, ags.SCOPE_LINEITEM)}"}).status_code in (200, 204)
    add_score(live.app, ids.learner, link, at=start(), given=50)
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Permanent": 1}
    (row,) = rows(live.app)
    assert (row.status, row.last_status) == ("failed", 404)
    assert received(live) == []


def test_a_line_item_is_created_once_when_the_launch_had_none(live: Any) -> None:
    ids = launch_both(live)
    with live.app.app_context():
        session = get_session()
        lineitems = session.execute(select(ResourceLink.lineitems_url)).scalar_one()
        session.execute(update(ResourceLink).values(lineitem_url=None,
                                                    ags_scopes=[ags.SCOPE_LINEITEM, ags.SCOPE_SCORE]))
        session.commit()
        session.close()
    t0 = start()
    add_score(live.app, ids.learner, ids.link, at=t0, given=10)
    d = delivery(live.app)
    assert run_batch(live.app, d).outcomes == {"Delivered": 1}
    add_score(live.app, ids.learner, ids.link, at=t0 + MS, given=20)
    assert run_batch(live.app, d).outcomes == {"Delivered": 1}
    with live.app.app_context():
        session = get_session()
        (item,) = session.execute(select(LineItem)).scalars()
        session.close()
    assert item.created_by_tool and item.tag == ags.TOOL_TAG and item.url.startswith(lineitems)
    import requests

    state = requests.get(f"{live.lms.base_url}/demo/api/state", timeout=10).json()
    created = [li for li in state["line_items"] if li.get("tag") == ags.TOOL_TAG]
    assert len(created) == 1 and created[0]["resource_link_id"] == "rl-niveau-architecte"
    assert {s["line_item_id"] for s in state["scores"]} == {created[0]["id"]}
    assert [s["score_given"] for s in state["scores"]] == [10, 20]


def test_no_line_item_and_no_scope_to_create_one_is_permanent(live: Any) -> None:
    ids = launch_both(live)
    link = add_link(live, "no-item", None, lineitems_url=None, scopes=[ags.SCOPE_SCORE])
    add_score(live.app, ids.learner, link, at=start(), given=10)
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Permanent": 1}
    (row,) = rows(live.app)
    assert row.status == "failed" and "no line item" in (row.last_error or "")


def test_an_untrusted_registration_gets_nothing_sent(live: Any) -> None:
    ids = launch_both(live)
    add_score(live.app, ids.learner, ids.link, at=start(), given=10)
    with live.app.app_context():
        session = get_session()
        session.execute(update(Platform).values(status="pending"))
        session.commit()
        session.close()
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Permanent": 1}
    (row,) = rows(live.app)
    assert row.status == "failed" and "not trusted for services" in (row.last_error or "")
    assert received(live) == []


def test_gives_up_after_seven_days_then_an_operator_retry_delivers(live: Any) -> None:
    ids = launch_both(live)
    week_ago = datetime.now(UTC) - timedelta(days=7, minutes=1)
    add_score(live.app, ids.learner, ids.link, at=start(), given=10, created_at=week_ago)
    switch(live, "down")
    d = delivery(live.app)
    assert run_batch(live.app, d).outcomes == {"Retry": 1}
    (row,) = rows(live.app)
    assert row.status == "failed" and (row.last_error or "").startswith("gave up after 7 days")
    assert scores(live.app)[0].delivery == "failed"
    with live.app.app_context():
        session = get_session()
        assert lag(session)["failed"] == 1
        assert retry(session, failed=True) == 1
        session.commit()
        session.close()
    switch(live, "up")
    assert run_batch(live.app, d).outcomes == {"Delivered": 1}
    assert rows(live.app)[0].status == "sent" and scores(live.app)[0].delivery == "sent"


def test_backoff_has_full_jitter_and_respects_retry_after() -> None:
    backoff = Backoff(multiplier=2, maximum=60)
    waits = [backoff.wait(5) for _ in range(200)]
    assert all(5 <= w <= 32 for w in waits) and max(waits) - min(waits) > 5  # jittered, floor 5 s
    assert all(backoff.wait(20) <= 60 for _ in range(50))
    assert all(backoff.wait(1, retry_after=120) >= 120 for _ in range(20))
    assert backoff.wait(1, retry_after=10**9) <= backoff.retry_after_cap


def test_a_commit_writing_the_outbox_wakes_the_drainer(live: Any) -> None:
    ids = launch_both(live)
    wake = threading.Event()
    install_wakeup(live.app, wake)
    with live.app.app_context():
        session = get_session()
        session.add(Score(learner_id=ids.learner, resource_link_id=ids.link, reason="started",
                          activity_progress="Started", grading_progress="NotReady",
                          timestamp=start()))
        session.flush()
        score_id = session.execute(select(Score.id)).scalar_one()
        enqueue(session, TOPIC, outbox_key(ids.learner, ids.link), score_id, datetime.now(UTC))
        session.rollback()
        assert not wake.is_set()
        enqueue(session, TOPIC, outbox_key(ids.learner, ids.link), 1, datetime.now(UTC))
        assert not wake.is_set()
        session.commit()
        session.close()
    assert wake.is_set()


def test_operator_commands_list_retry_and_lag(live: Any) -> None:
    import json

    ids = launch_both(live)
    add_score(live.app, ids.instructor, ids.link, at=start(), given=10)
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Permanent": 1}  # 400
    add_score(live.app, ids.learner, ids.link, at=start(), given=10)
    switch(live, "down")
    run_batch(live.app, delivery(live.app, backoff=Backoff(multiplier=600, maximum=600)))
    switch(live, "up")
    runner = live.app.test_cli_runner()
    from lti_tool.cli import scores as scores_group

    failed = runner.invoke(scores_group, ["list", "--failed"])
    assert failed.exit_code == 0, failed.output
    assert "demo-user-camille-roy" in failed.output and "400" in failed.output
    assert "not gradable" in failed.output and "alex" not in failed.output
    pending = runner.invoke(scores_group, ["list", "--pending"])
    assert "demo-user-alex-tremblay" in pending.output and "503" in pending.output
    assert "pending 1" in pending.output and "failed 1" in pending.output
    figures = json.loads(runner.invoke(scores_group, ["lag", "--json"]).output)
    assert (figures["pending"], figures["failed"], figures["sent"]) == (1, 1, 0)
    assert figures["oldest_pending_age_seconds"] >= 0
    pending_id = next(r.id for r in rows(live.app) if r.status == "pending")
    assert runner.invoke(scores_group, ["retry", "--id", str(pending_id)]).output.startswith("1 ")
    assert runner.invoke(scores_group, ["retry"]).exit_code != 0
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Delivered": 1}
    assert runner.invoke(scores_group, ["retry", "--failed"]).output.startswith("1 ")
    assert run_batch(live.app, delivery(live.app)).outcomes == {"Permanent": 1}  # still a teacher
    with live.app.app_context():
        session = get_session()
        statuses = dict(session.execute(select(OutboxMessage.key, OutboxMessage.status)).all())
        session.close()
    assert statuses == {outbox_key(ids.learner, ids.link): "sent",
                        outbox_key(ids.instructor, ids.link): "failed"}
