"""The embedded issuer's signing keys (Open Badges 3.0 VC-JWT, RS256), under `keys/badges/`.

Same layout and tooling as the tool's LTI keys (lti_tool/keys.py: PEM files 0600 from creation in
a 0700 folder, a manifest, the RFC 7638 thumbprint as `kid`), in their own folder: a badge outlives
an LMS registration, and rotating the LTI keys must not touch the keys employers verify badges with.

Every key the manifest ever named stays published at `/badges/keys/<kid>` (whatever its status):
a credential signed years ago must still verify. The key is made on the first award (under a file
lock, so two workers never each make one and sign with a key the manifest then forgets).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lti_tool.keys import MANIFEST, KeyStore, ToolKey, _public_jwk, key_store

BADGE_KEYS = "badges"
# An RFC 7638 SHA-256 thumbprint, base64url without padding: 43 characters, never a path.
KID_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def badge_keys_dir(keys_dir: Path) -> Path:
    return Path(keys_dir) / BADGE_KEYS


def badge_key_store(keys_dir: Path) -> KeyStore:
    return key_store(badge_keys_dir(keys_dir))


def signing_key(keys_dir: Path) -> ToolKey:
    """The current badge key, made on first use."""
    store = badge_key_store(keys_dir)
    folder = badge_keys_dir(keys_dir)
    if not (folder / MANIFEST).is_file():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another worker may be making it right now
            store.generate()  # does nothing when a current key exists
        finally:
            os.close(fd)  # closing releases the lock
    return store.current()


def key_url(base_url: str, kid: str) -> str:
    return f"{base_url.rstrip('/')}/badges/keys/{kid}"


def public_jwk(keys_dir: Path, kid: str) -> dict[str, Any] | None:
    """The public JWK of any badge key the manifest names (current, previous or retired)."""
    if KID_RE.fullmatch(kid) is None:
        return None
    folder = badge_keys_dir(keys_dir)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    if kid not in {entry.get("kid") for entry in manifest.get("keys", [])}:
        return None
    try:
        pem = (folder / f"{kid}.pem").read_bytes()
    except FileNotFoundError:
        return None
    private_key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    _, public = _public_jwk(private_key)
    return public
