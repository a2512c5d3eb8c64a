"""Load case content (content/FORMAT.md) into the frozen model.py objects, rejecting bad content.

Each file goes through: YAML reading (duplicate keys and keys YAML does not read as strings are
reported), the upgrade path (upgrade.py), the versioned JSON Schema (schema/*.v1.json), then the
graph checks the schema cannot express (links, reachability, cycles, scoring, ids declared in
level.yaml). Every problem of every file is collected and reported together, as
"file: node X: problem", so an author fixes them in one pass. The app loads the content once per
process through `get_level()`.

Command line: `python -m lti_tool.cases.loader [PATH]` (wired as `lti-tool cases validate [PATH]`).
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from jsonschema import Draft202012Validator, ValidationError

from .model import (
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
from .upgrade import CURRENT_VERSION, UpgradeError, upgrade

Kind = Literal["level", "case"]
Document = dict[str, Any]

CONTENT_DIR_ENV = "LTI_TOOL_CONTENT_DIR"
SCHEMA_DIR = Path(__file__).resolve().with_name("schema")
LEVEL_FILE = "level.yaml"
CASES_DIR = "cases"
REFLECTION_IDS = ("steps", "learned", "delicate")
_LANGUAGES = {"fr": "French text (fr)", "en": "English text (en)"}


# --- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentError:
    """One problem in one content file; `node` is the case node it is about, when there is one."""

    file: str
    node: str | None
    problem: str

    def __str__(self) -> str:
        if self.node is not None:
            return f"{self.file}: node {self.node}: {self.problem}"
        return f"{self.file}: {self.problem}"


class ContentValidationError(ValueError):
    """The content has problems; `errors` holds all of them, the message lists them one per line."""

    def __init__(self, errors: Iterable[ContentError]) -> None:
        self.errors: tuple[ContentError, ...] = tuple(errors)
        count = len(self.errors)
        lines = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"{count} content problem{'s' if count != 1 else ''}:\n{lines}")


def _display(path: Path) -> str:
    """The path as an author would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


# --- YAML reading -------------------------------------------------------------------------------


def _yaml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "an empty value"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


class _NonStringKey(str):
    """A mapping key YAML did not read as a string (`1:`, `yes:`), kept as its source text so that
    validation can go on; it is reported with its place in the document."""

    yaml_kind: str
    line: int

    def __new__(cls, text: str, yaml_kind: str, line: int) -> _NonStringKey:
        key = super().__new__(cls, text)
        key.yaml_kind = yaml_kind
        key.line = line
        return key

    def __copy__(self) -> _NonStringKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _NonStringKey:
        return self


# The C parser when libyaml is there (several times faster), the same safe constructor either way.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ContentLoader(_SafeLoader):
    """Safe loading that reports duplicate keys (PyYAML silently keeps the last one) and keys that
    are not strings."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[str] = []

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found {type(node).__name__}", node.start_mark
            )
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError(
                        None, None, "a mapping key must be a plain word", key_node.start_mark
                    )
                key = _NonStringKey(key_node.value, _yaml_kind(key), line)
            if key in mapping:
                self.problems.append(
                    f"line {line}: duplicate key {key} (YAML would silently keep only the last one)"
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _yaml_error_text(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        parts = [p for p in (exc.context, exc.problem) if p]
        return f"line {mark.line + 1}, column {mark.column + 1}: {'; '.join(parts)}"
    return str(exc)


def _read_yaml(path: Path, file: str) -> tuple[Document | None, list[ContentError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [ContentError(file, None, "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ContentError(file, None, f"cannot read the file: {exc}")]
    loader = _ContentLoader(text)
    try:
        doc = loader.get_single_data()
    except yaml.YAMLError as exc:
        return None, [ContentError(file, None, f"not valid YAML: {_yaml_error_text(exc)}")]
    finally:
        loader.dispose()
    errors = [ContentError(file, None, problem) for problem in loader.problems]
    if not isinstance(doc, dict):
        errors.append(
            ContentError(file, None, f"expected a mapping at the top, found {_yaml_kind(doc)}")
        )
        return None, errors
    return doc, errors


# --- locating a problem: JSON path -> node id + readable place ----------------------------------


def _child(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


def _item_label(items: Any, index: int) -> str:
    ident = _child(_child(items, index), "id")
    return ident if isinstance(ident, str) and ident else f"#{index + 1}"


def _locate(kind: Kind, doc: Document, path: list[Any]) -> tuple[str | None, str]:
    """Translate a JSON path into (case node id, readable place), e.g.
    ["nodes", "d3", "choices", 1, "text"] -> ("d3", "choice d3-b: text")."""
    node: str | None = None
    cursor: Any = doc
    rest = list(path)
    if kind == "case" and len(rest) >= 2 and rest[0] == "nodes":
        node = str(rest[1])
        cursor = _child(_child(doc, "nodes"), rest[1])
        rest = rest[2:]
    segments: list[str] = []
    for key in rest:
        if isinstance(key, int):
            label = _item_label(cursor, key)
            if segments and segments[-1] == "choices":
                segments[-1] = f"choice {label}"
            elif segments:
                segments[-1] += f"[{label}]"
            else:
                segments.append(f"[{label}]")
        else:
            segments.append(str(key))
        cursor = _child(cursor, key)
    if segments and segments[0].startswith("choice "):
        tail = ".".join(segments[1:])
        return node, segments[0] + (f": {tail}" if tail else "")
    return node, ".".join(segments)


def _error(file: str, kind: Kind, doc: Document, path: list[Any], problem: str) -> ContentError:
    node, where = _locate(kind, doc, path)
    return ContentError(file, node, f"{where}: {problem}" if where else problem)


# --- JSON Schema --------------------------------------------------------------------------------


@functools.cache
def _validator(kind: Kind) -> Draft202012Validator:
    path = SCHEMA_DIR / f"{kind}.v{CURRENT_VERSION}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


_ID_RULE = "use lowercase letters, digits and hyphens, e.g. d1 or case-1"


def _schema_problem(err: ValidationError) -> tuple[list[Any], str]:
    """(path the problem is about, message an author can act on) for one schema error."""
    path = list(err.absolute_path)
    validator, value, inst = err.validator, err.validator_value, err.instance
    lang = path[-1] if path and path[-1] in _LANGUAGES else None

    if validator == "required":
        # jsonschema reports one error per missing key, and its message names it
        missing = next(
            (k for k in value if err.message == f"{k!r} is a required property"),
            next((k for k in value if isinstance(inst, dict) and k not in inst), "?"),
        )
        if missing in _LANGUAGES:
            return path, f"missing {_LANGUAGES[missing]}"
        return path, f"missing required key '{missing}'"
    if validator == "additionalProperties" and value is False and isinstance(inst, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = ", ".join(repr(str(k)) for k in inst if k not in allowed)
        return path, f"unknown key {extra} (allowed: {', '.join(allowed)})"
    if validator == "pattern":
        if value == "\\S":
            if lang:
                return path[:-1], f"{_LANGUAGES[lang]} is empty"
            return path, "is empty"
        if "ref" in path[-1:]:
            return path, f"{inst!r} is not a valid reference: write it as in the brief, e.g. C1-D1"
        return path, f"{inst!r} is not a valid id: {_ID_RULE}"
    if validator == "type":
        if lang and (inst is None or inst == ""):
            return path[:-1], f"{_LANGUAGES[lang]} is empty"
        if value == "string" and not isinstance(inst, (dict, list)):
            problem = f"YAML read {inst!r} as {_yaml_kind(inst)}, not a string"
            if isinstance(inst, bool):
                problem += " (unquoted yes/no/on/off/true/false are booleans in YAML)"
            problem += ": write it in quotes"
            if lang:
                return path[:-1], f"{_LANGUAGES[lang]}: {problem}"
            return path, problem
        names = {"object": "a mapping", "array": "a list", "string": "a string"}
        return path, f"expected {names.get(value, value)}, found {_yaml_kind(inst)}"
    if validator == "enum":
        options = ", ".join(repr(v) for v in value)
        field = path[-1] if path else "value"
        return path[:-1], f"{field} must be one of {options}, found {inst!r}"
    if validator == "const":
        return path, f"must be {value!r}, found {inst!r}"
    if validator in ("minItems", "maxItems") and path[-1:] == ["choices"]:
        return path, f"has {len(inst)} choices; a decision needs 3 or 4"
    if validator == "minItems":
        return path, f"needs at least {value} item{'s' if value != 1 else ''}, found {len(inst)}"
    if validator == "maxItems":
        return path, f"allows at most {value} item{'s' if value != 1 else ''}, found {len(inst)}"
    if validator == "minProperties" and path == ["nodes"]:
        return path, "needs at least one decision and the ending node"
    if validator == "uniqueItems":
        seen: list[Any] = []
        dupes: list[Any] = []
        for v in inst:
            (dupes if v in seen else seen).append(v)
        return path, f"lists {', '.join(repr(d) for d in dupes)} more than once"
    if validator == "minimum":
        return path, f"must be at least {value}, found {inst!r}"
    return path, err.message


def _schema_errors(doc: Document, kind: Kind, file: str) -> list[ContentError]:
    errors: list[ContentError] = []
    for err in _validator(kind).iter_errors(doc):
        if (
            kind == "case"
            and list(err.absolute_path) == ["nodes"]
            and ("propertyNames" in err.relative_schema_path)
        ):
            errors.append(ContentError(file, str(err.instance), f"not a valid node id: {_ID_RULE}"))
            continue
        path, problem = _schema_problem(err)
        errors.append(_error(file, kind, doc, path, problem))
    # a subschema reached two ways (e.g. if/then on a non-mapping) reports the same problem twice
    return list(dict.fromkeys(errors))


def _non_string_key_errors(doc: Document, kind: Kind, file: str) -> list[ContentError]:
    def walk(value: Any, path: list[Any]) -> Iterator[tuple[list[Any], _NonStringKey]]:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, _NonStringKey):
                    yield path + [key], key
                yield from walk(item, path + [key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, path + [index])

    return [
        _error(
            file,
            kind,
            doc,
            path,
            f"key {key} is read by YAML as {key.yaml_kind}, not a string (line {key.line}): "
            f"ids are explicit strings, write it in quotes ('{key}')",
        )
        for path, key in walk(doc, [])
    ]


def _check_document(path: Path, kind: Kind) -> tuple[Document | None, list[ContentError]]:
    """Read, upgrade and schema-check one file; the document is None when it cannot be checked
    further (unreadable, or a schema version that cannot be upgraded)."""
    file = _display(path)
    doc, errors = _read_yaml(path, file)
    if doc is None:
        return None, errors
    errors += _non_string_key_errors(doc, kind, file)
    try:
        doc = upgrade(doc)
    except UpgradeError as exc:
        return None, errors + [ContentError(file, None, str(exc))]
    return doc, errors + _schema_errors(doc, kind, file)


# --- checks beyond the schema -------------------------------------------------------------------


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
class _LevelIds:
    """The ids a case may reference, declared in level.yaml."""

    steps: tuple[str, ...]
    objectives: tuple[str, ...]
    grid: tuple[str, ...]

    @classmethod
    def from_doc(cls, doc: Document) -> _LevelIds:
        return cls(
            tuple(_ids(doc.get("method_steps"))),
            tuple(_ids(doc.get("objectives"))),
            tuple(_ids(doc.get("grid_dimensions"))),
        )

    @classmethod
    def from_level(cls, level: Level) -> _LevelIds:
        return cls(
            tuple(s.id for s in level.method_steps),
            tuple(o.id for o in level.objectives),
            tuple(g.id for g in level.grid_dimensions),
        )


def _level_checks(doc: Document, file: str) -> list[ContentError]:
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


def _as_ref(value: Any) -> str | None:
    """A node reference as the graph sees it; a bare number (already reported) still links."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _case_checks(
    doc: Document, file: str, level_ids: _LevelIds | None, expected_id: str | None
) -> list[ContentError]:
    """Graph and cross-reference checks; tolerant of shapes the schema already rejected."""
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

    # edges: node -> [(choice id, target)], only to existing nodes
    edges: dict[str, list[tuple[str, str]]] = {n: [] for n in nodes}
    choice_owner: dict[str, str] = {}
    ref_owner: dict[str, str] = {}
    for node_id, node in nodes.items():
        ref = node.get("ref")
        if isinstance(ref, str):
            if ref in ref_owner:
                report(node_id, f"ref {ref} is already used by node {ref_owner[ref]}")
            else:
                ref_owner[ref] = node_id
        choices = node.get("choices")
        choices = [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []
        for index, choice in enumerate(choices):
            cid = choice.get("id") if isinstance(choice.get("id"), str) else f"#{index + 1}"
            if isinstance(choice.get("id"), str):
                if cid in choice_owner:
                    report(
                        node_id,
                        f"choice id {cid} is already used in node {choice_owner[cid]}: "
                        "choice ids must be unique across the case",
                    )
                else:
                    choice_owner[cid] = node_id
            target = _as_ref(choice.get("next"))
            if target is not None:
                if target in nodes:
                    edges[node_id].append((cid, target))
                else:
                    report(node_id, f"choice {cid}: next names node {target}, which does not exist")
            critical = choice.get("critical") is True
            points = choice.get("points")
            if critical and points in (1, 2) and not isinstance(points, bool):
                plural = "s" if points != 1 else ""
                report(
                    node_id,
                    f"choice {cid} is critical but worth {points} point{plural}: "
                    "a critical error is worth 0",
                )
            if critical and "note" not in choice:
                report(node_id, f"choice {cid} is critical but has no instructional note")
            if "note" in choice and not critical:
                report(
                    node_id,
                    f"choice {cid} has an instructional note but is not critical: notes are only "
                    "for critical errors (set critical: true or remove the note)",
                )
            grid = choice.get("grid")
            if level_ids is not None and isinstance(grid, list):
                for dim in grid:
                    if isinstance(dim, str) and dim not in level_ids.grid:
                        report(
                            node_id,
                            f"choice {cid}: grid dimension {dim} is not declared in level.yaml "
                            f"(declared: {', '.join(level_ids.grid)})",
                        )
        if choices and node.get("type") != "ending":
            best = [
                c.get("id", "?")
                for c in choices
                if c.get("points") == 2 and not isinstance(c.get("points"), bool)
            ]
            if not best:
                report(
                    node_id,
                    "no choice is worth 2 points: exactly one best-practice choice is required",
                )
            elif len(best) > 1:
                report(
                    node_id,
                    f"{len(best)} choices are worth 2 points ({', '.join(map(str, best))}): "
                    "exactly one is allowed",
                )
        if level_ids is not None:
            step = node.get("step")
            if isinstance(step, str) and step not in level_ids.steps:
                report(
                    node_id,
                    f"step {step} is not a method step declared in level.yaml "
                    f"(declared: {', '.join(level_ids.steps)})",
                )
            objectives = node.get("objectives")
            for objective in objectives if isinstance(objectives, list) else []:
                if isinstance(objective, str) and objective not in level_ids.objectives:
                    report(
                        node_id,
                        f"objective {objective} is not declared in level.yaml "
                        f"(declared: {', '.join(level_ids.objectives)})",
                    )

    endings = [n for n, node in nodes.items() if node.get("type") == "ending"]
    if nodes and not endings:
        report(
            None,
            "nodes: there is no node of type ending; every path must end at the one ending node",
        )
    elif len(endings) > 1:
        report(
            None,
            f"nodes: {len(endings)} nodes of type ending ({', '.join(endings)}): "
            "exactly one is allowed",
        )

    start = _as_ref(doc.get("start"))
    if start is not None and nodes and start not in nodes:
        report(None, f"start names node {start}, which does not exist")
    if start is None or start not in nodes:
        return errors

    reached = {start}
    queue = [start]
    while queue:
        for _, target in edges[queue.pop()]:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    for node_id in nodes:
        if node_id not in reached:
            report(node_id, f"unreachable: no path from start ({start}) leads to this node")

    # cycles: a choice leading back to a node on the current path is an endless loop
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

    if not errors:
        # Safety net: with no dangling link, no cycle and one ending, every path already ends there.
        finishing = set(endings)
        changed = True
        while changed:
            changed = False
            for node_id in nodes:
                if node_id not in finishing and any(t in finishing for _, t in edges[node_id]):
                    finishing.add(node_id)
                    changed = True
        for node_id in nodes:
            if node_id not in finishing:
                report(node_id, "dead end: no path from this node reaches the ending")
    return errors


# --- building the frozen objects ----------------------------------------------------------------


def _text(raw: Mapping[str, str]) -> Text:
    return Text(fr=raw["fr"].strip(), en=raw["en"].strip())


def _optional_text(raw: Mapping[str, str] | None) -> Text | None:
    return _text(raw) if raw is not None else None


def _build_level(doc: Document) -> Level:
    def labelled(items: list[Document]) -> tuple[Labelled, ...]:
        return tuple(
            Labelled(id=i["id"], label=_text(i["label"]), summary=_optional_text(i.get("summary")))
            for i in items
        )

    return Level(
        id=doc["id"],
        title=_text(doc["title"]),
        introduction=_text(doc["introduction"]),
        territory_notice=_text(doc["territory_notice"]),
        pass_rule=_text(doc["pass_rule"]),
        case_ids=tuple(doc["cases"]),
        objectives=labelled(doc["objectives"]),
        method_steps=labelled(doc["method_steps"]),
        grid_dimensions=labelled(doc["grid_dimensions"]),
        endings=MappingProxyType(
            {
                outcome: EndingLabel(
                    title=_text(doc["endings"][outcome]["title"]),
                    summary=_text(doc["endings"][outcome]["summary"]),
                )
                for outcome in OUTCOMES
            }
        ),
        reflections=tuple(
            Reflection(
                id=r["id"],
                question=_text(r["question"]),
                guidance=_text(r["guidance"]),
                min_words=r["min_words"],
            )
            for r in doc["reflections"]
        ),
    )


def _build_node(node_id: str, raw: Document) -> Node:
    if raw["type"] == "ending":
        return Ending(id=node_id)
    return Decision(
        id=node_id,
        ref=raw["ref"],
        step=raw["step"],
        objectives=tuple(raw["objectives"]),
        prompt=_text(raw["prompt"]),
        local_validation=_optional_text(raw.get("local_validation")),
        choices=tuple(
            Choice(
                id=c["id"],
                text=_text(c["text"]),
                points=c["points"],
                critical=c.get("critical", False),
                consequence=_text(c["consequence"]),
                next=c["next"],
                note=_optional_text(c.get("note")),
                grid=tuple(c.get("grid", ())),
            )
            for c in raw["choices"]
        ),
    )


def _build_case(doc: Document, source: str) -> Case:
    return Case(
        id=doc["id"],
        title=_text(doc["title"]),
        subtitle=_text(doc["subtitle"]),
        situation=_text(doc["situation"]),
        actors=tuple(
            Actor(id=a["id"], name=a["name"].strip(), role=_text(a["role"])) for a in doc["actors"]
        ),
        start=doc["start"],
        nodes=MappingProxyType({str(k): _build_node(str(k), v) for k, v in doc["nodes"].items()}),
        endings=MappingProxyType({outcome: _text(doc["endings"][outcome]) for outcome in OUTCOMES}),
        debrief=_text(doc["debrief"]),
        source=source,
    )


# --- public API ---------------------------------------------------------------------------------


def default_content_dir() -> Path:
    """The repository's content/ directory, or $LTI_TOOL_CONTENT_DIR when set."""
    override = os.environ.get(CONTENT_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "content"


def _check_level_dir(content_dir: Path) -> tuple[Level | None, list[ContentError]]:
    """Check level.yaml and every case it lists; build the Level only when nothing is wrong."""
    level_path = content_dir / LEVEL_FILE
    level_file = _display(level_path)
    level_doc, errors = _check_document(level_path, "level")
    if level_doc is not None:
        errors += _level_checks(level_doc, level_file)
    level_ids = _LevelIds.from_doc(level_doc) if level_doc is not None else None
    case_list = level_doc.get("cases") if level_doc is not None else None
    case_ids = [c for c in case_list if isinstance(c, str)] if isinstance(case_list, list) else []
    case_docs: dict[str, tuple[Document, str]] = {}
    for case_id in dict.fromkeys(case_ids):
        case_path = content_dir / CASES_DIR / f"{case_id}.yaml"
        if not case_path.is_file():
            errors.append(
                ContentError(
                    level_file,
                    None,
                    f"cases lists {case_id}, but {_display(case_path)} does not exist",
                )
            )
            continue
        case_doc, case_errors = _check_document(case_path, "case")
        errors += case_errors
        if case_doc is not None:
            errors += _case_checks(case_doc, _display(case_path), level_ids, expected_id=case_id)
            case_docs[case_id] = (case_doc, _display(case_path))
    if errors or level_doc is None:
        return None, errors
    level = _build_level(level_doc)
    cases = {case_id: _build_case(*case_docs[case_id]) for case_id in level.case_ids}
    return replace(level, cases=MappingProxyType(cases)), []


def load_level(content_dir: Path | str) -> Level:
    """Load content/level.yaml and its cases, in play order; raise ContentValidationError listing
    every problem of every file."""
    level, errors = _check_level_dir(Path(content_dir))
    if errors or level is None:
        raise ContentValidationError(errors)
    return level


def _check_case_file(
    path: Path, level_ids: _LevelIds | None
) -> tuple[Case | None, list[ContentError]]:
    doc, errors = _check_document(path, "case")
    if doc is not None:
        errors += _case_checks(doc, _display(path), level_ids, expected_id=path.stem)
    if errors or doc is None:
        return None, errors
    return _build_case(doc, _display(path)), []


def load_case_file(path: Path | str, level: Level) -> Case:
    """Load one case file, checking its step, objective and grid ids against `level`."""
    case, errors = _check_case_file(Path(path), _LevelIds.from_level(level))
    if errors or case is None:
        raise ContentValidationError(errors)
    return case


def _find_level_file(case_path: Path) -> Path | None:
    for directory in (case_path.parent, case_path.parent.parent):
        if (directory / LEVEL_FILE).is_file():
            return directory / LEVEL_FILE
    return None


def _check_path(path: Path) -> tuple[Level | Case | None, list[ContentError]]:
    if path.is_dir():
        return _check_level_dir(path)
    if not path.exists():
        return None, [ContentError(_display(path), None, "no such file or directory")]
    if path.name == LEVEL_FILE:
        return _check_level_dir(path.parent)
    level_path = _find_level_file(path)
    if level_path is None:
        return None, [
            ContentError(
                _display(path),
                None,
                f"no {LEVEL_FILE} beside or above this case file: its step, objective and grid ids "
                "cannot be checked",
            )
        ]
    level_doc, errors = _check_document(level_path, "level")
    if level_doc is not None:
        errors += _level_checks(level_doc, _display(level_path))
    level_ids = _LevelIds.from_doc(level_doc) if level_doc is not None else None
    case, case_errors = _check_case_file(path, level_ids)
    errors += case_errors
    return (case if not errors else None), errors


def validate_path(path: Path | str) -> list[ContentError]:
    """All problems under PATH: a content directory, its level.yaml (the level and its cases), or
    one case file (checked against the level.yaml beside or above it)."""
    return _check_path(Path(path))[1]


@functools.lru_cache(maxsize=8)
def _cached_level(content_dir: Path) -> Level:
    return load_level(content_dir)


def get_level(content_dir: Path | str | None = None) -> Level:
    """The level, loaded once per process: the app calls this at startup, and requests never
    re-parse YAML."""
    directory = Path(content_dir) if content_dir is not None else default_content_dir()
    return _cached_level(directory.resolve())


def clear_level_cache() -> None:
    """Forget loaded levels (tests; a reload after content changes)."""
    _cached_level.cache_clear()


def validate_command(path: str | None) -> int:
    """`lti-tool cases validate [PATH]`: print every problem to stderr and return 1, or print a
    one-line summary and return 0. PATH defaults to `default_content_dir()`."""
    target = Path(path) if path else default_content_dir()
    result, errors = _check_path(target)
    if errors or result is None:
        for error in errors:
            print(error, file=sys.stderr)
        count = len(errors)
        print(f"{count} problem{'s' if count != 1 else ''} in {_display(target)}", file=sys.stderr)
        return 1
    cases = list(result.cases.values()) if isinstance(result, Level) else [result]
    decisions = sum(len(case.decisions) for case in cases)
    print(
        f"{_display(target)}: valid, {len(cases)} case{'s' if len(cases) != 1 else ''}, "
        f"{decisions} decision{'s' if decisions != 1 else ''}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(
            "usage: python -m lti_tool.cases.loader [PATH]\n"
            f"Validate the case content (default: content/, or ${CONTENT_DIR_ENV}).",
            file=sys.stderr,
        )
        return 2
    return validate_command(args[0] if args else None)


if __name__ == "__main__":
    sys.exit(main())
