"""Case-step benchmark: concurrent learners playing the cases, decision by decision, over HTTP.

    .venv/bin/python bench/cases.py [--learners 64] [--rounds 2] [--runs 3] [--workers 2]
                                    [--backend postgres|sqlite] [--server gunicorn|granian]
                                    [--seed 1]

Set-up: a scratch PostgreSQL database (created on 127.0.0.1:5432, dropped afterwards) migrated to
head, one platform, one resource link and N learners inserted directly, each with the launch record
and the page token a launch leaves behind (launches have their own benchmark, bench/launch.py). The
tool is served by gunicorn (`--workers` sync workers) or granian (`--workers` processes, one thread
each). N threads, one `requests.Session` each, play like a browser: POST the choice → 303 → GET the
consequence screen → POST continue → 303 → GET the next decision, choosing at random among the
offered choices (critical errors and retries included). Each learner first plays case 1 as a
warm-up (not measured), then, `--runs` times, `--rounds` times the three cases (a replay starts a
new attempt). The driver runs at the lowest CPU priority (nice 19) so that, on a small machine, it
does not steal the cores the server and PostgreSQL need.

Printed figures, per run, for the decision step (POST /attempts/<id>/choice; the step that
finishes a case, which also records the grade and checks the badge, is shown apart):
- server time, p50/p99: gunicorn's own request time (access log `%(D)s`, granian has none), which
  includes the token check, the load, the engine, the UPDATE + INSERT and the commit: the figure to
  compare with the target (p99 < 10 ms);
- app time and CPU, p50/p99: measured around the WSGI app in the worker (`timed_app`): wall time
  and the worker thread's CPU time (`time.thread_time`) until the response starts, commit included;
- client latency, p50/p99: what a learner waits, queueing behind the workers included;
- per decision (the four requests of a decision: choice, consequence page, continue, next page):
  the workers' CPU and PostgreSQL's CPU (utime + stime from /proc), and round trips are what the
  rest of the wait is made of.
Then the p99 of every run and the machine's load. No assertion: figures to compare between runs
and machines; on a small shared machine the tail moves with whatever else runs, so run it several
times (`--runs`) and read the spread.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import children, cpu_seconds, free_port, pct  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CASES = ("case-1", "case-2", "case-3")
STEP = re.compile(r"^POST /attempts/\d+/choice 303 (\d+)$")
TOKEN = re.compile(r'(?:name="t" value="|[?&;]t=)([A-Za-z0-9_.\-]+)')
VERSION = re.compile(r'name="v" value="(\d+)"')
CHOICE = re.compile(r'name="choice" id="[^"]+" value="([^"]+)"')
ACTION = re.compile(r'action="(/attempts/\d+/(?:choice|continue))"')
TIMING_HEADER = "X-Bench-App"  # "<wall µs> <cpu µs>", added by timed_app
KINDS = ("step", "finishing step", "consequence/decision page", "continue", "start")


# --- in the server: time and CPU of each request ------------------------------------------------


def timed_app() -> Callable[..., Any]:
    """The tool's WSGI app, timed: wall and thread CPU time from the call until the response starts
    (the view, the hooks and the commit), sent back in a header. Served as `cases:timed_app()`."""
    from lti_tool import create_app

    app = create_app()

    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        wall, cpu = time.perf_counter(), time.thread_time()

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((TIMING_HEADER, f"{(time.perf_counter() - wall) * 1e6:.0f} "
                                           f"{(time.thread_time() - cpu) * 1e6:.0f}"))
            return start_response(status, headers, exc_info)

        return app(environ, start)  # type: ignore[no-any-return]

    return timed


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
    from lti_tool.models.launch import LaunchRecord

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
        # A graded link (AGS line item and score scope), as a course's would be: the step that
        # finishes a case records the grade (Score row and outbox message; nothing delivers them
        # here, no worker runs).
        link = ResourceLink(platform_id=platform.id, deployment_id=platform.deployments[0].id,
                            resource_link_id="bench-link", title="Niveau Architecte",
                            lineitem_url="https://bench-lms.test/lineitems/1",
                            ags_scopes=["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
        rows = [Learner(platform_id=platform.id, sub=f"bench-{i}") for i in range(learners)]
        session.add_all([link, *rows])
        session.flush()
        # What a launch leaves: its record (the pages' frame-ancestors read it, once per worker).
        expires = datetime.now(UTC) + timedelta(days=1)
        session.add_all([LaunchRecord(
            id=f"bench-{r.id}", platform_id=platform.id, learner_id=r.id, resource_link_id=link.id,
            message_type="LtiResourceLinkRequest", expires_at=expires,
            claims={"https://purl.imsglobal.org/spec/lti/claim/launch_presentation":
                    {"return_url": "https://bench-lms.test/course"}}) for r in rows])
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


def postgres_cpu(env: dict[str, str]) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench database (same machine)."""
    url = env.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return {}
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                            {"name": url.rsplit("/", 1)[1]}).scalars().all()
    admin.dispose()
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


# --- the learners -------------------------------------------------------------------------------


@dataclass
class Results:
    client: dict[str, list[float]] = field(default_factory=dict)  # ms, per kind
    app_wall: dict[str, list[float]] = field(default_factory=dict)  # ms, per kind (timed_app)
    app_cpu: dict[str, list[float]] = field(default_factory=dict)  # ms, per kind (timed_app)
    steps: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, elapsed: float, response: Any) -> None:
        timing = response.headers.get(TIMING_HEADER, "").split()
        with self.lock:
            self.requests += 1
            self.steps += kind in ("step", "finishing step")
            self.client.setdefault(kind, []).append(elapsed * 1000)
            if len(timing) == 2:
                self.app_wall.setdefault(kind, []).append(int(timing[0]) / 1000)
                self.app_cpu.setdefault(kind, []).append(int(timing[1]) / 1000)


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
        started = time.perf_counter()
        response = self.http.get(self.base + path, allow_redirects=False, timeout=60)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {path.split('?')[0]} answered {response.status_code}")
        self.html = response.text
        self.token = TOKEN.search(self.html).group(1)  # type: ignore[union-attr]
        if results is not None:
            results.add("consequence/decision page", elapsed, response)

    def _post(self, path: str, data: dict[str, str], results: Results | None,
              kind: str | None) -> tuple[str, tuple[float, Any]]:
        """POST, and the (elapsed, response) measure, filed under `kind` unless it is None."""
        started = time.perf_counter()
        response = self.http.post(self.base + path, data={"t": self.token, **data},
                                  allow_redirects=False, timeout=60)
        elapsed = time.perf_counter() - started
        if response.status_code != 303:
            raise RuntimeError(f"POST {path} answered {response.status_code}")
        if results is not None and kind is not None:
            results.add(kind, elapsed, response)
        location = response.headers["Location"]
        path = location[location.index("/", 8):] if location.startswith("http") else location
        return path, (elapsed, response)

    def play_case(self, case_id: str, results: Results | None) -> None:
        self._get(self._post(f"/cases/{case_id}/attempts", {}, results, "start")[0], results)
        # A step is filed once the learner sees where it led: to another decision, or (after its
        # consequence screen) to the ending: the finishing step, which also records the grade and
        # checks the badge.
        step: tuple[float, Any] | None = None
        while True:
            action = ACTION.search(self.html)
            if action is None or action.group(1).endswith("/choice"):
                if step is not None and results is not None:
                    results.add("step" if action else "finishing step", *step)
                step = None
            if action is None:  # the ending page
                return
            version = VERSION.search(self.html).group(1)  # type: ignore[union-attr]
            if action.group(1).endswith("/choice"):
                choice = self.rng.choice(CHOICE.findall(self.html))
                page, step = self._post(action.group(1), {"v": version, "choice": choice},
                                        results, None)
            else:
                page, _ = self._post(action.group(1), {"v": version}, results, "continue")
            self._get(page, results)


def run_learners(learners: list[Learner], plan: list[str], results: Results | None) -> float:
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
    return time.perf_counter() - started


# --- run ----------------------------------------------------------------------------------------


def server_command(server: str, workers: int, port: int, access_log: Path) -> list[str]:
    if server == "gunicorn":
        return [str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), "-k", "sync",
                "-b", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning",
                "--access-logfile", str(access_log), "--access-logformat", "%(m)s %(U)s %(s)s %(D)s",
                "--pythonpath", str(ROOT / "bench"), "cases:timed_app()"]
    return [str(ROOT / ".venv/bin/granian"), "--interface", "wsgi", "--workers", str(workers),
            "--blocking-threads", "1", "--runtime-threads", "1", "--no-access-log",
            "--log-level", "warning", "--host", "127.0.0.1", "--port", str(port),
            "--working-dir", str(ROOT / "bench"), "--factory", "cases:timed_app"]


def tree(pid: int) -> list[int]:
    """The server's worker processes (granian's workers are grandchildren of its main process)."""
    found, todo = [], children(pid)
    while todo:
        found.append(p := todo.pop())
        todo.extend(children(p))
    return found


def summary(label: str, values: list[float]) -> str:
    return f"{label} p50 {pct(values, 50):.2f} ms  p99 {pct(values, 99):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--learners", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="plays of the three cases, per run")
    parser.add_argument("--runs", type=int, default=3, help="measured runs on the same server")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-cases-"))
    env, tokens = prepare(args.backend, workdir, args.learners)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    access_log = workdir / "access.log"
    access_log.touch()
    env["LTI_TOOL_BASE_URL"] = base
    server = subprocess.Popen(server_command(args.server, args.workers, port, access_log),
                              env={**os.environ, **env}, cwd=ROOT)
    # The driver's threads share the cores with the server and the database: at the lowest
    # priority they wait for them, so the server time measures the server, not the driver.
    os.nice(19)
    label = (f"{args.learners} concurrent learners, {args.server} {args.workers} workers, "
             f"{'PostgreSQL' if args.backend == 'postgres' else 'SQLite'}, "
             f"{os.cpu_count()} CPU cores shared by server, database and driver")
    print(f"case steps: {label}; load average before: {os.getloadavg()[0]:.1f}", flush=True)
    p99s: list[float] = []
    try:
        import requests

        for _ in range(300):
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        learners = [Learner(base, t, random.Random(args.seed * 1000 + i))
                    for i, t in enumerate(tokens)]
        # warm-up: every learner plays case 1 (imports, pools, statement caches)
        run_learners(learners, ["case-1"], None)
        workers = tree(server.pid)
        for run in range(1, args.runs + 1):
            for i, learner in enumerate(learners):
                learner.rng = random.Random((args.seed * 100 + run) * 1000 + i)
            offset = access_log.stat().st_size
            cpu_before = sum(cpu_seconds(pid) for pid in workers)
            pg_before = postgres_cpu(env)
            results = Results()
            wall = run_learners(learners, list(CASES) * args.rounds, results)
            cpu = sum(cpu_seconds(pid) for pid in workers) - cpu_before
            pg_after = postgres_cpu(env)
            pg_cpu = sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items())
            time.sleep(0.5)  # the last access-log lines
            with access_log.open() as fh:
                fh.seek(offset)
                step_server = [int(m.group(1)) / 1000 for ln in fh.read().splitlines()
                               if (m := STEP.match(ln))]
            key = step_server or [*results.app_wall.get("step", []),
                                  *results.app_wall.get("finishing step", [])]
            p99s.append(pct(key, 99))
            report(run, results, wall, step_server, cpu, pg_cpu, args.backend)
    finally:
        server.terminate()
        server.wait(15)
        for learner in learners if "learners" in locals() else []:
            learner.http.close()
        drop_database(env)
        shutil.rmtree(workdir, ignore_errors=True)
    source = "gunicorn server time" if args.server == "gunicorn" else "app time"
    print(f"step p99 ({source}) over {len(p99s)} runs: "
          + ", ".join(f"{v:.2f}" for v in p99s)
          + f" ms; median {statistics.median(p99s):.2f} ms (target < 10 ms); load average at the "
          f"end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def report(run: int, results: Results, wall: float, step_server: list[float], cpu: float,
           pg_cpu: float, backend: str) -> None:
    steps = max(results.steps, 1)
    print(f"run {run}: {results.steps} decision steps in {wall:.1f} s → {results.steps / wall:.0f}"
          f" steps/s ({results.requests / wall:.0f} requests/s); errors: {len(results.errors)} "
          f"{results.errors[0] if results.errors else ''}")
    if step_server:
        print(f"  step server time (gunicorn, incl. commit): p50 {pct(step_server, 50):.2f} ms  "
              f"p99 {pct(step_server, 99):.2f} ms  max {max(step_server):.2f} ms  "
              f"(target p99 < 10 ms; n={len(step_server)})")
    for kind in KINDS:
        if kind in results.app_wall:
            print(f"  {kind:26} {summary('app time', results.app_wall[kind])}  |  "
                  f"{summary('CPU', results.app_cpu[kind])}  |  "
                  f"{summary('client', results.client[kind])}")
    pg = f", PostgreSQL {pg_cpu / steps * 1000:.2f} ms" if backend == "postgres" else ""
    print(f"  CPU per decision (choice + page + continue + page, /proc): workers "
          f"{cpu / steps * 1000:.2f} ms{pg}; per request: workers "
          f"{cpu / max(results.requests, 1) * 1000:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
