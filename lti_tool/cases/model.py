"""Typed, immutable view of validated case content (see content/FORMAT.md).

The loader builds these from YAML after the JSON Schema and the graph checks pass; the engine and
the player only ever see these objects, never raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

LANGUAGES = ("fr", "en")
Outcome = Literal["conforme", "consolider", "reprendre"]
OUTCOMES: tuple[Outcome, ...] = ("conforme", "consolider", "reprendre")
# What a choice tagged `faults` tells someone to do (content/FORMAT.md): have an image or a
# conversation deleted, viewed (opened, unlocked, searched), copied (forwarded, screenshotted,
# stored), or qualify the act in the DPCP's place. Such a choice is always a critical error.
FAULT_KINDS = ("delete", "view", "copy", "qualify")


@dataclass(frozen=True)
class Text:
    """A text the learner reads, in French (Quebec) and English."""

    fr: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


@dataclass(frozen=True)
class Choice:
    id: str
    text: Text
    points: int  # 2 best practice, 1 acceptable, 0 error
    critical: bool
    consequence: Text
    next: str
    note: Text | None = None  # instructional note, only on critical errors
    grid: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()  # FAULT_KINDS; the loader rejects them on a non-critical choice

    def __post_init__(self) -> None:
        # The pass rule relies on it: an unresolved critical error fails the case, so a faulted
        # choice can never stand in a passed attempt (tests/cases/test_engine_properties.py).
        if self.faults and not (self.critical and self.points == 0 and self.note is not None):
            raise ValueError(f"choice {self.id}: a choice with faults must be a critical error")


@dataclass(frozen=True)
class Decision:
    id: str
    ref: str
    step: str
    objectives: tuple[str, ...]
    prompt: Text
    choices: tuple[Choice, ...]
    local_validation: Text | None = None
    type: Literal["decision"] = "decision"

    def choice(self, choice_id: str) -> Choice | None:
        for c in self.choices:
            if c.id == choice_id:
                return c
        return None

    @property
    def best(self) -> Choice:
        return next(c for c in self.choices if c.points == 2)


@dataclass(frozen=True)
class Ending:
    id: str
    type: Literal["ending"] = "ending"


Node = Decision | Ending


@dataclass(frozen=True)
class Actor:
    id: str
    name: str
    role: Text


@dataclass(frozen=True)
class Case:
    id: str
    title: Text
    subtitle: Text
    situation: Text
    actors: tuple[Actor, ...]
    start: str
    nodes: Mapping[str, Node]
    endings: Mapping[str, Text]  # outcome -> what happened to the victim and the file
    debrief: Text
    source: str = ""  # file it was loaded from, for messages

    def decision(self, node_id: str) -> Decision:
        node = self.nodes[node_id]
        if not isinstance(node, Decision):
            raise KeyError(f"{node_id} is not a decision")
        return node

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(n for n in self.nodes.values() if isinstance(n, Decision))


@dataclass(frozen=True)
class Labelled:
    id: str
    label: Text
    summary: Text | None = None


@dataclass(frozen=True)
class EndingLabel:
    title: Text
    summary: Text


@dataclass(frozen=True)
class Reflection:
    id: str
    question: Text
    guidance: Text
    min_words: int


@dataclass(frozen=True)
class Level:
    id: str
    title: Text
    introduction: Text
    territory_notice: Text
    pass_rule: Text
    case_ids: tuple[str, ...]
    objectives: tuple[Labelled, ...]
    method_steps: tuple[Labelled, ...]
    grid_dimensions: tuple[Labelled, ...]
    endings: Mapping[str, EndingLabel]
    reflections: tuple[Reflection, ...]
    cases: Mapping[str, Case] = field(default_factory=dict)  # filled by the loader, in play order
