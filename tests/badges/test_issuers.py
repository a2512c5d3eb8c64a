"""The external issuer adapters (issue 8, item 3) against local servers that answer like each
provider's documented API (tests/badges/providers.py): success, duplicate (success after a
look-up), 401 with token renewal, 5xx then success, permanent 4xx (recorded, not retried), a
learner without an email, revocation; through the real outbox delivery and database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lti_tool.badges import awards as service
from lti_tool.badges.delivery import NARRATIVE, evidence_for
from lti_tool.badges.issuers import TokenStore, issuer_for, tokens
from lti_tool.badges.issuers.base import AwardInfo, IssuerRefused, Recipient
from lti_tool.db import utcnow
from lti_tool.models.outbox import FAILED, PENDING, SENT
from tests.badges import providers
from tests.badges.providers import award_row, make_award, make_learner, outbox_rows, run

EXTERNAL = ("badgr", "credly", "obf")
OAUTH = ("badgr", "obf")


@pytest.fixture(params=EXTERNAL)
def world(request: pytest.FixtureRequest, database_url: str, redis_url: str | None, keys_dir: Path,
          tmp_path: Path) -> Iterator[tuple[str, providers.Provider, Any]]:
    name = request.param
    with providers.serve(name) as provider:
        app = providers.make_app(database_url, redis_url, keys_dir, tmp_path,
                                 **providers.settings_for(name, provider.url))
        try:
            yield name, provider, app
        finally:
            providers.close_app(app)


def _award_posts(provider: providers.Provider) -> int:
    return len([c for c in provider.calls if c[0] == "POST" and "token" not in c[1]])


def test_success_records_the_badge_with_evidence_link_not_reflections(world: Any) -> None:
    name, provider, app = world
    award_id = make_award(app, make_learner(app))
    result = run(app)
    assert result.outcomes == {"Issued": 1}
    award = award_row(app, award_id)
    assert award.status == "awarded" and award.issuer == name
    assert award.issuer_ref in provider.issued and award.awarded_at is not None
    assert award.last_error is None
    [row] = outbox_rows(app)
    assert row.status == SENT and row.key == str(award_id)
    assert _award_posts(provider) == 1
    body = [b for (m, path), b in zip(provider.calls, provider.bodies, strict=True)
            if m == "POST" and "token" not in path][0]
    evidence = body["evidence"][0]
    # Access-controlled, not the attestation's share link (badge platforms publish evidence).
    assert evidence["url"] == f"https://tool.test/badges/awards/{award_id}/evidence"
    assert "J'ai appris" not in str(body)  # a narrative, never the learner's reflection text
    if name == "badgr":
        assert body["recipient"] == {"identity": "anne.roy@css.example", "type": "email",
                                     "hashed": True}
        assert body["allowDuplicateAwards"] is False
        assert evidence["narrative"] == NARRATIVE and body["issuedOn"].endswith("Z")
    elif name == "credly":
        assert body["recipient_email"] == "anne.roy@css.example"
        assert (body["issued_to_first_name"], body["issued_to_last_name"]) == ("Anne", "Roy")
        assert body["locale"] == "fr-CA" and body["badge_template_id"] == providers.TEMPLATE
    else:
        assert body["recipient"] == [{"email": "anne.roy@css.example", "name": "Anne Roy"}]
        assert isinstance(body["issued_on"], int)
    # The same row is not delivered twice.
    assert run(app, later=True).claimed == 0
    assert _award_posts(provider) == 1


def test_duplicate_at_the_provider_is_success_after_look_up(world: Any) -> None:
    """A worker died after the provider stored the badge: the retry finds it, no second badge."""
    name, provider, app = world
    learner = make_learner(app)
    award_id = make_award(app, learner)
    with app.app_context():
        info = AwardInfo(id=award_id, learner_id=learner, achievement="architecte", issuer=name,
                         issuer_ref=None, eligible_at=utcnow(), awarded_at=None,
                         evidence_url="https://tool.test/e", narrative="n")
        first = issuer_for(name).award(info, Recipient(learner, "moodle-user-7", "anne.roy@css.example",
                                                       "Anne", "Roy"))
    posts_before = _award_posts(provider)
    assert run(app).outcomes == {"Issued": 1}
    award = award_row(app, award_id)
    assert award.status == "awarded" and award.issuer_ref == first.issuer_ref
    assert len(provider.issued) == 1  # still one badge at the provider
    if name == "obf":
        assert _award_posts(provider) == posts_before  # found before issuing
    else:
        assert _award_posts(provider) == posts_before + 1  # refused as duplicate, then looked up
    assert ("GET", provider.calls[-1][1]) == provider.calls[-1]


@pytest.mark.parametrize("world", OAUTH, indirect=True)
def test_401_renews_the_token_once_and_succeeds(world: Any) -> None:
    _name, provider, app = world
    first = make_award(app, make_learner(app, "u-1", email="a@css.example"))
    assert run(app).outcomes == {"Issued": 1}
    assert provider.token_requests == 1
    provider.expire_tokens()  # revoked early at the provider: the cached one now answers 401
    second = make_award(app, make_learner(app, "u-2", email="b@css.example"))
    assert run(app).outcomes == {"Issued": 1}
    assert provider.token_requests == 2
    assert award_row(app, first).status == award_row(app, second).status == "awarded"
    statuses = [c for c in provider.calls if "token" not in c[1]]
    assert len(statuses) >= 3  # award, award refused 401, award again (+ obf look-ups)


@pytest.mark.parametrize("world", OAUTH, indirect=True)
def test_token_is_cached_per_account_and_renewed_before_expiry(world: Any) -> None:
    name, provider, app = world
    make_award(app, make_learner(app, "u-1", email="a@css.example"))
    make_award(app, make_learner(app, "u-2", email="b@css.example"))
    assert run(app).outcomes == {"Issued": 2}
    assert provider.token_requests == 1  # one token for both awards
    store = tokens(app)
    settings = app.extensions["settings"]
    from lti_tool.badges.issuers.base import account_key

    key = account_key(name, provider.url, settings.badgr_username if name == "badgr"
                      else settings.obf_client_id)
    lifetime = provider.token_lifetime
    if settings.redis_url:  # shared by every worker, expiring before the provider's expiry
        ttl_ms = app.extensions["redis"].pttl(TokenStore.prefix + key)
        assert (lifetime - store.margin - 60) * 1000 < ttl_ms <= (lifetime - store.margin) * 1000
    else:
        import time

        token, expires = store._memory[key]
        assert lifetime - store.margin - 60 < expires - time.time() <= lifetime - store.margin


def test_5xx_backs_off_then_succeeds(world: Any) -> None:
    _name, provider, app = world
    provider.fail_next(503, {"error": "maintenance"})
    award_id = make_award(app, make_learner(app))
    before = utcnow()
    assert run(app).outcomes == {"IssuerUnavailable": 1}
    award = award_row(app, award_id)
    assert award.status == "pending" and "503" in (award.last_error or "")
    [row] = outbox_rows(app)
    assert row.status == PENDING and row.attempts == 1 and row.available_at > before
    assert row.last_status == 503
    assert run(app).claimed == 0  # not due yet: backing off
    assert run(app, later=True).outcomes == {"Issued": 1}
    award = award_row(app, award_id)
    assert award.status == "awarded" and award.last_error is None
    assert outbox_rows(app)[0].status == SENT
    assert len(provider.issued) == 1


def test_429_waits_at_least_retry_after(world: Any) -> None:
    _name, provider, app = world
    provider.fail_next(429, {"error": "slow down"}, retry_after="600")
    make_award(app, make_learner(app))
    before = utcnow()
    assert run(app).outcomes == {"IssuerUnavailable": 1}
    assert outbox_rows(app)[0].available_at >= before + timedelta(seconds=600)


def test_permanent_4xx_is_recorded_and_not_retried(world: Any) -> None:
    name, provider, app = world
    message = {"badgr": {"status": {"success": False}, "validationErrors": ["Badge class is archived"]},
               "credly": {"data": {"message": "Badge template is archived"}},
               "obf": {"error": "Badge is archived"}}[name]
    provider.fail_next(400 if name != "credly" else 422, message)
    award_id = make_award(app, make_learner(app))
    assert run(app).outcomes == {"IssuerRefused": 1}
    award = award_row(app, award_id)
    assert award.status == "failed" and "archived" in (award.last_error or "")
    [row] = outbox_rows(app)
    assert row.status == FAILED and "archived" in (row.last_error or "")
    posts = _award_posts(provider)
    assert run(app, later=True).claimed == 0  # not retried
    assert _award_posts(provider) == posts and provider.issued == {}


def test_learner_without_email_fails_with_a_clear_reason_and_no_call(world: Any) -> None:
    name, provider, app = world
    award_id = make_award(app, make_learner(app, email=None))
    assert run(app).outcomes == {"IssuerRefused": 1}
    award = award_row(app, award_id)
    assert award.status == "failed"
    assert "no email" in (award.last_error or "") and name in (award.last_error or "")
    assert provider.calls == []


def test_revoke_calls_the_provider_with_the_reason(world: Any) -> None:
    name, provider, app = world
    award_id = make_award(app, make_learner(app))
    run(app)
    ref = award_row(app, award_id).issuer_ref
    with app.app_context():
        with app.extensions["db_sessionmaker"]() as session:
            service.revoke(session, award_id, reason="Attribuée par erreur", now=utcnow(),
                           issuer_for=issuer_for, evidence=evidence_for(app.extensions["settings"]))
            session.commit()
        assert issuer_for(name).status(AwardInfo.of(award_row(app, award_id), evidence_url="",
                                                    narrative="")) == "revoked"
    issued = provider.issued[ref]
    if name == "badgr":
        assert issued["revoked"] and issued["revocationReason"] == "Attribuée par erreur"
    elif name == "credly":
        assert issued["state"] == "revoked" and issued["revoke_reason"] == "Attribuée par erreur"
    else:
        assert issued["revoked"] and issued["reason"] == "Attribuée par erreur"


def test_credly_bad_token_is_permanent(database_url: str, redis_url: str | None, keys_dir: Path,
                                       tmp_path: Path) -> None:
    with providers.serve("credly") as provider:
        app = providers.make_app(database_url, redis_url, keys_dir, tmp_path,
                                 **{**providers.settings_for("credly", provider.url),
                                    "credly_token": "wrong"})
        try:
            award_id = make_award(app, make_learner(app))
            assert run(app).outcomes == {"IssuerRefused": 1}
            assert "401" in (award_row(app, award_id).last_error or "")
            assert provider.issued == {}
        finally:
            providers.close_app(app)


def test_badgr_wrong_password_is_permanent(database_url: str, redis_url: str | None, keys_dir: Path,
                                           tmp_path: Path) -> None:
    with providers.serve("badgr") as provider:
        app = providers.make_app(database_url, redis_url, keys_dir, tmp_path,
                                 **{**providers.settings_for("badgr", provider.url),
                                    "badgr_password": "nope"})
        try:
            award_id = make_award(app, make_learner(app))
            assert run(app).outcomes == {"IssuerRefused": 1}
            award = award_row(app, award_id)
            assert award.status == "failed" and "token request was refused" in (award.last_error or "")
            assert [c for c in provider.calls if "token" not in c[1]] == []
        finally:
            providers.close_app(app)


@pytest.mark.parametrize("issuer", ["lms", "none"])
def test_lms_and_none_record_without_any_call(issuer: str, app: Any) -> None:
    award_id = make_award(app, make_learner(app), issuer=issuer)
    assert run(app).outcomes == {"Issued": 1}
    award = award_row(app, award_id)
    assert award.status == "awarded" and award.issuer == issuer and award.issuer_ref is None


def test_unconfigured_adapter_refuses_clearly(app: Any) -> None:
    with app.app_context(), pytest.raises(IssuerRefused, match="BADGR_USERNAME"):
        issuer_for("badgr").award(
            AwardInfo(id=1, learner_id=1, achievement="architecte", issuer="badgr", issuer_ref=None,
                      eligible_at=utcnow(), awarded_at=None, evidence_url="", narrative=""),
            Recipient(1, "s", "a@b.c"))


def test_production_requires_the_chosen_adapters_secrets() -> None:
    from lti_tool.config import ConfigError, load_settings

    base = {"LTI_TOOL_ENV": "production", "SECRET_KEY": "k" * 40,
            "LTI_TOOL_BASE_URL": "https://tool.example", "DATABASE_URL": "postgresql://x/y"}
    with pytest.raises(ConfigError, match="BADGR_PASSWORD"):
        load_settings({**base, "BADGE_ISSUER": "badgr", "BADGR_USERNAME": "u",
                       "BADGR_BADGECLASS": "bc"})
    with pytest.raises(ConfigError, match="CREDLY_ORG, CREDLY_TOKEN, CREDLY_TEMPLATE"):
        load_settings({**base, "BADGE_ISSUER": "credly"})
    with pytest.raises(ConfigError, match="BADGE_ISSUER must be one of"):
        load_settings({**base, "BADGE_ISSUER": "mozilla"})
    ok = load_settings({**base, "BADGE_ISSUER": "obf", "OBF_CLIENT_ID": "c",
                        "OBF_CLIENT_SECRET": "s", "OBF_BADGE_ID": "b"})
    assert ok.badge_issuer == "obf" and ok.obf_url == "https://openbadgefactory.com"
    assert load_settings({**base}).badge_issuer == "embedded"
