"""JSON parsing with a nesting limit, for every JSON the tool reads (id_tokens, request bodies,
answers of platforms), and the Flask JSON provider that applies it to `request.get_json()`.

The C decoder recurses once per `[` / `{`: a body of 100 000 brackets raises `RecursionError`,
which is not a `ValueError` and became a 500. Here it is a `JsonTooDeep` (a `ValueError`), and
any depth beyond `max_depth` is refused the same way, so callers refuse with a 4xx.

Cheap on the hot path (the id_token body on every launch): the brackets are counted first (one
C pass over the text); only when there are more of them than `max_depth` is the parsed value
walked to measure its real depth.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 32


class JsonError(ValueError):
    """The text is not JSON the tool accepts."""


class JsonInvalid(JsonError):
    """Not JSON (syntax, encoding)."""


class JsonTooDeep(JsonError):
    """Arrays and objects nested deeper than the limit."""


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Iterative (no recursion to exhaust): is any container nested deeper than `max_depth`?"""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """`json.loads` that raises `JsonTooDeep` beyond `max_depth` nested containers and
    `JsonInvalid` for anything that is not JSON (both `ValueError`)."""
    if isinstance(data, str):
        brackets = data.count("[") + data.count("{")
    else:
        brackets = data.count(b"[") + data.count(b"{")
    try:
        value = json.loads(data, **kwargs)
    except RecursionError as exc:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise JsonInvalid(f"not valid JSON: {exc}") from exc
    # Brackets inside strings are counted too: the count can only overestimate the depth.
    if brackets > max_depth and isinstance(value, dict | list) and _depth_exceeds(value, max_depth):
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    return value


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON with the nesting limit on reading: `request.get_json()` turns the
    `ValueError` into a 400 Bad Request (or `None` with `silent=True`), never a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)
