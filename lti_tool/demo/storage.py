"""In-memory state of the demo LMS, optionally mirrored to a JSON file.

Kept: resource links (the default one and those created by deep linking), line items and the
scores the tool sent (these three persist in `state_file`), plus short-lived protocol state that
is never persisted: pending launches (the `lti_message_hint`), used client-assertion `jti`s and
the opaque `data` of deep-linking requests. One lock guards everything: the demo serves a handful
of requests at a time.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .settings import (
    DEFAULT_LINE_ITEM_ID,
    DEFAULT_LINK_CUSTOM,
    DEFAULT_LINK_ID,
    DEFAULT_LINK_TEXT,
    DEFAULT_LINK_TITLE,
    DEFAULT_SCORE_MAXIMUM,
)

PENDING_LAUNCH_TTL = 300  # seconds between the click and the tool's authentication request
DEEP_LINKING_DATA_TTL = 3600


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class LineItem:
    id: str
    label: str
    score_maximum: float
    resource_link_id: str | None = None
    resource_id: str | None = None
    tag: str | None = None
    start_date_time: str | None = None
    end_date_time: str | None = None


@dataclass
class ResourceLink:
    id: str
    title: str
    text: str = ""
    url: str | None = None  # target_link_uri; None = the tool's registered launch URL
    custom: dict[str, str] = field(default_factory=dict)
    line_item_id: str | None = None
    from_deep_linking: bool = False
    created_at: str = field(default_factory=utc_now_iso)


@dataclass
class ScoreRecord:
    line_item_id: str
    user_id: str
    timestamp: str
    activity_progress: str
    grading_progress: str
    score_given: float | None = None
    score_maximum: float | None = None
    comment: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)  # any other member the tool sent
    received_at: str = field(default_factory=utc_now_iso)


@dataclass(frozen=True)
class LaunchOverrides:
    """Test-only changes to the id_token (see DemoSettings.allow_test_overrides)."""

    claims: dict[str, Any] = field(default_factory=dict)  # merged last; None removes a claim
    headers: dict[str, Any] = field(default_factory=dict)  # JWT header; None removes (e.g. kid)
    alg: str = "RS256"  # RS256 | none | HS256 (HMAC keyed with the public PEM: alg confusion)
    foreign_key: bool = False  # sign with an unpublished key but keep the platform's kid


@dataclass
class PendingLaunch:
    id: str
    user_id: str
    message_type: str  # LtiResourceLinkRequest | LtiDeepLinkingRequest
    resource_link_id: str | None
    locale: str
    overrides: LaunchOverrides | None = None
    created_at: float = field(default_factory=time.time)


class ScoreConflict(Exception):
    """The score's timestamp is not after the last one for this user and line item (409)."""


class DemoStore:
    def __init__(self, state_file: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._state_file = Path(state_file) if state_file else None
        self.resource_links: dict[str, ResourceLink] = {}
        self.line_items: dict[str, LineItem] = {}
        self.scores: list[ScoreRecord] = []
        self._pending: dict[str, PendingLaunch] = {}
        self._used_jti: dict[str, float] = {}
        self._dl_data: dict[str, tuple[str, float]] = {}
        self._load()
        if DEFAULT_LINK_ID not in self.resource_links:
            self.line_items[DEFAULT_LINE_ITEM_ID] = LineItem(
                id=DEFAULT_LINE_ITEM_ID,
                label=DEFAULT_LINK_TITLE,
                score_maximum=DEFAULT_SCORE_MAXIMUM,
                resource_link_id=DEFAULT_LINK_ID,
                resource_id="niveau-architecte",
            )
            self.resource_links[DEFAULT_LINK_ID] = ResourceLink(
                id=DEFAULT_LINK_ID,
                title=DEFAULT_LINK_TITLE,
                text=DEFAULT_LINK_TEXT,
                custom=dict(DEFAULT_LINK_CUSTOM),
                line_item_id=DEFAULT_LINE_ITEM_ID,
            )

    # -- persistence ----------------------------------------------------------------------------
    def _load(self) -> None:
        if not self._state_file or not self._state_file.exists():
            return
        data = json.loads(self._state_file.read_text(encoding="utf-8"))
        self.line_items = {d["id"]: LineItem(**d) for d in data.get("line_items", [])}
        self.resource_links = {d["id"]: ResourceLink(**d) for d in data.get("resource_links", [])}
        self.scores = [ScoreRecord(**d) for d in data.get("scores", [])]

    def _save(self) -> None:
        if not self._state_file:
            return
        data = {
            "line_items": [asdict(li) for li in self.line_items.values()],
            "resource_links": [asdict(rl) for rl in self.resource_links.values()],
            "scores": [asdict(s) for s in self.scores],
        }
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self._state_file)

    # -- course content -------------------------------------------------------------------------
    def list_links(self) -> list[ResourceLink]:
        with self._lock:
            return sorted(
                self.resource_links.values(), key=lambda rl: (rl.from_deep_linking, rl.created_at)
            )

    def get_link(self, link_id: str) -> ResourceLink | None:
        with self._lock:
            return self.resource_links.get(link_id)

    def add_link(self, link: ResourceLink, line_item: LineItem | None = None) -> None:
        with self._lock:
            if line_item is not None:
                self.line_items[line_item.id] = line_item
                link.line_item_id = line_item.id
            self.resource_links[link.id] = link
            self._save()

    def get_line_item(self, line_item_id: str) -> LineItem | None:
        with self._lock:
            return self.line_items.get(line_item_id)

    def list_line_items(self) -> list[LineItem]:
        with self._lock:
            return list(self.line_items.values())

    def put_line_item(self, item: LineItem) -> None:
        with self._lock:
            self.line_items[item.id] = item
            self._save()

    def delete_line_item(self, line_item_id: str) -> bool:
        with self._lock:
            if self.line_items.pop(line_item_id, None) is None:
                return False
            for link in self.resource_links.values():
                if link.line_item_id == line_item_id:
                    link.line_item_id = None
            self._save()
            return True

    # -- scores ---------------------------------------------------------------------------------
    def record_score(self, score: ScoreRecord, when: datetime) -> None:
        """Store a score; refuse one whose timestamp is not strictly after the previous one, in
        whole seconds as Moodle compares them (gradebookservices scores.php: `timemodified >=
        strtotime(timestamp)` → 409)."""
        with self._lock:
            for previous in reversed(self.scores):
                if (previous.user_id, previous.line_item_id) == (score.user_id, score.line_item_id):
                    if int(when.timestamp()) <= int(
                            datetime.fromisoformat(previous.timestamp).timestamp()):
                        raise ScoreConflict(previous.timestamp)
                    break
            self.scores.append(score)
            self._save()

    def latest_scores(self, line_item_id: str) -> list[ScoreRecord]:
        """The current result of each user for a line item: their last score."""
        with self._lock:
            latest: dict[str, ScoreRecord] = {}
            for score in self.scores:
                if score.line_item_id == line_item_id:
                    latest[score.user_id] = score
            return list(latest.values())

    def list_scores(self) -> list[ScoreRecord]:
        with self._lock:
            return list(self.scores)

    # -- short-lived protocol state -------------------------------------------------------------
    def create_pending_launch(
        self,
        user_id: str,
        message_type: str,
        resource_link_id: str | None,
        locale: str,
        overrides: LaunchOverrides | None = None,
    ) -> PendingLaunch:
        launch = PendingLaunch(
            id=secrets.token_urlsafe(24),
            user_id=user_id,
            message_type=message_type,
            resource_link_id=resource_link_id,
            locale=locale,
            overrides=overrides,
        )
        with self._lock:
            now = time.time()
            self._pending = {
                k: v for k, v in self._pending.items() if now - v.created_at < PENDING_LAUNCH_TTL
            }
            self._pending[launch.id] = launch
        return launch

    def take_pending_launch(self, launch_id: str) -> PendingLaunch | None:
        """Single use: the authentication request that names it consumes it."""
        with self._lock:
            launch = self._pending.pop(launch_id, None)
        if launch is None or time.time() - launch.created_at >= PENDING_LAUNCH_TTL:
            return None
        return launch

    def use_jti(self, jti: str, expires_at: float) -> bool:
        """Remember a client assertion's `jti` until it expires; False if already seen."""
        with self._lock:
            now = time.time()
            self._used_jti = {k: v for k, v in self._used_jti.items() if v > now}
            if jti in self._used_jti:
                return False
            self._used_jti[jti] = max(expires_at, now) + 60
            return True

    def issue_deep_linking_data(self, user_id: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._dl_data[token] = (user_id, time.time())
        return token

    def take_deep_linking_data(self, token: str) -> str | None:
        """The user the deep-linking request was for, once; None if unknown, used or expired."""
        with self._lock:
            entry = self._dl_data.pop(token, None)
        if entry is None or time.time() - entry[1] >= DEEP_LINKING_DATA_TTL:
            return None
        return entry[0]
