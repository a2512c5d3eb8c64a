"""Grade delivery benchmark: the outbox drained by 2 `lti-tool worker` processes into a local AGS
endpoint, on PostgreSQL.

    .venv/bin/python bench/grading.py [--scores 20000] [--rate 50] [--seconds 20] [--workers 2]

1. Drain: the outbox is filled with `--scores` pending scores (one per learner, as
   `grading.service` writes them), then the workers start; printed: scores per second, measured at
   the AGS endpoint from the first score stored to the last, and wall clock from the workers'
   start (process start-up included).
2. Steady load: `--rate` completions per second for `--seconds` seconds, each written like the
   player writes one (a Score row and its outbox upsert, one transaction); printed: p50/p99 of
   the time from the completion (`Score.created_at`) to the score stored at the endpoint.

The AGS endpoint (token + scores) is a small keep-alive HTTP server in its own process; it checks
the bearer token and records when each score arrived. Targets (issue 7): ≥ 500 scores/s; p99 < 1 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import free_port, pct  # noqa: E402

ISSUER = "https://bench-lms.test"
CLIENT_ID = "bench-grading"
DEPLOYMENT = "bench-deployment"
TOKEN = "bench-token-" + secrets.token_hex(8)


# -- the AGS endpoint --------------------------------------------------------------------------
def serve_ags(port: int, token: str) -> None:
    received: list[tuple[str, float]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one connection per worker

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/token":
                self._answer(200, json.dumps({"access_token": token, "token_type": "Bearer",
                                              "expires_in": 3600}).encode())
            elif self.path.endswith("/scores"):
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self._answer(401)
                    return
                score = json.loads(data)
                received.append((score["userId"], time.time()))
                self._answer(204)
            else:
                self._answer(404)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/received":
                self._answer(200, json.dumps(received).encode())
            elif self.path == "/count":
                self._answer(200, str(len(received)).encode(), "text/plain")
            else:
                self._answer(404)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


# -- set-up ----------------------------------------------------------------------------------------
def prepare(workdir: Path, ags_url: str) -> dict[str, str]:
    from sqlalchemy import create_engine, text

    from lti_tool.cli import upgrade_database
    from lti_tool.keys import KeyStore

    name = "lti_bench_" + secrets.token_hex(3)
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    env = {
        **os.environ,
        "LTI_TOOL_ENV": "demo",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LTI_TOOL_KEYS_DIR": str(workdir / "keys"),
        "LTI_TOOL_INSTANCE_DIR": str(workdir),
        "LTI_TOOL_LOG_LEVEL": "WARNING",
        "LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS": "any",  # the AGS endpoint is on loopback
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
    }
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    KeyStore(workdir / "keys").generate()
    upgrade_database(env["DATABASE_URL"])
    from sqlalchemy.orm import Session

    from lti_tool.db import make_engine
    from lti_tool.launch.registry import add_platform
    from lti_tool.models import Course, Deployment, ResourceLink

    engine = make_engine(env["DATABASE_URL"])
    with Session(engine) as session:
        platform = add_platform(session, issuer=ISSUER, client_id=CLIENT_ID,
                                auth_url=ISSUER + "/auth", token_url=ags_url + "/token",
                                jwks_url=ISSUER + "/jwks", deployment_ids=[DEPLOYMENT])
        session.flush()
        deployment = session.query(Deployment).filter_by(platform_id=platform.id).one()
        course = Course(platform_id=platform.id, context_id="bench-course", title="Bench")
        session.add(course)
        session.flush()
        session.add(ResourceLink(platform_id=platform.id, deployment_id=deployment.id,
                                 course_id=course.id, resource_link_id="bench-link",
                                 title="Niveau Architecte", lineitem_url=ags_url + "/lineitems/1"))
        session.commit()
    engine.dispose()
    return env


def add_learners(engine: Any, count: int, offset: int = 0) -> list[int]:
    from sqlalchemy import insert, select

    from lti_tool.models import Learner, Platform

    with engine.begin() as conn:
        platform_id = conn.execute(select(Platform.id)).scalar_one()
        conn.execute(insert(Learner), [{"platform_id": platform_id, "sub": f"learner-{offset + i}"}
                                       for i in range(count)])
        return list(conn.execute(select(Learner.id).where(Learner.sub.like("learner-%"))
                                 .order_by(Learner.id)).scalars())[offset:offset + count]


def fill(engine: Any, learners: list[int]) -> None:
    """One pending score per learner, written in bulk (the drain figure is about delivery)."""
    from sqlalchemy import insert, select

    from lti_tool.grading.service import TOPIC, outbox_key
    from lti_tool.models import OutboxMessage, ResourceLink, Score

    now = datetime.now(UTC)
    with engine.begin() as conn:
        link = conn.execute(select(ResourceLink.id)).scalar_one()
        returning = insert(Score).returning(Score.id, Score.learner_id, sort_by_parameter_order=True)
        ids = conn.execute(returning, [
            {"learner_id": lid, "resource_link_id": link, "reason": "level_completed",
             "activity": "level", "score_given": 100.0, "score_maximum": 100.0,
             "activity_progress": "Completed", "grading_progress": "FullyGraded",
             "comment": "Niveau Architecte : 3 cas réussis sur 3.", "timestamp": now,
             "created_at": now} for lid in learners]).all()
        conn.execute(insert(OutboxMessage), [
            {"topic": TOPIC, "key": outbox_key(learner_id, link), "ref_id": score_id,
             "status": "pending", "attempts": 0, "available_at": now, "created_at": now,
             "updated_at": now} for score_id, learner_id in ids])


def complete(sessions: Any, learner_id: int, link_id: int) -> None:
    """What the player does when a learner completes: a Score and its outbox upsert, one commit."""
    from lti_tool.grading.service import TOPIC, enqueue, outbox_key
    from lti_tool.models import Score

    now = datetime.now(UTC)
    with sessions() as session:
        score = Score(learner_id=learner_id, resource_link_id=link_id, reason="case_completed",
                      activity="level", score_given=66.67, score_maximum=100.0,
                      activity_progress="InProgress", grading_progress="FullyGraded",
                      comment="Niveau Architecte : 2 cas réussis sur 3.",
                      timestamp=now + timedelta(seconds=1), created_at=now)
        session.add(score)
        session.flush()
        enqueue(session, TOPIC, outbox_key(learner_id, link_id), score.id, now)
        session.commit()


def get(url: str) -> Any:
    import requests

    return requests.get(url, timeout=30).json()


def start_workers(env: dict[str, str], count: int, batch: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "lti_tool.cli", "worker", "--batch", str(batch)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50.0, help="completions per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    port = free_port()
    ags_url = f"http://127.0.0.1:{port}"
    server = multiprocessing.Process(target=serve_ags, args=(port, TOKEN), daemon=True)
    server.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    env = prepare(workdir, ags_url)
    from sqlalchemy.orm import sessionmaker

    from lti_tool.db import make_engine
    from lti_tool.models import ResourceLink

    engine = make_engine(env["DATABASE_URL"])
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        learners = add_learners(engine, args.scores)
        fill(engine, learners)
        print(f"outbox filled: {args.scores} pending scores; {args.workers} workers, batch {args.batch}")
        started = time.time()
        workers = start_workers(env, args.workers, args.batch)
        while int(get(ags_url + "/count")) < args.scores:
            time.sleep(0.1)
            if time.time() - started > 600:
                raise SystemExit("drain did not finish in 10 minutes")
        wall = time.time() - started
        times = sorted(t for _, t in get(ags_url + "/received"))
        span = times[-1] - times[0]
        print(f"drain: {args.scores} scores in {span:.2f} s at the endpoint = "
              f"{args.scores / span:,.0f} scores/s  (wall clock from worker start, start-up "
              f"included: {wall:.2f} s = {args.scores / wall:,.0f} scores/s)")

        # Steady load: completions by learners who already have a sent score (re-pending rows).
        with sessions() as session:
            link_id = session.query(ResourceLink.id).scalar()
        total = int(args.rate * args.seconds)
        before = len(times)
        created: dict[str, float] = {}
        t0 = time.time()
        for i in range(total):
            due = t0 + i / args.rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            index = i % len(learners)
            created[f"learner-{index}"] = time.time()
            complete(sessions, learners[index], link_id)
        behind = time.time() - (t0 + total / args.rate)
        deadline = time.time() + 30
        while int(get(ags_url + "/count")) < before + total and time.time() < deadline:
            time.sleep(0.1)
        received = get(ags_url + "/received")[before:]
        latencies = [(when - created[sub]) * 1000 for sub, when in received if sub in created]
        print(f"steady load: {total} completions at {args.rate:g}/s for {args.seconds:g} s "
              f"(driver {behind * 1000:+.0f} ms behind schedule at the end); {len(latencies)} "
              f"arrived; completion → stored at the LMS: p50 {pct(latencies, 50):.0f} ms, "
              f"p99 {pct(latencies, 99):.0f} ms, max {max(latencies):.0f} ms")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
        engine.dispose()
        server.terminate()
        from launch import drop_database

        drop_database(env)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
