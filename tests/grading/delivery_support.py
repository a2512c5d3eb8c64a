"""Support for the delivery tests: learners, links and line items at the live demo LMS, scores in
the outbox, a score-endpoint outage switch, and the demo LMS's record of what it received."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from lti_tool import create_app
from lti_tool.db import get_session
from lti_tool.demo import DemoSettings, register_demo_lms
from lti_tool.grading import ags
from lti_tool.grading.outbox import Backoff, ScoreDelivery
from lti_tool.grading.service import TOPIC, enqueue, outbox_key
from lti_tool.launch.registry import find_registration
from lti_tool.launch.wiring import service_connector
from lti_tool.models import Learner, OutboxMessage, ResourceLink, Score
from tests import backends
from tests.conftest import _truncate, make_settings
from tests.support.platform_server import LaunchDriver, serve_app

FAST = Backoff(minimum=0, multiplier=0.05, maximum=0.3)  # retries within the test


@dataclasses.dataclass
class Ids:
    learner: int  # the demo's gradable learner
    instructor: int  # the demo's teacher: not gradable (400 at the LMS)
    link: int  # the default resource link (its line item from the launch)


def launch_both(live: Any) -> Ids:
    assert live.driver.launch("learner").response.status_code == 200
    assert live.driver.launch("instructor").response.status_code == 200
    with live.app.app_context():
        session = get_session()
        learners = dict(session.execute(select(Learner.sub, Learner.id)).all())
        link = session.execute(select(ResourceLink.id)).scalar_one()
        session.close()
    return Ids(learner=learners["demo-user-alex-tremblay"],
               instructor=learners["demo-user-camille-roy"], link=link)


def token(live: Any, scope: str) -> str:
    with live.app.app_context():
        reg = find_registration(get_session(), live.lms.issuer, live.lms.client_id)
        assert reg is not None
        return service_connector(reg).get_access_token([scope])


def make_line_item(live: Any, label: str) -> str:
    """A line item created at the demo LMS (AGS), returned by URL."""
    with live.app.app_context():
        session = get_session()
        lineitems = session.execute(select(ResourceLink.lineitems_url)).scalars().first()
        session.close()
    assert lineitems
    resp = requests.post(lineitems, timeout=10, data=f'{{"label": "{label}", "scoreMaximum": 100}}',
                         headers={"Authorization": f"Bearer {token(live, ags.SCOPE_LINEITEM)}",
                                  "Content-Type": ags.LINEITEM_MEDIA_TYPE})
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["id"])


def add_link(live: Any, name: str, lineitem_url: str | None, *, lineitems_url: str | None = None,
             scopes: list[str] | None = None, resource_link_id: str | None = None) -> int:
    """A resource link of the tool like the default one (same platform, deployment, course)."""
    with live.app.app_context():
        session = get_session()
        base = session.execute(select(ResourceLink).order_by(ResourceLink.id)).scalars().first()
        assert base is not None
        link = ResourceLink(platform_id=base.platform_id, deployment_id=base.deployment_id,
                            course_id=base.course_id, resource_link_id=resource_link_id or name,
                            title=name, activity="level", lineitem_url=lineitem_url,
                            lineitems_url=lineitems_url, ags_scopes=scopes)
        session.add(link)
        session.commit()
        link_id = link.id
        session.close()
    return link_id


def add_score(app: Any, learner_id: int, link_id: int, *, at: datetime, given: float | None = None,
              activity: str = "InProgress", grading: str = "FullyGraded", reason: str = "case_completed",
              created_at: datetime | None = None) -> int:
    """A score and its outbox row, written as `grading.service` writes them (one transaction)."""
    with app.app_context():
        session = get_session()
        score = Score(learner_id=learner_id, resource_link_id=link_id, reason=reason,
                      activity="level", score_given=given, score_maximum=100.0,
                      activity_progress=activity, grading_progress=grading,
                      comment=f"Niveau Architecte : {given}", timestamp=at,
                      created_at=created_at or datetime.now(UTC))
        session.add(score)
        session.flush()
        enqueue(session, TOPIC, outbox_key(learner_id, link_id), score.id,
                created_at or datetime.now(UTC))
        session.commit()
        score_id = score.id
        session.close()
    return score_id


def delivery(app: Any, **kwargs: Any) -> ScoreDelivery:
    kwargs.setdefault("backoff", FAST)
    return ScoreDelivery(app.extensions["db_sessionmaker"], **kwargs)


def run_batch(app: Any, d: ScoreDelivery, limit: int = 50) -> Any:
    with app.app_context():
        return d.run_batch(limit)


def rows(app: Any) -> list[OutboxMessage]:
    with app.app_context():
        session = get_session()
        result = list(session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        session.close()
    return result


def scores(app: Any) -> list[Score]:
    with app.app_context():
        session = get_session()
        result = list(session.execute(select(Score).order_by(Score.id)).scalars())
        session.close()
    return result


def received(live_or_url: Any) -> list[dict[str, Any]]:
    url = live_or_url if isinstance(live_or_url, str) else live_or_url.lms.base_url
    resp = requests.get(f"{url}/demo/api/state", timeout=10)
    resp.raise_for_status()
    return list(resp.json()["scores"])


def switch(live_or_url: Any, mode: str, **extra: Any) -> dict[str, Any]:
    url = live_or_url if isinstance(live_or_url, str) else live_or_url.lms.base_url
    resp = requests.post(f"{url}/demo/api/score-endpoint", json={"mode": mode, **extra}, timeout=10)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def start() -> datetime:
    """A timestamp base: whole seconds, like the scores the tool writes."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    return now.replace(microsecond=0)


# -- a live tool + demo LMS whose score endpoint answers slowly (a distant LMS) ------------------
class SlowScores:
    """WSGI middleware: a score POST is processed (stored) at once, and answered `delay` seconds
    later, so a worker can be killed after the LMS stored a score and before it saw the answer."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app, self.delay = app, delay
        self.answering = 0  # stored, answer not yet sent

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        import time

        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/scores"):
            body = list(self.app(environ, start_response))
            self.answering += 1
            try:
                time.sleep(self.delay)
            finally:
                self.answering -= 1
            return body
        return self.app(environ, start_response)


@dataclasses.dataclass
class SlowLive:
    app: Any
    tool_url: str
    lms: DemoSettings
    driver: LaunchDriver
    scores_endpoint: SlowScores
    database_url: str
    redis_url: str | None
    keys_dir: Path
    instance_dir: Path


@contextmanager
def slow_live(database_url: str, redis_url: str | None, keys_dir: Path, tmp_path: Path,
              delay: float) -> Iterator[SlowLive]:
    from lti_tool.demo import create_demo_lms

    apps: list[Any] = []
    middleware: list[SlowScores] = []

    def tool(url: str) -> Any:
        app = create_app(make_settings(database_url, redis_url, keys_dir, tmp_path, base_url=url))
        apps.append(app)
        return app

    def lms_app(url: str) -> Any:
        demo = create_demo_lms(dataclasses.replace(settings, base_url=url))
        middleware.append(SlowScores(demo, delay))
        return middleware[0]

    with serve_app(tool) as tool_url:
        app = apps[0]
        settings = DemoSettings(base_url="http://127.0.0.1:0", tool_base_url=tool_url,
                                keys_dir=tmp_path / "demo-platform", storage_target=None,
                                allow_test_overrides=True)
        with serve_app(lms_app) as lms_url, LaunchDriver(lms_url) as driver:
            lms = dataclasses.replace(settings, base_url=lms_url)
            with app.test_request_context():
                session = get_session()
                register_demo_lms(session, lms)
                session.commit()
            try:
                yield SlowLive(app, tool_url, lms, driver, middleware[0], database_url, redis_url,
                               keys_dir, tmp_path)
            finally:
                _truncate(app)
                if redis_url:
                    backends.redis_client().flushdb()
                app.extensions["db_engine"].dispose()
