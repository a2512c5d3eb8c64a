"""Checks beyond the schema: level.yaml's ids and reflections, and a case's ids, scoring and fault
rule (content/FORMAT.md). Tolerant of shapes the schema already rejected: they are skipped here,
never reported twice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Level
from .errors import ContentError, Document
from .graph import Report, as_ref, check_graph, choice_label, edges_of, node_choices

REFLECTION_IDS = ("steps", "learned", "delicate")


def _ids(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for value in values:
        if value in seen and value not in dupes:
            dupes.append(value)
        seen.add(value)
    return dupes


@dataclass(frozen=True)
class LevelIds:
    """The ids a case may reference, declared in level.yaml."""

    steps: tuple[str, ...]
    objectives: tuple[str, ...]
    grid: tuple[str, ...]

    @classmethod
    def from_doc(cls, doc: Document) -> LevelIds:
        return cls(
            tuple(_ids(doc.get("method_steps"))),
            tuple(_ids(doc.get("objectives"))),
            tuple(_ids(doc.get("grid_dimensions"))),
        )

    @classmethod
    def from_level(cls, level: Level) -> LevelIds:
        return cls(
            tuple(s.id for s in level.method_steps),
            tuple(o.id for o in level.objectives),
            tuple(g.id for g in level.grid_dimensions),
        )


def level_checks(doc: Document, file: str) -> list[ContentError]:
    """Ids declared once; exactly the three reflections, in order."""
    errors = []
    for key in ("objectives", "method_steps", "grid_dimensions", "reflections"):
        for dupe in _duplicates(_ids(doc.get(key))):
            errors.append(ContentError(file, None, f"{key}: id {dupe} is declared more than once"))
    reflections = doc.get("reflections")
    if isinstance(reflections, list):
        found = [r.get("id") if isinstance(r, dict) else r for r in reflections]
        if found != list(REFLECTION_IDS):
            shown = ", ".join(str(f) for f in found) or "none"
            errors.append(
                ContentError(
                    file,
                    None,
                    "reflections: exactly three are required, with ids "
                    f"{', '.join(REFLECTION_IDS)} in this order; found: {shown}",
                )
            )
    return errors


def case_checks(
    doc: Document, file: str, level_ids: LevelIds | None, expected_id: str | None
) -> list[ContentError]:
    """A case's ids, each decision's choices, then its graph."""
    errors: list[ContentError] = []

    def report(node: str | None, problem: str) -> None:
        errors.append(ContentError(file, node, problem))

    case_id = doc.get("id")
    if expected_id is not None and isinstance(case_id, str) and case_id != expected_id:
        report(None, f"id {case_id} does not match the file name {expected_id}.yaml")
    for dupe in _duplicates(_ids(doc.get("actors"))):
        report(None, f"actors: id {dupe} is used more than once")

    raw_nodes = doc.get("nodes")
    nodes: dict[str, dict[Any, Any]] = {}
    if isinstance(raw_nodes, dict):
        nodes = {str(k): (v if isinstance(v, dict) else {}) for k, v in raw_nodes.items()}

    _unique_refs_and_choice_ids(nodes, report)
    edges = edges_of(nodes, report)
    for node_id, node in nodes.items():
        for index, choice in enumerate(node_choices(node)):
            _check_choice(node_id, choice_label(choice, index), choice, level_ids, report)
        if node.get("type") != "ending":
            _check_decision(node_id, node, level_ids, report)
    check_graph(nodes, edges, as_ref(doc.get("start")), report, clean_so_far=not errors)
    return errors


def _unique_refs_and_choice_ids(nodes: Mapping[str, Mapping[str, Any]], report: Report) -> None:
    choice_owner: dict[str, str] = {}
    ref_owner: dict[str, str] = {}
    for node_id, node in nodes.items():
        ref = node.get("ref")
        if isinstance(ref, str):
            if ref in ref_owner:
                report(node_id, f"ref {ref} is already used by node {ref_owner[ref]}")
            else:
                ref_owner[ref] = node_id
        for choice in node_choices(node):
            cid = choice.get("id")
            if not isinstance(cid, str):
                continue
            if cid in choice_owner:
                report(
                    node_id,
                    f"choice id {cid} is already used in node {choice_owner[cid]}: "
                    "choice ids must be unique across the case",
                )
            else:
                choice_owner[cid] = node_id


def _check_choice(
    node_id: str, cid: str, choice: Mapping[str, Any], level_ids: LevelIds | None, report: Report
) -> None:
    """Scoring, the note rule, the fault rule and declared grid dimensions of one choice."""
    critical = choice.get("critical") is True
    points = choice.get("points")
    if critical and points in (1, 2) and not isinstance(points, bool):
        plural = "s" if points != 1 else ""
        report(node_id, f"choice {cid} is critical but worth {points} point{plural}: "
               "a critical error is worth 0")
    if critical and "note" not in choice:
        report(node_id, f"choice {cid} is critical but has no instructional note")
    # Notes stay reserved for critical errors: the player shows a note only with the retry that a
    # critical error causes, so a note elsewhere would never be read (content/FORMAT.md).
    if "note" in choice and not critical:
        report(node_id, f"choice {cid} has an instructional note but is not critical: notes are only "
               "for critical errors (set critical: true or remove the note)")
    faults = choice.get("faults")
    if isinstance(faults, list) and faults and not critical:
        kinds = ", ".join(str(f) for f in faults)
        report(node_id, f"choice {cid} is tagged faults: [{kinds}] but is not critical: a choice that "
               "has an image or a conversation deleted, viewed or copied, or that qualifies the act "
               "in the DPCP's place, is a critical error (critical: true, 0 points and an "
               "instructional note)")
    grid = choice.get("grid")
    if level_ids is not None and isinstance(grid, list):
        for dim in grid:
            if isinstance(dim, str) and dim not in level_ids.grid:
                report(node_id, f"choice {cid}: grid dimension {dim} is not declared in level.yaml "
                       f"(declared: {', '.join(level_ids.grid)})")


def _check_decision(
    node_id: str, node: Mapping[str, Any], level_ids: LevelIds | None, report: Report
) -> None:
    """Exactly one best practice; step and objectives declared in level.yaml."""
    choices = node_choices(node)
    if choices:
        best = [c.get("id", "?") for c in choices
                if c.get("points") == 2 and not isinstance(c.get("points"), bool)]
        if not best:
            report(node_id, "no choice is worth 2 points: exactly one best-practice choice is required")
        elif len(best) > 1:
            report(node_id, f"{len(best)} choices are worth 2 points ({', '.join(map(str, best))}): "
                   "exactly one is allowed")
    if level_ids is None:
        return
    step = node.get("step")
    if isinstance(step, str) and step not in level_ids.steps:
        report(node_id, f"step {step} is not a method step declared in level.yaml "
               f"(declared: {', '.join(level_ids.steps)})")
    objectives = node.get("objectives")
    for objective in objectives if isinstance(objectives, list) else []:
        if isinstance(objective, str) and objective not in level_ids.objectives:
            report(node_id, f"objective {objective} is not declared in level.yaml "
                   f"(declared: {', '.join(level_ids.objectives)})")
