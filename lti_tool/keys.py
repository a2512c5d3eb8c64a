"""The tool's signing keys: generation, rotation, the published JWKS, and signing.

Keys live as PEM files in `keys/` (git-ignored) with a small manifest naming the current and the
previous key. The `kid` is the RFC 7638 JWK thumbprint (https://www.rfc-editor.org/rfc/rfc7638).
During rotation the JWKS lists both, so a platform that cached the old key, or a message signed just
before the rotation, still verifies. A running server notices a rotation by the manifest's mtime.

A registration may have its own key set (`keys/registrations/<key_set>/`, same layout, published at
`/lti/keys/<key_set>.json` only): an assertion the tool signs for that registration then verifies
against no other registration's keys, so a platform that chose another's client_id and token
endpoint gets nothing it can replay elsewhere (issue 6, finding 6).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

MANIFEST = "keys.json"
REGISTRATIONS = "registrations"
# A key set id is a path component: url-safe base64 only, so "..", "/" or "" can never name one.
KEY_SET_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class KeysMissing(RuntimeError):
    """No key generated yet: run `lti-tool keys generate`."""


class UnknownKeySet(KeysMissing):
    """No registration key set by that id (or the id is not a safe path component)."""


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, Any]
    created_at: str
    status: str  # current | previous


def _public_jwk(private_key: rsa.RSAPrivateKey) -> tuple[str, dict[str, Any]]:
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = JWK.from_pem(pem)
    kid = jwk.thumbprint()  # RFC 7638, SHA-256, base64url
    public = json.loads(jwk.export_public())
    public.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return kid, public


class KeyStore:
    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = Path(keys_dir)
        self._lock = threading.Lock()
        self._loaded_mtime: float | None = None
        self._keys: tuple[ToolKey, ...] = ()
        self._jwks: dict[str, Any] = {"keys": []}

    # -- reading -------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.keys_dir / MANIFEST

    def _read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {"keys": []}

    def _refresh(self) -> None:
        try:
            mtime = self.manifest_path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime == self._loaded_mtime and self._keys:
            return
        with self._lock:
            manifest = self._read_manifest()
            keys = []
            for entry in manifest.get("keys", []):
                if entry["status"] not in ("current", "previous"):
                    continue
                pem = (self.keys_dir / f"{entry['kid']}.pem").read_bytes()
                private_key = serialization.load_pem_private_key(pem, password=None)
                assert isinstance(private_key, rsa.RSAPrivateKey)
                kid, public = _public_jwk(private_key)
                keys.append(ToolKey(kid, private_key, public, entry["created_at"], entry["status"]))
            keys.sort(key=lambda k: k.status != "current")
            self._keys = tuple(keys)
            self._jwks = {"keys": [k.public_jwk for k in keys]}
            self._loaded_mtime = mtime

    def keys(self) -> tuple[ToolKey, ...]:
        self._refresh()
        return self._keys

    def current(self) -> ToolKey:
        for key in self.keys():
            if key.status == "current":
                return key
        raise KeysMissing(f"no tool key in {self.keys_dir}: run `lti-tool keys generate`")

    def jwks(self) -> dict[str, Any]:
        self._refresh()
        return self._jwks

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """RS256 JWT signed with the current key, its kid in the header."""
        key = self.current()
        return jwt.encode(
            claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, **(headers or {})}
        )

    # -- writing (CLI) -------------------------------------------------------------------------
    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, self.manifest_path)  # atomic: a server never reads half a manifest

    def _new_key_file(self) -> str:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid, _ = _public_jwk(private_key)
        path = self.keys_dir / f"{kid}.pem"
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return kid

    def generate(self) -> tuple[str, bool]:
        """Create the first key; does nothing when one exists. Returns (kid, created)."""
        manifest = self._read_manifest()
        for entry in manifest.get("keys", []):
            if entry["status"] == "current":
                return entry["kid"], False
        kid = self._new_key_file()
        manifest = {"keys": [{"kid": kid, "status": "current", "created_at": _now()}]}
        self._write_manifest(manifest)
        return kid, True

    def rotate(self) -> tuple[str, str | None]:
        """New current key; the old current stays published as `previous`; older ones retire."""
        manifest = self._read_manifest()
        entries = manifest.get("keys", [])
        old_current = next((e["kid"] for e in entries if e["status"] == "current"), None)
        if old_current is None:
            raise KeysMissing("no current key to rotate: run `lti-tool keys generate` first")
        kid = self._new_key_file()
        for entry in entries:
            if entry["status"] == "previous":
                entry["status"] = "retired"
                entry["retired_at"] = _now()
            elif entry["status"] == "current":
                entry["status"] = "previous"
        entries.insert(0, {"kid": kid, "status": "current", "created_at": _now()})
        self._write_manifest({"keys": entries})
        return kid, old_current

    def listing(self) -> list[dict[str, Any]]:
        return list(self._read_manifest().get("keys", []))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_stores: dict[Path, KeyStore] = {}


def key_store(keys_dir: Path) -> KeyStore:
    """One store per directory per process (keys loaded once, reloaded on rotation)."""
    path = Path(keys_dir).resolve()
    if path not in _stores:
        _stores[path] = KeyStore(path)
    return _stores[path]


# -- per-registration key sets ---------------------------------------------------------------------
def valid_key_set(key_set: str) -> bool:
    return KEY_SET_RE.fullmatch(key_set) is not None


def new_registration_key_set(keys_dir: Path) -> str:
    """Create a key set (one RSA 2048 key) for a new registration; returns its id.

    The folders are made 0700 and the key file 0600 at creation (never chmod'ed after), so no other
    local user can read a key even for an instant.
    """
    parent = Path(keys_dir) / REGISTRATIONS
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_set = secrets.token_urlsafe(16)  # 22 characters, 128 random bits
    os.mkdir(parent / key_set, mode=0o700)  # fails rather than reuse an existing folder
    KeyStore(parent / key_set).generate()
    return key_set


def registration_keys(keys_dir: Path, key_set: str) -> KeyStore:
    """The key store of one registration key set, cached per process like `key_store`.

    Raises `UnknownKeySet` for an id that is not a safe path component or has no key: nothing
    outside `keys/registrations/` is ever read, and unknown ids do not fill the cache.
    """
    if not valid_key_set(key_set):
        raise UnknownKeySet(f"not a key set id: {key_set[:80]!r}")
    path = (Path(keys_dir) / REGISTRATIONS / key_set).resolve()
    store = _stores.get(path)
    if store is None:
        if not (path / MANIFEST).is_file():
            raise UnknownKeySet(f"no key set {key_set} in {Path(keys_dir) / REGISTRATIONS}")
        store = _stores.setdefault(path, KeyStore(path))
    return store


def signing_key_store(keys_dir: Path, key_set: str | None) -> KeyStore:
    """The keys the tool signs with for a registration: its own key set, else the shared keys."""
    if key_set is None:
        return key_store(keys_dir)
    return registration_keys(keys_dir, key_set)


def registration_key_sets(keys_dir: Path) -> list[str]:
    """The key set ids on disk (for `lti-tool keys list`)."""
    parent = Path(keys_dir) / REGISTRATIONS
    if not parent.is_dir():
        return []
    return sorted(p.name for p in parent.iterdir() if valid_key_set(p.name) and (p / MANIFEST).is_file())
