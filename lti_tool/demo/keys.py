"""The demo platform's own RSA key pair: generated on first use, kept as PEM files.

The `kid` is the RFC 7638 thumbprint, as lti1p3platform computes it
(`Registration.get_kid`), so the JWKS and the id_token headers agree.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.registration import Registration

PRIVATE_FILE = "private.pem"
PUBLIC_FILE = "public.pem"
_lock = threading.Lock()


@dataclass(frozen=True)
class PlatformKeys:
    private_pem: str
    public_pem: str
    kid: str


def _pem_pair(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 600, so a half-written key is never read."""
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def load_or_create_keys(keys_dir: Path) -> PlatformKeys:
    """Load the pair from `keys_dir`, generating it (and a `*` .gitignore) the first time."""
    keys_dir = Path(keys_dir)
    with _lock:
        private_path = keys_dir / PRIVATE_FILE
        if not private_path.exists():
            keys_dir.mkdir(parents=True, exist_ok=True)
            ignore = keys_dir / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# demo LMS keys: never committed\n*\n")
            private, public = _pem_pair(
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
            )
            _write_private(private_path, private)
            (keys_dir / PUBLIC_FILE).write_text(public)
        private = private_path.read_text()
        key = serialization.load_pem_private_key(private.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{private_path} is not an RSA private key")
        _, public = _pem_pair(key)
    kid = Registration.get_jwk(public)["kid"]
    return PlatformKeys(private_pem=private, public_pem=public, kid=str(kid))


def throwaway_private_pem() -> str:
    """A fresh key nobody publishes: signs tokens that must fail verification (test overrides)."""
    return _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))[0]
