"""The frozen model.py objects, built from documents that passed every check (so lookups cannot
fail here). Every localized text is stripped and goes through the typography rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from ..model import (
    OUTCOMES,
    Actor,
    Case,
    Choice,
    Decision,
    Ending,
    EndingLabel,
    Labelled,
    Level,
    Node,
    Reflection,
    Text,
)
from .errors import Document
from .typography import text_for


def build_text(raw: Mapping[str, str]) -> Text:
    return Text(fr=text_for("fr", raw["fr"].strip()), en=text_for("en", raw["en"].strip()))


def _optional_text(raw: Mapping[str, str] | None) -> Text | None:
    return build_text(raw) if raw is not None else None


def build_level(doc: Document, cases: Mapping[str, Case]) -> Level:
    def labelled(items: list[Document]) -> tuple[Labelled, ...]:
        return tuple(
            Labelled(id=i["id"], label=build_text(i["label"]),
                     summary=_optional_text(i.get("summary")))
            for i in items
        )

    level = Level(
        id=doc["id"],
        title=build_text(doc["title"]),
        introduction=build_text(doc["introduction"]),
        territory_notice=build_text(doc["territory_notice"]),
        pass_rule=build_text(doc["pass_rule"]),
        case_ids=tuple(doc["cases"]),
        objectives=labelled(doc["objectives"]),
        method_steps=labelled(doc["method_steps"]),
        grid_dimensions=labelled(doc["grid_dimensions"]),
        endings=MappingProxyType(
            {
                outcome: EndingLabel(
                    title=build_text(doc["endings"][outcome]["title"]),
                    summary=build_text(doc["endings"][outcome]["summary"]),
                )
                for outcome in OUTCOMES
            }
        ),
        reflections=tuple(
            Reflection(
                id=r["id"],
                question=build_text(r["question"]),
                guidance=build_text(r["guidance"]),
                min_words=r["min_words"],
            )
            for r in doc["reflections"]
        ),
    )
    return replace(level, cases=MappingProxyType({cid: cases[cid] for cid in level.case_ids}))


def _build_choice(raw: Document) -> Choice:
    return Choice(
        id=raw["id"],
        text=build_text(raw["text"]),
        points=raw["points"],
        critical=raw.get("critical", False),
        consequence=build_text(raw["consequence"]),
        next=raw["next"],
        note=_optional_text(raw.get("note")),
        grid=tuple(raw.get("grid", ())),
        faults=tuple(raw.get("faults", ())),
    )


def _build_node(node_id: str, raw: Document) -> Node:
    if raw["type"] == "ending":
        return Ending(id=node_id)
    return Decision(
        id=node_id,
        ref=raw["ref"],
        step=raw["step"],
        objectives=tuple(raw["objectives"]),
        prompt=build_text(raw["prompt"]),
        local_validation=_optional_text(raw.get("local_validation")),
        choices=tuple(_build_choice(c) for c in raw["choices"]),
    )


def build_case(doc: Document, source: str) -> Case:
    return Case(
        id=doc["id"],
        title=build_text(doc["title"]),
        subtitle=build_text(doc["subtitle"]),
        situation=build_text(doc["situation"]),
        actors=tuple(
            Actor(id=a["id"], name=a["name"].strip(), role=build_text(a["role"]))
            for a in doc["actors"]
        ),
        start=doc["start"],
        nodes=MappingProxyType({str(k): _build_node(str(k), v) for k, v in doc["nodes"].items()}),
        endings=MappingProxyType(
            {outcome: build_text(doc["endings"][outcome]) for outcome in OUTCOMES}
        ),
        debrief=build_text(doc["debrief"]),
        source=source,
    )
