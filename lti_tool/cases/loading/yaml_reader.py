"""Reading one content file as YAML, safely, keeping what YAML would silently lose: duplicate keys
(PyYAML keeps the last one) and keys YAML does not read as strings (`1:`, `yes:`), both reported
with their line."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .errors import ContentError, Document, Kind, error_at


def yaml_kind(value: Any) -> str:
    """What YAML made of a value, in an author's words ("a boolean", "a date")."""
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


class NonStringKey(str):
    """A mapping key YAML did not read as a string (`1:`, `yes:`), kept as its source text so that
    validation can go on; it is reported with its place in the document."""

    yaml_kind: str
    line: int

    def __new__(cls, text: str, yaml_kind: str, line: int) -> NonStringKey:
        key = super().__new__(cls, text)
        key.yaml_kind = yaml_kind
        key.line = line
        return key

    def __copy__(self) -> NonStringKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> NonStringKey:
        return self


# The C parser when libyaml is there (several times faster), the same safe constructor either way.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ContentLoader(_SafeLoader):
    """Safe loading that reports duplicate keys and keys that are not strings."""

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
                key = NonStringKey(key_node.value, yaml_kind(key), line)
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


def read_yaml(path: Path, file: str) -> tuple[Document | None, list[ContentError]]:
    """The file's top-level mapping (None when it cannot be read as one) and its YAML problems."""
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
            ContentError(file, None, f"expected a mapping at the top, found {yaml_kind(doc)}")
        )
        return None, errors
    return doc, errors


def non_string_key_errors(doc: Document, kind: Kind, file: str) -> list[ContentError]:
    """One problem per key YAML did not read as a string, at its place and line."""

    def walk(value: Any, path: list[Any]) -> Iterator[tuple[list[Any], NonStringKey]]:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, NonStringKey):
                    yield path + [key], key
                yield from walk(item, path + [key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, path + [index])

    return [
        error_at(
            file,
            kind,
            doc,
            path,
            f"key {key} is read by YAML as {key.yaml_kind}, not a string (line {key.line}): "
            f"ids are explicit strings, write it in quotes ('{key}')",
        )
        for path, key in walk(doc, [])
    ]
