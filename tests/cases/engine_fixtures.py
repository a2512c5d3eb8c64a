"""Small Case objects built in Python, so engine tests do not depend on the authored content."""

from __future__ import annotations

from dataclasses import dataclass

from lti_tool.cases.model import Case, Choice, Decision, Ending, Text

END = "end"


def text(label: str) -> Text:
    return Text(fr=f"{label} (fr)", en=f"{label} (en)")


@dataclass(frozen=True)
class Spec:
    """One choice to build: points, critical flag, next node, grid dimensions."""

    id: str
    points: int
    next: str
    critical: bool = False
    grid: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()  # only on critical choices (model.Choice refuses others)


def choice(spec: Spec) -> Choice:
    return Choice(
        id=spec.id,
        text=text(f"choice {spec.id}"),
        points=spec.points,
        critical=spec.critical,
        consequence=text(f"consequence {spec.id}"),
        next=spec.next,
        note=text(f"note {spec.id}") if spec.critical else None,
        grid=spec.grid,
        faults=spec.faults,
    )


def decision(node_id: str, specs: list[Spec], objectives: tuple[str, ...] = ("lo1",),
             step: str = "welcome") -> Decision:
    return Decision(id=node_id, ref=node_id.upper(), step=step, objectives=objectives,
                    prompt=text(f"prompt {node_id}"), choices=tuple(choice(s) for s in specs))


def build_case(case_id: str, decisions: list[Decision], start: str | None = None) -> Case:
    nodes: dict[str, Decision | Ending] = {d.id: d for d in decisions}
    nodes[END] = Ending(id=END)
    return Case(
        id=case_id, title=text("title"), subtitle=text("subtitle"), situation=text("situation"),
        actors=(), start=start or decisions[0].id, nodes=nodes,
        endings={o: text(f"ending {o}") for o in ("conforme", "consolider", "reprendre")},
        debrief=text("debrief"),
    )


def linear_case(case_id: str = "lin", n: int = 5,
                objectives: list[tuple[str, ...]] | None = None) -> Case:
    """d1 … dn in a row; at each: `best` (2), `ok` (1), `bad` (0), `ce` (0, critical).

    Choice ids are `<node>-best` etc. The best choices of d1 and d2 document grid dimensions, so
    that a path can document some and miss others.
    """
    grids = {1: ("amorce", "nature"), 2: ("etendue",)}
    decisions = []
    for i in range(1, n + 1):
        node, nxt = f"d{i}", (f"d{i + 1}" if i < n else END)
        decisions.append(decision(node, [
            Spec(f"{node}-best", 2, nxt, grid=grids.get(i, ())),
            Spec(f"{node}-ok", 1, nxt, grid=("amorce",) if i == 2 else ()),
            Spec(f"{node}-bad", 0, nxt),
            Spec(f"{node}-ce", 0, nxt, critical=True),
        ], objectives=objectives[i - 1] if objectives else ("lo1",)))
    return build_case(case_id, decisions)


def branching_case(case_id: str = "branch") -> Case:
    """A shortcut: at d1 the acceptable choice skips d2, so attempts answer 2 or 3 decisions."""
    return build_case(case_id, [
        decision("d1", [Spec("d1-best", 2, "d2"), Spec("d1-ok", 1, "d3"),
                        Spec("d1-ce", 0, "d3", critical=True)], objectives=("lo1", "lo3")),
        decision("d2", [Spec("d2-best", 2, "d3"), Spec("d2-ok", 1, "d3"),
                        Spec("d2-bad", 0, "d3")], objectives=("lo2",)),
        decision("d3", [Spec("d3-best", 2, END), Spec("d3-ok", 1, END),
                        Spec("d3-ce", 0, END, critical=True)], objectives=("lo3",)),
    ])


def moves(*per_decision: str) -> list[str]:
    """Choice ids on a linear case: `moves("best", "ce>ok")` → d1-best, d2-ce, d2-ok (a retry)."""
    return [f"d{i}-{kind}" for i, kinds in enumerate(per_decision, start=1)
            for kind in kinds.split(">")]
