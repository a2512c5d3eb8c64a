"""All settings, read once from the environment (12-factor) and validated.

Secrets fail fast outside dev/demo/test: a production tool without SECRET_KEY or a public base URL
must not start, rather than run with an insecure fallback.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RELAXED_ENVS = ("dev", "demo", "test")
ENVS = (*RELAXED_ENVS, "production")
REGISTRATION_MODES = ("invitation", "approval")
ANY_NETWORK = "any"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str = "dev"
    secret_key: str = ""
    database_url: str = ""
    redis_url: str | None = None
    base_url: str = "http://127.0.0.1:5000"
    keys_dir: Path = PROJECT_ROOT / "keys"
    content_dir: Path = PROJECT_ROOT / "content"
    instance_dir: Path = PROJECT_ROOT / "instance"
    # How long a login (state + nonce) may wait for the platform's answer.
    login_state_ttl: int = 600
    # Post-launch page token: idle lifetime (each page hands out a fresh one) and an absolute
    # lifetime counted from the launch, after which only a new launch from the LMS opens pages.
    page_token_ttl: int = 2 * 3600
    session_max_age: int = 8 * 3600
    # Server-side launch data lifetime (services work from the registration after that).
    launch_data_ttl: int = 24 * 3600
    # Allowed clock skew on iat/exp (LTI.md checklist item 4).
    jwt_leeway: int = 60
    # Platform JWKS cache lifetime; an unknown kid re-fetches at most once per interval.
    jwks_cache_ttl: int = 3600
    jwks_refetch_interval: int = 30
    # Outbound calls (OpenID configuration, registration, JWKS, tokens, AGS, badge issuers):
    # an overall deadline per call (connect + whole body) and a body size cap.
    outbound_deadline: float = 10.0
    outbound_max_bytes: int = 1024 * 1024
    # Private networks the tool may call (an LMS on the school board's intranet): CIDRs, or
    # "any" outside production (local platforms, the demo LMS, tests). Loopback, link-local,
    # multicast and reserved addresses are never allowed in production.
    outbound_private_networks: tuple[str, ...] = ()
    # Dynamic registration: "invitation" (a one-time URL from `lti-tool platform invite`) or
    # "approval" (uninvited registrations are kept pending until `lti-tool platform approve`).
    registration_mode: str = "invitation"
    invitation_ttl: int = 7 * 24 * 3600
    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)


def _default_sqlite_url(instance_dir: Path) -> str:
    return f"sqlite:///{instance_dir / 'lti_tool.db'}"


def dev_secret_path(instance_dir: Path) -> Path:
    return instance_dir / "secret_key"


def _read_dev_secret(instance_dir: Path) -> str:
    """Dev/demo only: the per-checkout secret `lti-tool setup` writes, so every worker agrees.

    Without it (a bare test run), an ephemeral key: tokens then die with the process, which is
    harmless outside production.
    """
    path = dev_secret_path(instance_dir)
    if path.exists():
        return path.read_text().strip()
    log.warning("SECRET_KEY not set and %s missing: using an ephemeral development key", path)
    return secrets.token_urlsafe(48)


def _private_networks(env: str, value: str) -> tuple[str, ...]:
    """`LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS`: "any" (not in production) or comma-separated CIDRs
    of private ranges (RFC 1918, RFC 4193) an operator opens on purpose."""
    import ipaddress

    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if ANY_NETWORK in items:
        if env == "production":
            raise ConfigError(
                "LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS=any is refused in production: "
                "list the private networks (CIDR) the tool may call"
            )
        return (ANY_NETWORK,)
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ConfigError(f"LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS: {item!r} is not a CIDR") from exc
        if env == "production" and not network.is_private:
            raise ConfigError(f"LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS: {item} is not a private range")
        if env == "production" and (network.is_loopback or network.is_link_local):
            raise ConfigError(
                f"LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS: {item} (loopback or link-local) is refused "
                "in production"
            )
    return items


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    env_vars = os.environ if environ is None else environ
    env = env_vars.get("LTI_TOOL_ENV", "dev").strip().lower()
    if env not in ENVS:
        raise ConfigError(f"LTI_TOOL_ENV must be one of {', '.join(ENVS)}, not {env!r}")
    instance_dir = Path(env_vars.get("LTI_TOOL_INSTANCE_DIR", PROJECT_ROOT / "instance"))
    secret_key = env_vars.get("SECRET_KEY", "")
    base_url = env_vars.get("LTI_TOOL_BASE_URL", "")
    if env == "production":
        missing = [
            n for n, v in (("SECRET_KEY", secret_key), ("LTI_TOOL_BASE_URL", base_url)) if not v
        ]
        if missing:
            raise ConfigError(f"{', '.join(missing)} must be set when LTI_TOOL_ENV=production")
        if len(secret_key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
        if not base_url.startswith("https://"):
            raise ConfigError("LTI_TOOL_BASE_URL must be an https:// URL in production")
        if not env_vars.get("DATABASE_URL"):
            raise ConfigError("DATABASE_URL must be set when LTI_TOOL_ENV=production")
    elif not secret_key and "secret_key" not in overrides:
        secret_key = _read_dev_secret(instance_dir)
    private_networks = _private_networks(env, env_vars.get("LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS", ""))
    registration_mode = env_vars.get("LTI_TOOL_REGISTRATION", "invitation").strip().lower()
    if registration_mode not in REGISTRATION_MODES:
        raise ConfigError(
            f"LTI_TOOL_REGISTRATION must be one of {', '.join(REGISTRATION_MODES)}, "
            f"not {registration_mode!r}"
        )
    settings = Settings(
        env=env,
        secret_key=secret_key,
        database_url=env_vars.get("DATABASE_URL") or _default_sqlite_url(instance_dir),
        redis_url=env_vars.get("REDIS_URL") or None,
        base_url=(base_url or "http://127.0.0.1:5000").rstrip("/"),
        keys_dir=Path(env_vars.get("LTI_TOOL_KEYS_DIR", PROJECT_ROOT / "keys")),
        content_dir=Path(env_vars.get("LTI_TOOL_CONTENT_DIR", PROJECT_ROOT / "content")),
        instance_dir=instance_dir,
        log_level=env_vars.get("LTI_TOOL_LOG_LEVEL", "INFO").upper(),
        outbound_private_networks=private_networks,
        registration_mode=registration_mode,
    )
    return settings.with_overrides(**overrides) if overrides else settings
