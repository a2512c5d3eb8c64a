"""The versioned JSON Schema (schema/<kind>.v<N>.json) and its errors, rewritten as messages an
author can act on ("missing English text (en)", "has 5 choices; a decision needs 3 or 4")."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from ..upgrade import CURRENT_VERSION
from .errors import ContentError, Document, Kind, error_at
from .yaml_reader import yaml_kind

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
LANGUAGES = {"fr": "French text (fr)", "en": "English text (en)"}
ID_RULE = "use lowercase letters, digits and hyphens, e.g. d1 or case-1"


@functools.cache
def validator(kind: Kind) -> Draft202012Validator:
    path = SCHEMA_DIR / f"{kind}.v{CURRENT_VERSION}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_problem(err: ValidationError) -> tuple[list[Any], str]:
    """(path the problem is about, message an author can act on) for one schema error."""
    path = list(err.absolute_path)
    rule, value, inst = err.validator, err.validator_value, err.instance
    lang = path[-1] if path and path[-1] in LANGUAGES else None

    if rule == "required":
        # jsonschema reports one error per missing key, and its message names it
        missing = next(
            (k for k in value if err.message == f"{k!r} is a required property"),
            next((k for k in value if isinstance(inst, dict) and k not in inst), "?"),
        )
        if missing in LANGUAGES:
            return path, f"missing {LANGUAGES[missing]}"
        return path, f"missing required key '{missing}'"
    if rule == "additionalProperties" and value is False and isinstance(inst, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = ", ".join(repr(str(k)) for k in inst if k not in allowed)
        return path, f"unknown key {extra} (allowed: {', '.join(allowed)})"
    if rule == "pattern":
        if value == "\\S":
            if lang:
                return path[:-1], f"{LANGUAGES[lang]} is empty"
            return path, "is empty"
        if "ref" in path[-1:]:
            return path, f"{inst!r} is not a valid reference: write it as in the brief, e.g. C1-D1"
        return path, f"{inst!r} is not a valid id: {ID_RULE}"
    if rule == "type":
        if lang and (inst is None or inst == ""):
            return path[:-1], f"{LANGUAGES[lang]} is empty"
        if value == "string" and not isinstance(inst, (dict, list)):
            problem = f"YAML read {inst!r} as {yaml_kind(inst)}, not a string"
            if isinstance(inst, bool):
                problem += " (unquoted yes/no/on/off/true/false are booleans in YAML)"
            problem += ": write it in quotes"
            if lang:
                return path[:-1], f"{LANGUAGES[lang]}: {problem}"
            return path, problem
        names = {"object": "a mapping", "array": "a list", "string": "a string"}
        return path, f"expected {names.get(value, value)}, found {yaml_kind(inst)}"
    if rule == "enum":
        options = ", ".join(repr(v) for v in value)
        if path and isinstance(path[-1], int):  # an item of a list, e.g. faults: [erase]
            return path[:-1], f"must list only {options}, found {inst!r}"
        field = path[-1] if path else "value"
        return path[:-1], f"{field} must be one of {options}, found {inst!r}"
    if rule == "const":
        return path, f"must be {value!r}, found {inst!r}"
    if rule in ("minItems", "maxItems") and path[-1:] == ["choices"]:
        return path, f"has {len(inst)} choices; a decision needs 3 or 4"
    if rule == "minItems":
        return path, f"needs at least {value} item{'s' if value != 1 else ''}, found {len(inst)}"
    if rule == "maxItems":
        return path, f"allows at most {value} item{'s' if value != 1 else ''}, found {len(inst)}"
    if rule == "minProperties" and path == ["nodes"]:
        return path, "needs at least one decision and the ending node"
    if rule == "uniqueItems":
        seen: list[Any] = []
        dupes: list[Any] = []
        for v in inst:
            (dupes if v in seen else seen).append(v)
        return path, f"lists {', '.join(repr(d) for d in dupes)} more than once"
    if rule == "minimum":
        return path, f"must be at least {value}, found {inst!r}"
    return path, err.message


def schema_errors(doc: Document, kind: Kind, file: str) -> list[ContentError]:
    """Every schema problem of one (upgraded) document, each once."""
    errors: list[ContentError] = []
    for err in validator(kind).iter_errors(doc):
        if (
            kind == "case"
            and list(err.absolute_path) == ["nodes"]
            and ("propertyNames" in err.relative_schema_path)
        ):
            errors.append(ContentError(file, str(err.instance), f"not a valid node id: {ID_RULE}"))
            continue
        path, problem = schema_problem(err)
        errors.append(error_at(file, kind, doc, path, problem))
    # a subschema reached two ways (e.g. if/then on a non-mapping) reports the same problem twice
    return list(dict.fromkeys(errors))
