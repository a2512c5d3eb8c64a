"""Case-step benchmark: concurrent learners playing the cases, decision by decision, over HTTP.

    .venv/bin/python bench/cases.py [--learners 64] [--rounds 2] [--workers 2]
                                    [--backend postgres|sqlite] [--seed 1]

Set-up: a scratch PostgreSQL database (created on 127.0.0.1:5432, dropped afterwards) migrated to
head, one platform, one resource link and N learners inserted directly, with a page token issued
for each by the app's own serializer (what a launch does at its end; launches have their own
benchmark, bench/launch.py). The tool is served by gunicorn (`--workers` sync workers). N threads,
one `requests.Session` each, play like a browser: POST the choice → 303 → GET the consequence
screen → POST continue → 303 → GET the next decision, choosing at random among the offered choices
(critical errors and retries included). Each learner first plays case 1 as a warm-up (not
measured), then `--rounds` times the three cases (a replay starts a new attempt). The driver runs
at the lowest CPU priority (nice 19) so that, on a small machine, it does not steal the cores the
server and PostgreSQL need.

Printed figures, for the decision step (POST /attempts/<id>/choice):
- server time, p50/p99: gunicorn's own request time (access log `%(D)s`), which includes the
  token check, the load, the engine, the UPDATE + INSERT and the commit — the figure to compare
  with the target (p99 < 10 ms);
- view time, p50/p99: the `Server-Timing: app;dur=` header the blueprint adds (the same without
  the commit);
- client latency, p50/p99: what a learner waits, queueing behind the workers included;
- steps per second (wall clock), and all requests per second.
No assertion: figures to compare between runs and machines.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import children, cpu_seconds, free_port, pct  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CASES = ("case-1", "case-2", "case-3")
STEP = re.compile(r"^POST /attempts/\d+/choice 303 (\d+)$")
PAGE = re.compile(r"^(GET|POST) (/attempts/\d+(?:/continue)?) (\d{3}) (\d+)$")
TOKEN = re.compile(r'(?:name="t" value="|[?&;]t=)([A-Za-z0-9_.\-]+)')
VERSION = re.compile(r'name="v" value="(\d+)"')
CHOICE = re.compile(r'name="choice" id="[^"]+" value="([^"]+)"')
ACTION = re.compile(r'action="(/attempts/\d+/(?:choice|continue))"')


# --- set-up -------------------------------------------------------------------------------------


def prepare(backend: str, workdir: Path, learners: int) -> tuple[dict[str, str], list[str]]:
    """Database, learners and their page tokens; returns the server's environment and tokens."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from lti_tool import create_app, page_token
    from lti_tool.cli import upgrade_database
    from lti_tool.config import load_settings
    from lti_tool.db import make_engine
    from lti_tool.launch.registry import add_platform
    from lti_tool.models import Learner, ResourceLink

    env = {"LTI_TOOL_ENV": "demo", "SECRET_KEY": secrets.token_urlsafe(48),
           "LTI_TOOL_KEYS_DIR": str(workdir / "keys"), "LTI_TOOL_INSTANCE_DIR": str(workdir),
           "LTI_TOOL_LOG_LEVEL": "WARNING", "LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS": "any"}
    if backend == "postgres":
        name = "lti_bench_cases_" + secrets.token_hex(3)
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    else:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    upgrade_database(env["DATABASE_URL"])

    engine = make_engine(env["DATABASE_URL"])
    with Session(engine) as session:
        platform = add_platform(session, issuer="https://bench-lms.test", client_id="bench",
                                auth_url="https://bench-lms.test/auth",
                                token_url="https://bench-lms.test/token",
                                jwks_url="https://bench-lms.test/jwks", deployment_ids=["dep"])
        session.flush()
        link = ResourceLink(platform_id=platform.id, deployment_id=platform.deployments[0].id,
                            resource_link_id="bench-link", title="Niveau Architecte")
        rows = [Learner(platform_id=platform.id, sub=f"bench-{i}") for i in range(learners)]
        session.add_all([link, *rows])
        session.commit()
        viewers = [page_token.Viewer(r.id, platform.id, link.id, None, f"bench-{r.id}",
                                     "learner", "fr", "level") for r in rows]
    engine.dispose()
    app = create_app(load_settings(env))
    with app.app_context():
        tokens = [page_token.issue(v) for v in viewers]
    app.extensions["db_engine"].dispose()
    return env, tokens


def drop_database(env: dict[str, str]) -> None:
    url = env.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          f"WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


# --- the learners -------------------------------------------------------------------------------


@dataclass
class Results:
    step_client: list[float] = field(default_factory=list)  # seconds
    step_view: list[float] = field(default_factory=list)  # milliseconds (Server-Timing)
    steps: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Learner:
    """One browser: follows the 303s itself so the step POST is timed alone."""

    def __init__(self, base: str, token: str, rng: random.Random) -> None:
        import requests

        self.base = base
        self.http = requests.Session()
        self.token = token
        self.rng = rng
        self.html = ""

    def _get(self, path: str, results: Results | None) -> None:
        response = self.http.get(self.base + path, allow_redirects=False, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path.split('?')[0]} answered {response.status_code}")
        self.html = response.text
        self.token = TOKEN.search(self.html).group(1)  # type: ignore[union-attr]
        if results is not None:
            with results.lock:
                results.requests += 1

    def _post(self, path: str, data: dict[str, str], results: Results | None,
              step: bool = False) -> str:
        started = time.perf_counter()
        response = self.http.post(self.base + path, data={"t": self.token, **data},
                                  allow_redirects=False, timeout=60)
        elapsed = time.perf_counter() - started
        if response.status_code != 303:
            raise RuntimeError(f"POST {path} answered {response.status_code}")
        if results is not None:
            with results.lock:
                results.requests += 1
                if step:
                    results.steps += 1
                    results.step_client.append(elapsed)
                    timing = response.headers.get("Server-Timing", "")
                    match = re.search(r"dur=([\d.]+)", timing)
                    if match:
                        results.step_view.append(float(match.group(1)))
        location = response.headers["Location"]
        return location[location.index("/", 8):] if location.startswith("http") else location

    def play_case(self, case_id: str, results: Results | None) -> None:
        self._get(self._post(f"/cases/{case_id}/attempts", {}, results), results)
        while True:
            action = ACTION.search(self.html)
            if action is None:  # the ending page
                return
            version = VERSION.search(self.html).group(1)  # type: ignore[union-attr]
            if action.group(1).endswith("/choice"):
                choice = self.rng.choice(CHOICE.findall(self.html))
                page = self._post(action.group(1), {"v": version, "choice": choice}, results,
                                  step=True)
            else:
                page = self._post(action.group(1), {"v": version}, results)
            self._get(page, results)


def run_learners(base: str, tokens: list[str], seed: int, plan: list[str],
                 results: Results | None) -> tuple[float, list[Learner]]:
    learners = [Learner(base, t, random.Random(seed * 1000 + i)) for i, t in enumerate(tokens)]
    barrier = threading.Barrier(len(learners) + 1)

    def play(learner: Learner) -> None:
        barrier.wait()
        for case_id in plan:
            try:
                learner.play_case(case_id, results)
            except Exception as exc:  # counted and reported; the learner stops
                if results is not None:
                    with results.lock:
                        results.errors.append(str(exc))
                return

    threads = [threading.Thread(target=play, args=(lr,)) for lr in learners]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for learner in learners:
        learner.http.close()
    return wall, learners


# --- run ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="plays of the three cases each")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-cases-"))
    env, tokens = prepare(args.backend, workdir, args.learners)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    access_log = workdir / "access.log"
    env["LTI_TOOL_BASE_URL"] = base
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "-w", str(args.workers), "-k", "sync",
           "-b", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning",
           "--access-logfile", str(access_log),
           "--access-logformat", "%(m)s %(U)s %(s)s %(D)s", "lti_tool:create_app()"]
    server = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)
    # The driver's 64 threads share the cores with the server and the database: at the lowest
    # priority they wait for them, so the server time measures the server, not the driver.
    os.nice(19)
    try:
        import requests

        for _ in range(200):
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        # warm-up: every learner plays case 1 (imports, pools, statement caches)
        _, warmed = run_learners(base, tokens, args.seed, ["case-1"], None)
        tokens = [lr.token for lr in warmed]
        offset = access_log.stat().st_size
        workers = children(server.pid)
        cpu_before = sum(cpu_seconds(pid) for pid in workers)
        results = Results()
        wall, _ = run_learners(base, tokens, args.seed + 1, list(CASES) * args.rounds, results)
        cpu = sum(cpu_seconds(pid) for pid in workers) - cpu_before
        time.sleep(0.5)  # the last access-log lines
    finally:
        server.terminate()
        server.wait(15)
        drop_database(env)

    with access_log.open() as fh:
        fh.seek(offset)
        lines = fh.read().splitlines()
    shutil.rmtree(workdir, ignore_errors=True)
    step_server = [int(m.group(1)) / 1000 for ln in lines if (m := STEP.match(ln))]
    pages: dict[str, list[float]] = {}
    for line in lines:
        m = PAGE.match(line)
        if m and not line.endswith(" 404"):
            kind = ("continue POST" if m.group(2).endswith("/continue")
                    else "attempt page GET" if m.group(1) == "GET" else "other")
            pages.setdefault(kind, []).append(int(m.group(4)) / 1000)
    client_ms = [s * 1000 for s in results.step_client]

    load = os.getloadavg()
    label = "PostgreSQL" if args.backend == "postgres" else "SQLite"
    print(f"case steps: {args.learners} concurrent learners, gunicorn {args.workers} sync workers, "
          f"{label}, {os.cpu_count()} CPU cores shared by server, database and driver "
          f"(load average {load[0]:.1f} at the end)")
    print(f"  decision steps: {results.steps} in {wall:.1f} s → {results.steps / wall:.0f} "
          f"steps/s ({results.requests / wall:.0f} requests/s, all pages); "
          f"errors: {len(results.errors)} {results.errors[0] if results.errors else ''}")
    print(f"  step server time (gunicorn, incl. commit): p50 {pct(step_server, 50):.2f} ms  "
          f"p99 {pct(step_server, 99):.2f} ms  max {max(step_server, default=0):.2f} ms  "
          f"(target p99 < 10 ms; n={len(step_server)})")
    print(f"  step view time (Server-Timing, excl. commit): p50 {pct(results.step_view, 50):.2f} ms"
          f"  p99 {pct(results.step_view, 99):.2f} ms")
    print(f"  step client latency (incl. queueing): p50 {pct(client_ms, 50):.2f} ms  "
          f"p99 {pct(client_ms, 99):.2f} ms")
    print(f"  server CPU per request (workers' utime + stime / requests, all pages): "
          f"{cpu / max(results.requests, 1) * 1000:.2f} ms")
    for kind, values in sorted(pages.items()):
        if kind != "other":
            print(f"  {kind} server time: p50 {pct(values, 50):.2f} ms  "
                  f"p99 {pct(values, 99):.2f} ms")


if __name__ == "__main__":
    main()
