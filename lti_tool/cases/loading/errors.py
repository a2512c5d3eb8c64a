"""Problems found in content files, and where they are: a JSON path becomes a case node id and a
readable place ("choice d3-b: text"), so an author fixes them in one pass."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["level", "case"]
Document = dict[str, Any]


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


def display(path: Path) -> str:
    """The path as an author would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _child(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


def _item_label(items: Any, index: int) -> str:
    ident = _child(_child(items, index), "id")
    return ident if isinstance(ident, str) and ident else f"#{index + 1}"


def locate(kind: Kind, doc: Document, path: list[Any]) -> tuple[str | None, str]:
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


def error_at(file: str, kind: Kind, doc: Document, path: list[Any], problem: str) -> ContentError:
    """A ContentError for the value at `path` of `doc`."""
    node, where = locate(kind, doc, path)
    return ContentError(file, node, f"{where}: {problem}" if where else problem)
