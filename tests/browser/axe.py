"""axe-core in a page or frame: WCAG 2.1 A/AA rules only, violations as a readable report.

axe-core comes from npm (`npm ci`, package.json) and is read from node_modules: nothing is
downloaded at run time. The tool's pages forbid inline scripts (CSP `script-src 'self'`), so the
script is not added as a <script> tag: its source runs through the DevTools protocol
(`evaluate`), which the page's CSP does not govern.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Frame, Page

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")


@dataclass(frozen=True)
class Violation:
    id: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]

    def describe(self) -> str:
        shown = ", ".join(self.targets[:8]) + (" …" if len(self.targets) > 8 else "")
        return f"{self.id} [{self.impact}] {self.help} ({self.help_url})\n      at: {shown}"


@cache
def _source() -> str:
    if not AXE_JS.is_file():
        raise FileNotFoundError(f"{AXE_JS} is missing: run `npm ci` (or `make test-setup`)")
    return AXE_JS.read_text(encoding="utf-8")


def inject(target: Page | Frame) -> None:
    """Load axe-core into the document of `target` (once per document)."""
    if target.evaluate("() => typeof window.axe === 'object'"):
        return
    loaded = target.evaluate("() => {\n" + _source() + "\n;return typeof window.axe;}")
    assert loaded == "object", f"axe-core did not load in {target.url}: {loaded}"


def _selector(target: Any) -> str:
    # A node inside a frame or shadow root is a list of selectors, outermost first.
    if isinstance(target, list):
        return " >>> ".join(_selector(t) for t in target)
    return str(target)


def run(target: Page | Frame) -> list[Violation]:
    """The WCAG 2.1 AA violations axe-core finds in the document of `target`."""
    inject(target)
    raw = target.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
            .then(r => r.violations.map(v => ({
                id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
                targets: v.nodes.map(n => n.target)})))""",
        list(WCAG_21_AA),
    )
    return [Violation(v["id"], v["impact"], v["help"], v["helpUrl"],
                      tuple(_selector(t) for t in v["targets"])) for v in raw]


def report(where: str, violations: list[Violation]) -> str:
    lines = [f"{where}: {len(violations)} WCAG 2.1 AA violation(s)"]
    lines += [f"  - {v.describe()}" for v in violations]
    return "\n".join(lines)


def assert_accessible(target: Page | Frame, where: str) -> None:
    violations = run(target)
    assert not violations, report(where, violations)
