"""Launch benchmark: server CPU per complete LTI launch, this tool against a minimal pylti1p3 tool,
measured in the same run.

    .venv/bin/python bench/launch.py [--rounds 7] [--launches 400] [--backend sqlite|postgres|both]
                                     [--server gunicorn|granian|both]

A complete launch is what a browser does: GET /lti/login → the platform signs an id_token for that
nonce → POST /lti/launch (every check, nonce consumed, learner/course/link recorded) → the first
page (in the launch response, or after a 303 for the reference). The reference is
bench/baseline_pylti1p3.py, a tool written the way pylti1p3's documentation shows (login + launch +
a page, launch data in the Flask cookie session, no database).

Both servers run at once, one worker each, pinned to core 0 (`taskset`); this driver runs on core
1 with a few keep-alive connections in flight. Rounds alternate (tool, reference, reference, tool,
…) so that whatever else the machine does falls on both alike; each round counts the server's CPU
time (utime + stime of the server's whole process tree, from /proc) over its launches. Printed, per
backend and server: CPU per launch of each (median and min–max over the rounds) and the ratio
reference / tool per pair of rounds (median and min–max): above 1 the tool costs less. With
`--floor`, each round also measures bench/floor_app.py, a bare WSGI app giving constant answers of
the same shape: what the server and the connections cost per launch whatever the app does.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_seconds, free_port, pct  # noqa: E402

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ISSUER = "https://bench-lms.test"
CLIENT_ID = "bench-client"
DEPLOYMENT = "bench-deployment"
# Flushed at the start of a PostgreSQL run: give each concurrent user of the machine its own.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        pass


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its descendants (granian runs its worker as a child)."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_seconds(p)
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        todo.extend(int(k) for k in kids)
    return total


class Jwks:
    """The platform's JWKS over HTTP (fetched once by the tool, then cached)."""

    def __init__(self, jwk: dict[str, Any]) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server
        from werkzeug.wrappers import Response

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass  # the reference fetches the key set on every launch

        body = json.dumps({"keys": [jwk]})
        app = Response(body, mimetype="application/json")
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def prepare(backend: str, workdir: Path, jwks_url: str) -> dict[str, str]:
    from lti_tool.cli import upgrade_database
    from lti_tool.keys import KeyStore

    env = {
        "LTI_TOOL_ENV": "demo",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LTI_TOOL_KEYS_DIR": str(workdir / "keys"),
        "LTI_TOOL_INSTANCE_DIR": str(workdir),
        "LTI_TOOL_LOG_LEVEL": "WARNING",
        "LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS": "any",  # the platform JWKS is on loopback
    }
    if backend == "postgres":
        from sqlalchemy import create_engine, text

        name = "lti_bench_" + secrets.token_hex(3)
        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        env["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        env["REDIS_URL"] = REDIS_URL
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    else:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    KeyStore(workdir / "keys").generate()
    upgrade_database(env["DATABASE_URL"])
    from sqlalchemy.orm import Session

    from lti_tool.db import make_engine
    from lti_tool.launch.registry import add_platform

    engine = make_engine(env["DATABASE_URL"])
    with Session(engine) as session:
        add_platform(
            session,
            issuer=ISSUER,
            client_id=CLIENT_ID,
            auth_url=ISSUER + "/auth",
            token_url=ISSUER + "/token",
            jwks_url=jwks_url,
            deployment_ids=[DEPLOYMENT],
        )
        session.commit()
    engine.dispose()
    return env


def drop_database(env: dict[str, str]) -> None:
    url = env.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(
            text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname='{name}'")
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


class Driver:
    def __init__(self, port: int, key: Any, kid: str, base_url: str) -> None:
        self.port = port
        self.key = key
        self.kid = kid
        self.base_url = base_url
        self.launch_times: list[float] = []
        self.request_times: dict[str, list[float]] = {"login": [], "launch": [], "page": []}
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def _request(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        for attempt in range(2):
            try:
                conn.request(method, path, body=body, headers=headers or {})
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                return response, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    @staticmethod
    def cookies(response: Any, jar: dict[str, str]) -> dict[str, str]:
        for value in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]
        return jar

    @staticmethod
    def header(jar: dict[str, str]) -> str:
        return "; ".join(f"{k}={v}" for k, v in jar.items())

    def one_launch(self, conn: http.client.HTTPConnection, n: int) -> None:
        import jwt

        t0 = time.perf_counter()
        query = urlencode(
            {
                "iss": ISSUER,
                "login_hint": f"user-{n}",
                "client_id": CLIENT_ID,
                "target_link_uri": self.base_url + "/lti/launch",
                "lti_deployment_id": DEPLOYMENT,
            }
        )
        response, _ = self._request(conn, "GET", "/lti/login?" + query)
        t1 = time.perf_counter()
        if response.status != 302:
            raise RuntimeError(f"login answered {response.status}")
        auth = {
            k: v[0] for k, v in parse_qs(urlsplit(response.getheader("Location")).query).items()
        }
        jar = self.cookies(response, {})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": f"user-{n % 5000}",
            "exp": now + 300,
            "iat": now,
            "nonce": auth["nonce"],
            "name": f"Learner {n % 5000}",
            LTI + "message_type": "LtiResourceLinkRequest",
            LTI + "version": "1.3.0",
            LTI + "deployment_id": DEPLOYMENT,
            LTI + "target_link_uri": self.base_url + "/lti/launch",
            LTI + "resource_link": {"id": f"link-{n % 20}", "title": "Niveau Architecte"},
            LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            LTI + "context": {"id": f"course-{n % 20}", "title": "Formation SEXTO"},
            LTI + "launch_presentation": {"locale": "fr-CA"},
        }
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        t2 = time.perf_counter()
        body = urlencode({"id_token": token, "state": auth["state"]})
        response, data = self._request(
            conn,
            "POST",
            "/lti/launch",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.header(jar)},
        )
        jar = self.cookies(response, jar)
        t3 = time.perf_counter()
        if response.status == 303:  # the page comes with a second request
            location = response.getheader("Location")
            path = location[location.index("/", 8) :] if location.startswith("http") else location
            response, data = self._request(conn, "GET", path, headers={"Cookie": self.header(jar)})
        elif response.status != 200:  # 200: the first page is in the launch response
            raise RuntimeError(f"launch answered {response.status}")
        t4 = time.perf_counter()
        if response.status != 200 or b"<title>" not in data:
            raise RuntimeError(f"page answered {response.status}")
        with self.lock:
            self.request_times["login"].append(t1 - t0)
            self.request_times["launch"].append(t3 - t2)
            self.request_times["page"].append(t4 - t3)
            self.launch_times.append((t1 - t0) + (t4 - t2))  # server-facing time, signing excluded

    def run(self, total: int, concurrency: int, first: int = 0) -> float:
        counter = iter(range(first, first + total))
        lock = threading.Lock()

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    break
                try:
                    self.one_launch(conn, n)
                except Exception as exc:  # counted and reported, the run goes on
                    with self.lock:
                        self.errors.append(str(exc))
            conn.close()

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start


SERVERS = ("gunicorn", "granian")


class Server:
    """One app (the tool or the reference) served by one worker pinned to core 0."""

    def __init__(self, app: str, server: str, env: dict[str, str], jwks_url: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**env, "LTI_TOOL_BASE_URL": self.base_url}
        target = "lti_tool:create_app()"
        if app == "baseline":
            env.update(BENCH_ISSUER=ISSUER, BENCH_CLIENT_ID=CLIENT_ID, BENCH_JWKS_URL=jwks_url,
                       BENCH_DEPLOYMENT=DEPLOYMENT, PYTHONPATH=str(ROOT / "bench"))
            target = "baseline_pylti1p3:create_app()"
        elif app == "floor":
            env.update(PYTHONPATH=str(ROOT / "bench"))
            target = "floor_app:create_app()"
        if server == "gunicorn":
            cmd = [str(ROOT / ".venv/bin/gunicorn"), "-w", "1", "-k", "sync",
                   "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", target]
        else:
            cmd = [str(ROOT / ".venv/bin/granian"), "--interface", "wsgi", "--workers", "1",
                   "--blocking-threads", "1", "--runtime-threads", "1", "--no-access-log",
                   "--log-level", "warning", "--host", "127.0.0.1", "--port", str(self.port),
                   "--factory", target.removesuffix("()")]
        self.process = subprocess.Popen(["taskset", "-c", "0", *cmd], env={**os.environ, **env},
                                        cwd=ROOT)
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{app} on {server} did not start")

    def cpu(self) -> float:
        return tree_cpu(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def measure(server: Server, key: Any, launches: int, concurrency: int, first: int) -> dict[str, Any]:
    driver = Driver(server.port, key, "bench-key", server.base_url)
    before = server.cpu()
    wall = driver.run(launches, concurrency, first)
    cpu = server.cpu() - before
    if driver.errors:
        raise SystemExit(f"{server.base_url}: {len(driver.errors)} errors, first: {driver.errors[0]}")
    done = len(driver.launch_times)
    return {"cpu_ms": cpu / done * 1000, "per_s": done / wall, "driver": driver}


def bench(backend: str, servers: list[str], rounds: int, launches: int, concurrency: int,
          warmup: int, floor: bool = False) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "bench-key", "alg": "RS256", "use": "sig"})
    jwks = Jwks(jwk)
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-"))
    env = prepare(backend, workdir, jwks.url)
    label = "SQLite" if backend == "sqlite" else "PostgreSQL + Redis"
    pin(1)
    try:
        for name in servers:
            tool = Server("tool", name, env, jwks.url)
            reference = Server("baseline", name, env, jwks.url)
            bare = Server("floor", name, env, jwks.url) if floor else None
            try:
                n = 0
                for s in (tool, reference, *([bare] if bare else [])):
                    measure(s, key, warmup, concurrency, n)
                    n += warmup
                cpu: dict[str, list[float]] = {"tool": [], "reference": [], "floor": []}
                drivers: list[Driver] = []
                ratios = []
                for r in range(rounds):
                    order = [("tool", tool), ("reference", reference)]
                    if r % 2:
                        order.reverse()
                    for which, s in order:
                        m = measure(s, key, launches, concurrency, n)
                        n += launches
                        cpu[which].append(m["cpu_ms"])
                        if which == "tool":
                            drivers.append(m["driver"])
                    ratios.append(cpu["reference"][-1] / cpu["tool"][-1])
                    if bare is not None:
                        cpu["floor"].append(measure(bare, key, launches, concurrency, n)["cpu_ms"])
                        n += launches
            finally:
                tool.stop()
                reference.stop()
                if bare is not None:
                    bare.stop()
            print(f"\n{label}, {name} (1 worker on core 0), {rounds} rounds of {launches} launches")
            for which in ("tool", "reference", "floor"):
                v = cpu[which]
                if not v:
                    continue
                print(f"  {which:9s} server CPU per complete launch: median {statistics.median(v):.3f} ms"
                      f"  (min {min(v):.3f}, max {max(v):.3f})")
            print(f"  ratio reference / tool: median {statistics.median(ratios):.2f}"
                  f"  (min {min(ratios):.2f}, max {max(ratios):.2f})   target >= 2")
            times = {k: [t for d in drivers for t in d.request_times[k]] for k in ("login", "launch", "page")}
            whole = [t for d in drivers for t in d.launch_times]
            print(f"  tool latency p50/p99 ms (driver side, signing excluded): launch "
                  f"{pct(whole, 50) * 1000:.2f}/{pct(whole, 99) * 1000:.2f}; login "
                  f"{pct(times['login'], 50) * 1000:.2f}/{pct(times['login'], 99) * 1000:.2f}, "
                  f"launch {pct(times['launch'], 50) * 1000:.2f}/{pct(times['launch'], 99) * 1000:.2f}"
                  f", page {pct(times['page'], 50) * 1000:.2f}/{pct(times['page'], 99) * 1000:.2f}")
    finally:
        drop_database(env)
        shutil.rmtree(workdir, ignore_errors=True)
        jwks.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--launches", type=int, default=400, help="per round and app")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    parser.add_argument("--floor", action="store_true",
                        help="also measure bench/floor_app.py: the server's own cost per launch")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    servers = list(SERVERS) if args.server == "both" else [args.server]
    print("complete launches (login + launch + first page): this tool against the pylti1p3 "
          "reference, alternating rounds; server pinned to core 0, driver on core 1")
    for backend in backends:
        bench(backend, servers, args.rounds, args.launches, args.concurrency, args.warmup,
              args.floor)


if __name__ == "__main__":
    main()
