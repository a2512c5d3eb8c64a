"""Screenshots of the running demo for the README (`make screenshots`): docs/screenshots/*.png.

Starts `lti-tool setup` and `lti-tool demo` (the tool and the demo LMS, as `make run` does) on free
ports with a scratch instance folder, keys and SQLite database, so the checkout's own demo data is
left alone; then drives headless Chromium (Debian's, through Playwright, like tests/browser) as the
learner Alex: the demo LMS course page, the level home, a decision, its consequence, then the best
path to the end of the first case and its debrief. Each PNG is 1280×720 (the level home also at
375×667, a phone).

Pages are found by the same stable hooks the browser tests use (tests/browser/conftest.py: the
activity's launch form, the case card's form, the decision and continue forms, the debrief link),
never by wording or layout, so the script keeps working while the pages' design changes.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--keep-log]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Frame, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the content loader names the best choices

from lti_tool.cases.loader import load_level  # noqa: E402
from lti_tool.cases.model import Case, Decision  # noqa: E402

CHROMIUM = "/usr/bin/chromium"  # scripts/ensure-browser.sh
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DESKTOP: ViewportSize = {"width": 1280, "height": 720}
PHONE: ViewportSize = {"width": 375, "height": 667}
TIMEOUT_MS = 20_000
LINK_ID = "rl-niveau-architecte"  # the demo course's activity (lti_tool/demo/settings.py)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, deadline: float, proc: subprocess.Popen[bytes]) -> None:
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"`lti-tool demo` stopped (exit status {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer in time")
        time.sleep(0.2)


@contextmanager
def running_demo(scratch: Path, log_path: Path) -> Iterator[tuple[str, str]]:
    """`lti-tool setup` then `lti-tool demo` on free ports; yields (LMS URL, tool URL)."""
    lti_tool = str(Path(sys.executable).with_name("lti-tool"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LTI_TOOL_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"))}
    env.update(LTI_TOOL_ENV="demo", LTI_TOOL_INSTANCE_DIR=str(scratch / "instance"),
               LTI_TOOL_KEYS_DIR=str(scratch / "keys"), LTI_TOOL_CONTENT_DIR=str(ROOT / "content"))
    # Fixed arguments, the venv's own command: nothing untrusted reaches these calls.
    subprocess.run([lti_tool, "setup"], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    tool_port, lms_port = free_port(), free_port()
    with log_path.open("w") as log:
        argv = [lti_tool, "demo", "--port", str(tool_port), "--lms-port", str(lms_port)]
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        lms, tool = f"http://127.0.0.1:{lms_port}", f"http://127.0.0.1:{tool_port}"
        try:
            deadline = time.monotonic() + 60
            wait_for(tool + "/healthz", deadline, proc)
            wait_for(lms + "/healthz", deadline, proc)
            yield lms, tool
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl+C, as a person stops it
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def best_path(case: Case) -> Iterator[tuple[str, str]]:
    """(decision, its best choice) from the case's start to its ending, as the content says."""
    node = case.start
    while isinstance(case.nodes.get(node), Decision):
        best = case.decision(node).best
        yield node, best.id
        node = best.next


def tool_frame(page: Page) -> Frame:
    frame = page.frame(name="tool-frame")
    assert frame is not None, "the demo LMS page has no tool frame"
    return frame


def shoot(page: Page, path: Path) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def take(out: Path, lms: str, lang: str) -> None:
    level = load_level(ROOT / "content")
    case = next(iter(level.cases.values()))
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            locale = "fr-CA" if lang == "fr" else "en"
            context = browser.new_context(viewport=DESKTOP, locale=locale)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.goto(lms + "/")
            shoot(page, out / "demo-lms.png")

            # Launch as the learner Alex from the course page, then show the tool's own page,
            # full size, in tabs of the same browser (the page token is in its URL).
            page.select_option("#launch-locale", locale)
            page.locator(f"[data-link-id='{LINK_ID}'] form.launch-form:has(input[name='user']"
                         "[value='learner']) button").click()
            card = page.frame_locator("#tool-frame").locator(f"li.case-card[data-case='{case.id}']")
            card.wait_for()
            level_url = tool_frame(page).url
            assert "/level" in level_url, level_url

            tool = context.new_page()
            tool.goto(level_url)
            shoot(tool, out / "level-home.png")
            phone = browser.new_context(viewport=PHONE, locale=locale)
            phone.set_default_timeout(TIMEOUT_MS)
            small = phone.new_page()
            small.goto(level_url)
            shoot(small, out / "level-home-375.png")
            phone.close()

            tool.locator(f"li.case-card[data-case='{case.id}'] form button[type='submit']").click()
            path = list(best_path(case))
            for index, (node, choice) in enumerate(path):
                tool.locator(f"section.decision[data-node='{node}']").wait_for()
                if index == 0:
                    shoot(tool, out / "decision.png")
                tool.locator(f"form.decision-form input[name='choice'][value='{choice}']").check()
                tool.locator("form.decision-form button[type='submit']").click()
                tool.locator(f"section.consequence[data-node='{node}']").wait_for()
                if index == 0:
                    shoot(tool, out / "consequence.png")
                tool.locator("form.continue-form button[type='submit']").click()
            tool.locator("a[href*='/debrief?']").first.click()
            tool.wait_for_url("**/debrief?**")
            tool.wait_for_load_state()
            shoot(tool, out / "debrief.png")
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--lang", choices=("fr", "en"), default="fr",
                        help="the launch language (the demo LMS page is bilingual)")
    parser.add_argument("--keep-log", action="store_true",
                        help="keep the demo's console log (printed path) for a failed run")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} missing: run `bash scripts/ensure-browser.sh`")
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="sexto-screenshots-"))
    log_path = scratch / "demo.log"
    ok = False
    try:
        with running_demo(scratch, log_path) as (lms, _tool):
            print(f"demo running (LMS {lms}); writing {args.out}:")
            take(args.out, lms, args.lang)
        ok = True
    finally:
        if ok and not args.keep_log:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"demo log: {log_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
