"""Load case content (content/FORMAT.md) into the frozen model.py objects, rejecting bad content.

Each file goes through the stages of the `loading` package: YAML reading (duplicate keys and keys
YAML does not read as strings are reported, with their line), the upgrade path (upgrade.py), the
versioned JSON Schema (schema/*.v1.json), then the checks the schema cannot express (scoring, the
fault rule, ids declared in level.yaml) and the graph checks (links, reachability, cycles). Every
problem of every file is collected and reported together, as "file: node X: problem", so an author
fixes them in one pass. Only content with no problem is built into the model. The app loads the
content once per process through `get_level()`.

Command line: `python -m lti_tool.cases.loader [PATH]` (wired as `lti-tool cases validate [PATH]`).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

from .loading.build import build_case, build_level
from .loading.checks import REFLECTION_IDS, LevelIds, case_checks, level_checks
from .loading.errors import ContentError, ContentValidationError, Document, Kind
from .loading.errors import display as _display
from .loading.schema import SCHEMA_DIR, schema_errors
from .loading.yaml_reader import non_string_key_errors, read_yaml
from .model import Case, Level
from .upgrade import UpgradeError, upgrade

__all__ = [
    "CASES_DIR",
    "CONTENT_DIR_ENV",
    "LEVEL_FILE",
    "REFLECTION_IDS",
    "SCHEMA_DIR",
    "ContentError",
    "ContentValidationError",
    "clear_level_cache",
    "default_content_dir",
    "get_level",
    "load_case_file",
    "load_level",
    "main",
    "validate_command",
    "validate_path",
]

CONTENT_DIR_ENV = "LTI_TOOL_CONTENT_DIR"
LEVEL_FILE = "level.yaml"
CASES_DIR = "cases"


def _check_document(path: Path, kind: Kind) -> tuple[Document | None, list[ContentError]]:
    """Read, upgrade and schema-check one file; the document is None when it cannot be checked
    further (unreadable, or a schema version that cannot be upgraded)."""
    file = _display(path)
    doc, errors = read_yaml(path, file)
    if doc is None:
        return None, errors
    errors += non_string_key_errors(doc, kind, file)
    try:
        doc = upgrade(doc)
    except UpgradeError as exc:
        return None, errors + [ContentError(file, None, str(exc))]
    return doc, errors + schema_errors(doc, kind, file)


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
        errors += level_checks(level_doc, level_file)
    level_ids = LevelIds.from_doc(level_doc) if level_doc is not None else None
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
            errors += case_checks(case_doc, _display(case_path), level_ids, expected_id=case_id)
            case_docs[case_id] = (case_doc, _display(case_path))
    if errors or level_doc is None:
        return None, errors
    cases = {case_id: build_case(*case_docs[case_id]) for case_id in case_docs}
    return build_level(level_doc, cases), []


def load_level(content_dir: Path | str) -> Level:
    """Load content/level.yaml and its cases, in play order; raise ContentValidationError listing
    every problem of every file."""
    level, errors = _check_level_dir(Path(content_dir))
    if errors or level is None:
        raise ContentValidationError(errors)
    return level


def _check_case_file(
    path: Path, level_ids: LevelIds | None
) -> tuple[Case | None, list[ContentError]]:
    doc, errors = _check_document(path, "case")
    if doc is not None:
        errors += case_checks(doc, _display(path), level_ids, expected_id=path.stem)
    if errors or doc is None:
        return None, errors
    return build_case(doc, _display(path)), []


def load_case_file(path: Path | str, level: Level) -> Case:
    """Load one case file, checking its step, objective and grid ids against `level`."""
    case, errors = _check_case_file(Path(path), LevelIds.from_level(level))
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
        errors += level_checks(level_doc, _display(level_path))
    level_ids = LevelIds.from_doc(level_doc) if level_doc is not None else None
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


def app_level(app: Any | None = None) -> Level:
    """The level of this app's content, kept on the app (every view and service of a request
    asks for it; this skips even the path resolution of `get_level` on the hot path of a step)."""
    if app is None:
        from flask import current_app

        app = current_app
    level = app.extensions.get("cases_level")
    if level is None:
        level = app.extensions["cases_level"] = get_level(app.extensions["settings"].content_dir)
    return level  # type: ignore[no-any-return]


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
