"""Content upgrades: bring an older content document to the current schema version before checks.

Content files carry `schema_version` (content/FORMAT.md). When the format changes, the new JSON
Schema gets the next version number and one function `upgrade_vN_to_vN+1(doc) -> doc` is registered
in `UPGRADES`; `upgrade()` applies them in order, so files written for an older version keep loading
and are then validated like current ones. A missing, malformed or future version is rejected with a
clear message rather than guessed at.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

CURRENT_VERSION = 1

Document = dict[str, Any]


class UpgradeError(ValueError):
    """The document's schema_version cannot be brought to CURRENT_VERSION."""


# Version 0 is a hypothetical earlier format in which three localized fields of a case were written
# as sibling keys (`prompt_fr`/`prompt_en` on decisions, `text_fr`/`text_en` and
# `consequence_fr`/`consequence_en` on choices) instead of a `{fr, en}` mapping. Nothing else
# differed.
_V0_DECISION_TEXTS = ("prompt",)
_V0_CHOICE_TEXTS = ("text", "consequence")


def _fold_siblings(item: dict[Any, Any], fields: tuple[str, ...]) -> None:
    """Replace `<field>_fr` / `<field>_en` by `<field>: {fr, en}`, unless `<field>` is there too."""
    for name in fields:
        keys = {lang: f"{name}_{lang}" for lang in ("fr", "en")}
        if name in item or not any(k in item for k in keys.values()):
            continue  # nothing to fold, or both spellings: leave it for the schema to reject
        item[name] = {lang: item.pop(key) for lang, key in keys.items() if key in item}


def upgrade_v0_to_v1(doc: Document) -> Document:
    """v0 → v1: fold the `*_fr`/`*_en` siblings of prompts, choice texts and consequences."""
    nodes = doc.get("nodes")
    if isinstance(nodes, dict):
        for node in nodes.values():
            if not isinstance(node, dict):
                continue
            _fold_siblings(node, _V0_DECISION_TEXTS)
            choices = node.get("choices")
            if isinstance(choices, list):
                for choice in choices:
                    if isinstance(choice, dict):
                        _fold_siblings(choice, _V0_CHOICE_TEXTS)
    return doc


# version N -> the function that turns a version-N document into a version-N+1 document
UPGRADES: dict[int, Callable[[Document], Document]] = {
    0: upgrade_v0_to_v1,
}


def upgrade(doc: Document) -> Document:
    """Return `doc` brought to CURRENT_VERSION (a new object; the input is not modified).

    Raises UpgradeError when schema_version is missing, not an integer, newer than this tool, or an
    old version with no registered upgrade.
    """
    if "schema_version" not in doc:
        raise UpgradeError(
            "missing schema_version: "
            f"add `schema_version: {CURRENT_VERSION}` at the top of the file"
        )
    version = doc["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise UpgradeError(
            f"schema_version must be a whole number such as {CURRENT_VERSION}, got {version!r}"
        )
    if version > CURRENT_VERSION:
        raise UpgradeError(
            f"schema_version {version} is newer than this tool understands (it reads up to "
            f"{CURRENT_VERSION}): update lti-tool, or write the file in version {CURRENT_VERSION}"
        )
    if any(v not in UPGRADES for v in range(version, CURRENT_VERSION)):
        known = ", ".join(str(v) for v in sorted({*UPGRADES, CURRENT_VERSION}))
        raise UpgradeError(f"unknown schema_version {version} (known versions: {known})")
    doc = copy.deepcopy(doc)
    while version < CURRENT_VERSION:
        doc = UPGRADES[version](doc)
        version += 1
        doc["schema_version"] = version
    return doc
