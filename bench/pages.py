"""Page benchmark, in-process: CPU per request of the learner's pages, through Flask's test client.

    .venv/bin/python bench/pages.py [--rounds 7] [--requests 200]

No server and no network (the platform's JWKS is fetched once over loopback, then cached): what is
left is the tool's own work per request (Werkzeug/Flask, the view, SQL on SQLite, Jinja), the
figure to watch when changing a view or a template. Measured, on one SQLite database:

- level home, fresh: a learner with no attempt (what most launches show);
- level home, in progress: a learner in the middle of a case, with the badge panel;
- decision page: that learner's current decision (GET /attempts/<id>);
- complete launch: GET /lti/login, then POST /lti/launch answering with the level home. The
  platform's signing of the id_token happens between the two and is not counted.

Each round runs every measure once, in a rotating order, so that whatever else the machine does
falls on all alike; printed per measure: CPU ms per request (process time of this process), median
and min–max over the rounds. bench/launch.py measures the same launch under a real server.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lti_tool import create_app  # noqa: E402
from lti_tool.cli import upgrade_database  # noqa: E402
from lti_tool.config import load_settings  # noqa: E402
from lti_tool.keys import KeyStore  # noqa: E402
from tests.support.minted import TOOL_URL, MintedPlatform, landing, minted_platform  # noqa: E402


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The app's log lines (one per launch) still get formatted, part of a request's cost, but go
    to /dev/null rather than to this terminal (the tool's handler writes to the current stderr)."""
    saved = sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stderr = sink
        try:
            yield
        finally:
            sys.stderr = saved


def location(response: Any) -> str:
    assert response.status_code == 303, (response.status_code, response.get_data(as_text=True)[:300])
    return str(response.headers["Location"])


def token_of(url: str) -> str:
    found = re.search(r"[?&]t=([^&]+)", url)
    assert found, url
    return found.group(1)


def learner_in_progress(client: Any, platform: MintedPlatform) -> tuple[str, str]:
    """A learner who answered the first decision of the first case and dismissed its consequence:
    (their level home, their current decision page)."""
    home = landing(platform.launch(client, sub="bench-busy"))
    page = client.get(home).get_data(as_text=True)
    action = re.search(r'action="(/cases/[^"/]+/attempts)"', page)
    assert action, "no start form on the level home"
    attempt = location(client.post(action.group(1), data={"t": token_of(home)}))
    page = client.get(attempt).get_data(as_text=True)
    choice = re.search(r'name="choice" id="[^"]*" value="([^"]+)"', page)
    version = re.search(r'name="v" value="(\d+)"', page)
    assert choice and version, "no decision form"
    url = location(client.post(attempt.split("?")[0] + "/choice", data={
        "t": token_of(attempt), "choice": choice.group(1), "v": version.group(1)}))
    page = client.get(url).get_data(as_text=True)
    version = re.search(r'name="v" value="(\d+)"', page)
    assert version, "no consequence form"
    url = location(client.post(url.split("?")[0] + "/continue", data={
        "t": token_of(url), "v": version.group(1)}))
    home = landing(platform.launch(client, sub="bench-busy"))
    assert 'data-state="started"' in client.get(home).get_data(as_text=True)
    assert 'name="choice"' in client.get(url).get_data(as_text=True)
    return home, url


def get_measure(client: Any, url: str) -> Callable[[int], float]:
    def run(n: int) -> float:
        started = time.process_time()
        for _ in range(n):
            client.get(url)
        return time.process_time() - started

    return run


def launch_measure(client: Any, platform: MintedPlatform) -> Callable[[int], float]:
    """Login + launch with the first page; the platform's signing in between is not counted."""

    def run(n: int) -> float:
        spent = 0.0
        for _ in range(n):
            client._cookies.clear()  # a browser's cookie jar holds one login, not hundreds
            started = time.process_time()
            auth = platform.login(client, target=TOOL_URL + "/lti/launch")
            spent += time.process_time() - started
            token = platform.sign(platform.claims(auth, sub="bench-launch"))
            started = time.process_time()
            response = client.post("/lti/launch", data={"id_token": token, "state": auth["state"]})
            spent += time.process_time() - started
            assert response.status_code == 200, response.status_code
        return spent

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200, help="per measure and round")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    database_url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade_database(database_url)
    (tmp / "keys").mkdir()
    KeyStore(tmp / "keys").generate()
    settings = load_settings({"LTI_TOOL_ENV": "test"}, secret_key="bench-" + "x" * 40,
                             database_url=database_url, redis_url=None, keys_dir=tmp / "keys",
                             base_url=TOOL_URL, instance_dir=tmp,
                             outbound_private_networks=("any",))
    app = create_app(settings)
    client = app.test_client()
    with quiet_logs(), minted_platform(app) as platform:
        fresh = landing(platform.launch(client, sub="bench-fresh"))
        assert 'data-state="fresh"' in client.get(fresh).get_data(as_text=True)
        busy_home, decision = learner_in_progress(client, platform)
        measures = {
            "level home, fresh": get_measure(client, fresh),
            "level home, in progress": get_measure(client, busy_home),
            "decision page": get_measure(client, decision),
            "complete launch (login + launch with page)": launch_measure(client, platform),
        }
        for run in measures.values():  # warm-up: imports, template compilation, caches
            run(20)
        results: dict[str, list[float]] = {name: [] for name in measures}
        names = list(measures)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                n = args.requests if "launch" not in name else max(args.requests // 2, 1)
                results[name].append(measures[name](n) / n * 1000)
    print(f"in-process CPU per request (ms), {args.rounds} rounds × {args.requests} requests "
          f"(launches: half as many), SQLite:")
    for name, values in results.items():
        print(f"  {name:45s} median {statistics.median(values):5.2f}   "
              f"min–max {min(values):5.2f}–{max(values):5.2f}")


if __name__ == "__main__":
    main()
