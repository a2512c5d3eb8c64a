"""Awarding exactly once (issue 8, item 5): the award row and its outbox message written once per
learner even when two workers handle two completions at the same moment (two threads, two
database connections), one issuer call; re-evaluation after an agreement is recorded; the
progress call sites; `lti-tool awards list --json | revoke | retry`, and bad input that exits
non-zero and changes nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.badges import awards as service
from lti_tool.badges import registry
from lti_tool.badges.cli_awards import awards as awards_cli
from lti_tool.cases import service as cases
from lti_tool.cases.loader import get_level
from lti_tool.db import utcnow
from lti_tool.launch.registry import add_platform
from lti_tool.models import Award, Learner, OutboxMessage, Platform
from lti_tool.models.outbox import PENDING, SENT
from tests.badges import providers
from tests.badges.attestation_support import ANSWERS
from tests.badges.providers import award_row, make_award, make_learner, outbox_rows, run
from tests.support.statements import recorded

ORG, TERRITORY = "css-des-rives", "longueuil"


# -- a world of eligible learners ---------------------------------------------------------------
@dataclass
class World:
    platform_id: int
    learners: list[int]


def build_world(app: Any, n: int = 1, *, verified: bool = True) -> World:
    """A registration mapped to an organisation in a territory with a concluded agreement
    (verified unless said), and `n` learners who passed the three cases and submitted the three
    reflections (with an email, for external issuers)."""
    level = get_level(app.extensions["settings"].content_dir)
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            platform = add_platform(session, issuer="https://moodle.cssdesrives.example",
                                    client_id="client-1", auth_url="https://moodle.example/auth",
                                    token_url="https://moodle.example/token",
                                    jwks_url="https://moodle.example/jwks", deployment_ids=["1"])
            platform.organisation_code = ORG
            registry.add_territory(session, TERRITORY, name="Longueuil",
                                   police_force="Service de police de l'agglomération de Longueuil")
            registry.add_organisation(session, ORG, name="CSS des Rives", territory_code=TERRITORY)
            registry.set_agreement(session, TERRITORY, concluded_on=date(2023, 5, 1),
                                   verified=verified, suspended=False)
            learners = []
            for i in range(n):
                learner = Learner(platform_id=platform.id, sub=f"moodle-user-{i}", given_name="Anne",
                                  family_name=f"Roy{i}", email=f"anne.roy{i}@css.example",
                                  locale="fr-CA")
                session.add(learner)
                session.flush()
                for case in level.cases.values():
                    attempt = cases.start_attempt(session, learner.id, case)
                    for decision in case.decisions:
                        cases.choose(session, case, attempt, decision.best.id, attempt.version)
                        cases.acknowledge(session, attempt, attempt.version)
                assert cases.submit_reflections(session, learner.id, level.reflections, ANSWERS).ok
                learners.append(learner.id)
            session.commit()
            return World(platform.id, learners)


def award_if_eligible(app: Any, learner_id: int) -> int | None:
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            award = service.award_if_eligible(session, learner_id, level=get_level(
                app.extensions["settings"].content_dir), now=utcnow())
            session.commit()
            return award.id if award else None


def counts(app: Any) -> tuple[int, int]:
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            return (session.scalar(select(func.count()).select_from(Award)) or 0,
                    session.scalar(select(func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.topic == service.TOPIC)) or 0)


# -- awarding -------------------------------------------------------------------------------------
def test_eligible_learner_gets_one_award_and_one_outbox_message(app: Any) -> None:
    w = build_world(app)
    award_id = award_if_eligible(app, w.learners[0])
    assert award_id is not None
    assert award_if_eligible(app, w.learners[0]) is None  # the second completion changes nothing
    award = award_row(app, award_id)
    assert (award.status, award.issuer, award.achievement, award.organisation_code) == \
        ("pending", "embedded", "architecte", ORG)
    [row] = outbox_rows(app)
    assert (row.key, row.ref_id, row.status) == (str(award_id), award_id, PENDING)
    assert counts(app) == (1, 1)


def test_before_the_reflections_a_completion_checks_one_statement_and_awards_no_one(
        app: Any) -> None:
    """Finishing a case before the reflections (most completions) costs one round trip, not the
    gathering of every fact (issue 11), and awards no one."""
    from lti_tool.models import ReflectionAnswer

    w = build_world(app)
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            session.query(ReflectionAnswer).filter_by(learner_id=w.learners[0]).update(
                {"submitted_at": None})
            session.commit()
    with recorded(app.extensions["db_engine"]) as statements:
        assert award_if_eligible(app, w.learners[0]) is None
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert counts(app) == (0, 0)


def test_unverified_agreement_awards_no_one_until_recorded_then_once(app: Any) -> None:
    w = build_world(app, 2, verified=False)
    assert award_if_eligible(app, w.learners[0]) is None
    assert counts(app) == (0, 0)
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            territory, _ = registry.set_agreement(session, TERRITORY, concluded_on=date(2023, 5, 1),
                                                  verified=True, suspended=False)
            created = service.reevaluate(session, territory_id=territory.id, now=utcnow())
            session.commit()
            assert sorted(a.learner_id for a in created) == sorted(w.learners)
            assert service.reevaluate(session, territory_id=territory.id, now=utcnow()) == []
            assert service.reevaluate(session, organisation_code=ORG, now=utcnow()) == []
    assert counts(app) == (2, 2)


def test_two_connections_racing_on_the_insert_give_one_award(app: Any) -> None:
    """Connection A has inserted (not committed); B's insert waits on the unique index (PostgreSQL)
    or the write lock (SQLite); A commits; B inserts nothing and enqueues nothing."""
    learner = make_learner(app)
    maker = app.extensions["db_sessionmaker"]
    results: dict[str, Any] = {}
    with app.app_context():
        first = maker()
        try:
            a = service.record_award(first, learner, now=utcnow(), issuer="badgr")
            assert a is not None

            def second() -> None:
                with app.app_context(), maker() as session:
                    results["connection"] = id(session.connection().connection.dbapi_connection)
                    results["award"] = service.record_award(session, learner, now=utcnow(),
                                                            issuer="badgr")
                    session.commit()

            thread = threading.Thread(target=second)
            thread.start()
            thread.join(timeout=1.0)
            assert thread.is_alive(), "B should be waiting for A's transaction"
            assert results.get("connection") != id(first.connection().connection.dbapi_connection)
            first.commit()
            thread.join(timeout=30)
            assert not thread.is_alive()
        finally:
            first.close()
    assert results["award"] is None
    assert counts(app) == (1, 1)


def test_two_workers_two_completions_same_moment_one_award_one_issuer_call(
        database_url: str, redis_url: str | None, keys_dir: Path, tmp_path: Path) -> None:
    with providers.serve("badgr") as provider:
        app = providers.make_app(database_url, redis_url, keys_dir, tmp_path,
                                 **providers.settings_for("badgr", provider.url))
        try:
            w = build_world(app)
            barrier = threading.Barrier(2)
            created: list[int | None] = []
            errors: list[BaseException] = []

            def complete() -> None:
                try:
                    barrier.wait(timeout=10)
                    created.append(award_if_eligible(app, w.learners[0]))
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=complete) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert not errors, errors
            assert len([c for c in created if c is not None]) == 1
            assert counts(app) == (1, 1)

            # Two workers drain at the same moment: the row is leased to one of them.
            barrier2 = threading.Barrier(2)
            outcomes: list[Any] = []

            def drain() -> None:
                barrier2.wait(timeout=10)
                outcomes.append(run(app))

            workers = [threading.Thread(target=drain) for _ in range(2)]
            for t in workers:
                t.start()
            for t in workers:
                t.join(timeout=60)
            assert sorted(o.claimed for o in outcomes) == [0, 1]
            assert provider.award_calls() == [("POST", f"/v2/badgeclasses/{providers.BADGECLASS}/"
                                                        "assertions")]
            assert len(provider.issued) == 1
            [award] = [award_row(app, c) for c in created if c is not None]
            assert award.status == "awarded"
        finally:
            providers.close_app(app)


def test_the_worker_delivers_the_badge_topic(app: Any) -> None:
    from lti_tool.grading.worker import Drainer

    award_id = make_award(app, make_learner(app), issuer="none")
    drainer = Drainer(app, poll=0.05)
    assert drainer.drain(once=True) == 1
    assert award_row(app, award_id).status == "awarded"
    assert outbox_rows(app)[0].status == SENT


def test_submitting_the_last_reflections_awards_the_badge(app: Any, client: Any) -> None:
    """The call site: the player's progress event, in the request's transaction."""
    from tests.cases.player_support import Player, pass_all_cases
    from tests.cases.test_reflections import QUESTIONS, words
    from tests.support.minted import minted_platform

    with minted_platform(app) as platform:
        player = Player.launch(client, platform)
    learner_id = pass_all_cases(app)
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            registry.add_territory(session, TERRITORY, name="Longueuil", police_force="SPAL")
            registry.add_organisation(session, ORG, name="CSS des Rives", territory_code=TERRITORY)
            registry.set_agreement(session, TERRITORY, concluded_on=date(2023, 5, 1), verified=True,
                                   suspended=False)
            for p in session.scalars(select(Platform)):
                p.organisation_code = ORG
            session.commit()
    assert counts(app) == (0, 0)
    player.get(player.page.path + "?t=" + player.token)
    player.follow("Répondre aux questions de réflexion")
    page = player.submit("/reflections", **{f"answer-{q}": words(35, q) for q in QUESTIONS})
    assert page.tree.find(**{"data-testid": "submitted"})
    assert counts(app) == (1, 1)
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            assert session.scalar(select(Award.learner_id)) == learner_id


# -- operators ------------------------------------------------------------------------------------
@pytest.fixture
def badgr(database_url: str, redis_url: str | None, keys_dir: Path,
          tmp_path: Path) -> Iterator[tuple[providers.Provider, Any]]:
    with providers.serve("badgr") as provider:
        app = providers.make_app(database_url, redis_url, keys_dir, tmp_path,
                                 **providers.settings_for("badgr", provider.url))
        try:
            yield provider, app
        finally:
            providers.close_app(app)


def cli(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(awards_cli, list(args))


def test_awards_list_json_one_object_per_award(badgr: Any) -> None:
    _provider, app = badgr
    done = make_award(app, make_learner(app, "sub-done", email="a@css.example"))
    waiting = make_award(app, make_learner(app, "sub-waiting", email="b@css.example"))
    run(app)
    with app.app_context():  # the second is still waiting for the issuer
        with app.extensions["db_sessionmaker"]() as session:
            session.get(Award, waiting).status = "pending"
            session.commit()
    result = cli(app, "list", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["id"] for i in items] == [done, waiting]
    for item in items:
        assert {"id", "learner_sub", "status", "issuer", "awarded_at"} <= set(item)
    assert items[0]["learner_sub"] == "sub-done" and items[0]["status"] == "awarded"
    assert items[0]["issuer"] == "badgr" and items[0]["awarded_at"]
    text = cli(app, "list")
    assert text.exit_code == 0 and "sub-waiting" in text.output


def test_awards_list_shows_failures_with_the_issuers_message(badgr: Any) -> None:
    provider, app = badgr
    provider.fail_next(400, {"status": {"success": False}, "validationErrors": ["Badge class is archived"]})
    make_award(app, make_learner(app))
    run(app)
    result = cli(app, "list")
    assert result.exit_code == 0
    assert "failed" in result.output and "Badge class is archived" in result.output


def test_revoke_calls_the_issuer_and_records_reason_and_time(badgr: Any) -> None:
    provider, app = badgr
    award_id = make_award(app, make_learner(app))
    run(app)
    ref = award_row(app, award_id).issuer_ref
    before = utcnow()
    result = cli(app, "revoke", str(award_id), "--reason", "Attribué par erreur")
    assert result.exit_code == 0, result.output
    award = award_row(app, award_id)
    assert award.status == "revoked" and award.revocation_reason == "Attribué par erreur"
    assert award.revoked_at is not None and award.revoked_at >= before
    assert provider.issued[ref]["revoked"]
    assert provider.issued[ref]["revocationReason"] == "Attribué par erreur"
    items = json.loads(cli(app, "list", "--json").output)
    assert items[0]["status"] == "revoked"


def test_revoke_bad_input_exits_non_zero_and_changes_nothing(badgr: Any) -> None:
    provider, app = badgr
    award_id = make_award(app, make_learner(app))
    run(app)
    calls = len(provider.calls)
    for args, message in ((["revoke", "999", "--reason", "x"], "no award #999"),
                          (["revoke", str(award_id), "--reason", "   "], "reason is required"),
                          (["revoke", "abc", "--reason", "x"], "abc"),
                          (["revoke", str(award_id)], "--reason")):
        result = cli(app, *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert award_row(app, award_id).status == "awarded"
    assert len(provider.calls) == calls  # the issuer was not called
    assert cli(app, "revoke", str(award_id), "--reason", "erreur").exit_code == 0
    revoked_at = award_row(app, award_id).revoked_at
    again = cli(app, "revoke", str(award_id), "--reason", "encore")
    assert again.exit_code != 0 and "already revoked" in again.output
    award = award_row(app, award_id)
    assert award.revoked_at == revoked_at and award.revocation_reason == "erreur"


def test_revoke_when_the_issuer_is_down_records_nothing(database_url: str, redis_url: str | None,
                                                        keys_dir: Path, tmp_path: Path) -> None:
    with providers.serve("badgr") as provider:
        app = providers.make_app(database_url, redis_url, keys_dir, tmp_path,
                                 **providers.settings_for("badgr", provider.url))
        award_id = make_award(app, make_learner(app))
        run(app)
    try:  # the provider is gone (connection refused): a retryable error, nothing recorded
        result = cli(app, "revoke", str(award_id), "--reason", "erreur")
        assert result.exit_code != 0
        assert "did not revoke" in result.output and "nothing recorded" in result.output
        award = award_row(app, award_id)
        assert award.status == "awarded" and award.revoked_at is None
    finally:
        providers.close_app(app)


def test_retry_sends_a_failed_award_again(badgr: Any) -> None:
    provider, app = badgr
    provider.fail_next(400, {"status": {"success": False}, "validationErrors": ["Badge class is archived"]})
    award_id = make_award(app, make_learner(app))
    run(app)
    assert award_row(app, award_id).status == "failed"
    result = cli(app, "retry", str(award_id))
    assert result.exit_code == 0 and f"#{award_id}" in result.output
    award = award_row(app, award_id)
    assert award.status == "pending" and award.last_error is None
    [row] = outbox_rows(app)
    assert row.status == PENDING and row.attempts == 0
    assert run(app).outcomes == {"Issued": 1}  # due now, not after a backoff
    assert award_row(app, award_id).status == "awarded"


def test_retry_without_id_takes_every_failed_award(badgr: Any) -> None:
    provider, app = badgr
    provider.fail_next(400, {"validationErrors": ["archived"]})
    provider.fail_next(400, {"validationErrors": ["archived"]})
    ids = [make_award(app, make_learner(app, f"s{i}", email=f"s{i}@css.example")) for i in range(2)]
    run(app)
    assert {award_row(app, i).status for i in ids} == {"failed"}
    result = cli(app, "retry")
    assert result.exit_code == 0 and "2 award(s) due again" in result.output
    assert run(app).outcomes == {"Issued": 2}


def test_retry_bad_input_exits_non_zero_and_changes_nothing(badgr: Any) -> None:
    _provider, app = badgr
    award_id = make_award(app, make_learner(app))
    run(app)
    before = outbox_rows(app)[0]
    for args, message in ((["retry", "999"], "no award #999"),
                          (["retry", str(award_id)], "only a failed or pending award"),
                          (["retry", "x"], "x")):
        result = cli(app, *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert award_row(app, award_id).status == "awarded"
    after = outbox_rows(app)[0]
    assert (after.status, after.attempts, after.updated_at) == (before.status, before.attempts,
                                                                before.updated_at)
    none = cli(app, "retry")
    assert none.exit_code == 0 and "0 award(s)" in none.output
