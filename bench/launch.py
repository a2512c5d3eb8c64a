"""Launch benchmark: complete LTI launches against the tool served by gunicorn on one core.

    .venv/bin/python bench/launch.py [--launches 3000] [--backend sqlite|postgres|both]

A complete launch is what a browser does: GET /lti/login (state + nonce stored, cookie set) →
the platform signs an id_token for that nonce → POST /lti/launch (every check, nonce consumed,
learner/course/link upserted, launch data stored) → GET the landing page. The server is one
gunicorn sync worker pinned to core 0 (`taskset`); this driver runs on core 1 with a few
keep-alive connections in flight.

Printed figures:
- launches/s observed (wall clock) — bounded by whichever core saturates first;
- launches per server CPU-second — launches divided by the worker's CPU time (utime + stime from
  /proc), i.e. what one core sustains. The platform's RS256 signing (~1.4 ms per token here) runs
  on the driver core and often saturates it before the server core, so this is the per-core figure
  to compare with the target (≥ 1,100 complete launches/s per core);
- p50/p99 latency of a whole launch (three requests) and of each request, as seen by the driver.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
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

from common import children, cpu_seconds, free_port, pct  # noqa: E402

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ISSUER = "https://bench-lms.test"
CLIENT_ID = "bench-client"
DEPLOYMENT = "bench-deployment"


def pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        pass


class Jwks:
    """The platform's JWKS over HTTP (fetched once by the tool, then cached)."""

    def __init__(self, jwk: dict[str, Any]) -> None:
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Response

        body = json.dumps({"keys": [jwk]})
        app = Response(body, mimetype="application/json")
        self.server = make_server("127.0.0.1", 0, app)
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
        env["REDIS_URL"] = "redis://127.0.0.1:6379/14"
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
        response, _ = self._request(
            conn,
            "POST",
            "/lti/launch",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.header(jar)},
        )
        jar = self.cookies(response, jar)
        t3 = time.perf_counter()
        if response.status != 303:
            raise RuntimeError(f"launch answered {response.status}")
        location = response.getheader("Location")
        path = location[location.index("/", 8) :] if location.startswith("http") else location
        response, data = self._request(conn, "GET", path, headers={"Cookie": self.header(jar)})
        t4 = time.perf_counter()
        if response.status != 200:
            raise RuntimeError(f"page answered {response.status}")
        with self.lock:
            self.request_times["login"].append(t1 - t0)
            self.request_times["launch"].append(t3 - t2)
            self.request_times["page"].append(t4 - t3)
            self.launch_times.append((t1 - t0) + (t4 - t2))  # server-facing time, signing excluded

    def run(self, total: int, concurrency: int) -> float:
        counter = iter(range(total))
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


def bench(
    backend: str, launches: int, concurrency: int, warmup: int, app: str = "tool"
) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "bench-key", "alg": "RS256", "use": "sig"})
    jwks = Jwks(jwk)
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-"))
    env = prepare(backend, workdir, jwks.url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env["LTI_TOOL_BASE_URL"] = base_url
    target = "lti_tool:create_app()"
    if app == "baseline":
        env.update(
            BENCH_ISSUER=ISSUER,
            BENCH_CLIENT_ID=CLIENT_ID,
            BENCH_JWKS_URL=jwks.url,
            BENCH_DEPLOYMENT=DEPLOYMENT,
            PYTHONPATH=str(ROOT / "bench"),
        )
        target = "baseline_pylti1p3:create_app()"
    cmd = [
        "taskset",
        "-c",
        "0",
        str(ROOT / ".venv/bin/gunicorn"),
        "-w",
        "1",
        "-k",
        "sync",
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        target,
    ]
    server = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        worker_pid = children(server.pid)[0]
        pin(1)
        driver = Driver(port, key, "bench-key", base_url)
        driver.run(warmup, concurrency)
        if driver.errors:
            raise SystemExit(f"warm-up failed: {driver.errors[0]}")
        driver = Driver(port, key, "bench-key", base_url)
        cpu_before = cpu_seconds(worker_pid)
        wall = driver.run(launches, concurrency)
        cpu = cpu_seconds(worker_pid) - cpu_before
    finally:
        server.terminate()
        server.wait(10)
        drop_database(env)
        shutil.rmtree(workdir, ignore_errors=True)
        jwks.server.shutdown()
    done = len(driver.launch_times)
    return {
        "backend": backend,
        "launches": done,
        "errors": len(driver.errors),
        "first_error": driver.errors[0] if driver.errors else "",
        "observed_per_s": done / wall,
        "per_cpu_s": done / cpu if cpu else float("nan"),
        "server_cpu_ms_per_launch": cpu / done * 1000 if done else float("nan"),
        "p50_ms": pct(driver.launch_times, 50) * 1000,
        "p99_ms": pct(driver.launch_times, 99) * 1000,
        **{f"{k}_p50_ms": pct(v, 50) * 1000 for k, v in driver.request_times.items()},
        **{f"{k}_p99_ms": pct(v, 99) * 1000 for k, v in driver.request_times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--launches", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--app",
        choices=["tool", "baseline"],
        default="tool",
        help="baseline: the pylti1p3-documentation tool (no database)",
    )
    args = parser.parse_args()
    if args.app == "baseline":
        args.backend = "sqlite"  # it keeps everything in the cookie session
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(
        f"complete launches (login + launch + first page), gunicorn 1 sync worker on core 0, "
        f"driver on core 1, {args.launches} launches after {args.warmup} warm-up"
    )
    for backend in backends:
        r = bench(backend, args.launches, args.concurrency, args.warmup, args.app)
        label = "SQLite" if backend == "sqlite" else "PostgreSQL + Redis"
        if args.app == "baseline":
            label = "pylti1p3-documentation baseline (cookie session, no database)"
        print(f"\n{label}: {r['launches']} launches, {r['errors']} errors {r['first_error']}")
        print(
            f"  per core (launches / server CPU-second): {r['per_cpu_s']:8.0f} /s"
            f"   ({r['server_cpu_ms_per_launch']:.3f} ms of server CPU per launch)"
        )
        print(f"  observed (wall clock):                   {r['observed_per_s']:8.0f} /s")
        print(
            f"  launch latency p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms "
            f"(login + launch + page, signing excluded)"
        )
        print(
            f"  per request p50/p99 ms: login {r['login_p50_ms']:.2f}/{r['login_p99_ms']:.2f}  "
            f"launch {r['launch_p50_ms']:.2f}/{r['launch_p99_ms']:.2f}  "
            f"page {r['page_p50_ms']:.2f}/{r['page_p99_ms']:.2f}"
        )


if __name__ == "__main__":
    main()
