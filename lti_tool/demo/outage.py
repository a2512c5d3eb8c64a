"""The demo LMS's outage switch for its AGS score endpoint: show (and test) the tool's outbox.

While the switch is not "up", `POST …/scores` is refused before anything is read or recorded:
503 Service Unavailable, or 429 Too Many Requests with a `Retry-After` header (RFC 9110 §10.2.3,
RFC 6585 §4), the answers a busy or failing LMS gives and a tool must retry later. The mode is
runtime state only: a restarted demo LMS is up again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DEFAULT_RETRY_AFTER = 5  # seconds
DEFAULT_CALLS = 3  # K of the "sequence" mode
MAX_RETRY_AFTER = 3600
MAX_CALLS = 10_000


class Mode(StrEnum):
    UP = "up"
    DOWN = "down"  # every call: 503
    BUSY = "busy"  # every call: 429 + Retry-After
    SEQUENCE = "sequence"  # the next K calls 503, the K after 429 + Retry-After, then up


class SwitchError(ValueError):
    """A mode or a number the switch does not accept (400 at the API, a message on the page)."""


@dataclass(frozen=True)
class Refusal:
    status: int  # 503 | 429
    retry_after: int | None  # seconds, with 429 only


@dataclass(frozen=True)
class SwitchState:
    mode: Mode
    retry_after: int
    calls: int
    remaining_503: int  # left in the sequence mode
    remaining_429: int
    refused_503: int  # since the demo LMS started
    refused_429: int

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "retry_after": self.retry_after,
            "calls": self.calls,
            "remaining_503": self.remaining_503,
            "remaining_429": self.remaining_429,
            "refused_503": self.refused_503,
            "refused_429": self.refused_429,
            "refused": self.refused_503 + self.refused_429,
        }


def _bounded_int(value: Any, name: str, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise SwitchError(f"{name} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise SwitchError(f"{name} must be an integer") from exc
    if isinstance(value, float) and number != value:
        raise SwitchError(f"{name} must be an integer")
    if not 1 <= number <= maximum:
        raise SwitchError(f"{name} must be between 1 and {maximum}")
    return number


class ScoreEndpointSwitch:
    """Thread-safe: the demo serves requests from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode = Mode.UP
        self._retry_after = DEFAULT_RETRY_AFTER
        self._calls = DEFAULT_CALLS
        self._remaining_503 = 0
        self._remaining_429 = 0
        self._refused_503 = 0
        self._refused_429 = 0

    def set(self, mode: Any, retry_after: Any = None, calls: Any = None) -> SwitchState:
        """Switch to `mode` (checked); refused-call counters keep counting across switches."""
        try:
            new_mode = Mode(mode)
        except ValueError as exc:
            raise SwitchError(f"mode must be one of {', '.join(m.value for m in Mode)}") from exc
        seconds = _bounded_int(retry_after, "retry_after", DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER)
        count = _bounded_int(calls, "calls", DEFAULT_CALLS, MAX_CALLS)
        with self._lock:
            self._mode, self._retry_after, self._calls = new_mode, seconds, count
            sequence = new_mode is Mode.SEQUENCE
            self._remaining_503 = self._remaining_429 = count if sequence else 0
            return self._state()

    def refusal(self) -> Refusal | None:
        """What this score call gets instead of being processed, counted; None when up."""
        with self._lock:
            mode = self._mode
            if mode is Mode.SEQUENCE:
                if self._remaining_503:
                    self._remaining_503 -= 1
                    mode = Mode.DOWN
                elif self._remaining_429:
                    self._remaining_429 -= 1
                    mode = Mode.BUSY
                else:
                    mode = Mode.UP
                if not (self._remaining_503 or self._remaining_429):
                    self._mode = Mode.UP  # the page shows "up" once the sequence is spent
            if mode is Mode.DOWN:
                self._refused_503 += 1
                return Refusal(503, None)
            if mode is Mode.BUSY:
                self._refused_429 += 1
                return Refusal(429, self._retry_after)
            return None

    def state(self) -> SwitchState:
        with self._lock:
            return self._state()

    def _state(self) -> SwitchState:
        return SwitchState(
            mode=self._mode,
            retry_after=self._retry_after,
            calls=self._calls,
            remaining_503=self._remaining_503,
            remaining_429=self._remaining_429,
            refused_503=self._refused_503,
            refused_429=self._refused_429,
        )
