"""Graph checks of one case's nodes (content/FORMAT.md): every `next` names an existing node, every
node is reachable from `start`, no cycle, one ending node, and every path reaches it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Report = Callable[[str | None, str], None]
Edges = dict[str, list[tuple[str, str]]]  # node -> [(choice id, target node)]


def as_ref(value: Any) -> str | None:
    """A node reference as the graph sees it; a bare number (already reported) still links."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def choice_label(choice: Mapping[str, Any], index: int) -> str:
    """The choice's id, or its position when the id is missing (already reported)."""
    cid = choice.get("id")
    return cid if isinstance(cid, str) else f"#{index + 1}"


def node_choices(node: Mapping[str, Any]) -> list[dict[Any, Any]]:
    """The node's choices that are mappings (other shapes are schema errors, already reported)."""
    choices = node.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def edges_of(nodes: Mapping[str, Mapping[str, Any]], report: Report) -> Edges:
    """The links between existing nodes; a `next` naming no node is reported."""
    edges: Edges = {n: [] for n in nodes}
    for node_id, node in nodes.items():
        for index, choice in enumerate(node_choices(node)):
            cid = choice_label(choice, index)
            target = as_ref(choice.get("next"))
            if target is None:
                continue
            if target in nodes:
                edges[node_id].append((cid, target))
            else:
                report(node_id, f"choice {cid}: next names node {target}, which does not exist")
    return edges


def check_graph(
    nodes: Mapping[str, Mapping[str, Any]], edges: Edges, start: str | None, report: Report,
    *, clean_so_far: bool,
) -> None:
    """One ending, start exists, reachability, cycles; the dead-end safety net runs only on an
    otherwise clean case (`clean_so_far`), where it cannot repeat an earlier problem."""
    endings = [n for n, node in nodes.items() if node.get("type") == "ending"]
    if nodes and not endings:
        report(None, "nodes: there is no node of type ending; every path must end at the one ending "
               "node")
    elif len(endings) > 1:
        report(None, f"nodes: {len(endings)} nodes of type ending ({', '.join(endings)}): "
               "exactly one is allowed")
    problems_before = not clean_so_far or (nodes and len(endings) != 1)

    if start is not None and nodes and start not in nodes:
        report(None, f"start names node {start}, which does not exist")
    if start is None or start not in nodes:
        return
    unreachable = _unreachable(nodes, edges, start)
    for node_id in unreachable:
        report(node_id, f"unreachable: no path from start ({start}) leads to this node")
    looped = _report_cycles(nodes, edges, start, report)
    if not (problems_before or unreachable or looped):
        # Safety net: with no dangling link, no cycle and one ending, every path already ends there.
        for node_id in _dead_ends(nodes, edges, set(endings)):
            report(node_id, "dead end: no path from this node reaches the ending")


def _unreachable(nodes: Mapping[str, Any], edges: Edges, start: str) -> list[str]:
    reached = {start}
    queue = [start]
    while queue:
        for _, target in edges[queue.pop()]:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    return [n for n in nodes if n not in reached]


def _report_cycles(nodes: Mapping[str, Any], edges: Edges, start: str, report: Report) -> bool:
    """Report each loop once (a choice leading back to a node on the current path); True if any."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    reported: set[frozenset[str]] = set()

    def visit(node_id: str, trail: list[str]) -> None:
        state[node_id] = 1
        trail.append(node_id)
        for cid, target in edges[node_id]:
            if state.get(target) == 1:
                loop = trail[trail.index(target) :] + [target]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    report(
                        node_id,
                        f"endless loop: choice {cid} leads back to {target} ({' → '.join(loop)}); "
                        "every path must move on to the ending",
                    )
            elif target not in state:
                visit(target, trail)
        trail.pop()
        state[node_id] = 2

    for node_id in [start, *nodes]:
        if node_id not in state:
            visit(node_id, [])
    return bool(reported)


def _dead_ends(nodes: Mapping[str, Any], edges: Edges, endings: set[str]) -> list[str]:
    finishing = set(endings)
    changed = True
    while changed:
        changed = False
        for node_id in nodes:
            if node_id not in finishing and any(t in finishing for _, t in edges[node_id]):
                finishing.add(node_id)
                changed = True
    return [n for n in nodes if n not in finishing]
