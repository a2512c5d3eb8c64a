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
    # Law 25: reflections of learners with no launch for this many days are deleted by the worker
    # (lti_tool/privacy.py); 0 keeps them. Two years: long enough for a school year and a renewal.
    reflection_retention_days: int = 730
    # Badges (issue 8, ../shared/docs/BADGES.md): who issues them, and each adapter's account.
    badge_issuer: str = "embedded"  # embedded | badgr | credly | obf | lms | none
    badgr_url: str = "https://api.badgr.io"
    badgr_username: str = ""
    badgr_password: str = ""
    badgr_badgeclass: str = ""
    credly_url: str = "https://api.credly.com"
    credly_org: str = ""
    credly_token: str = ""
    credly_template: str = ""
    obf_url: str = "https://openbadgefactory.com"
    obf_client_id: str = ""
    obf_client_secret: str = ""
    obf_badge_id: str = ""

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
    """Dev/demo only: the per-checkout secret `lti-tool setup` (and `lti-tool demo`) writes
    before building the app, so every worker and every restart agrees.

    Without it (a bare test run, `lti-tool run` before any set-up), a key for this process only:
    its pages then stop opening when it stops, which is harmless outside production; the warning
    says how to keep one.
    """
    path = dev_secret_path(instance_dir)
    if path.exists():
        return path.read_text().strip()
    log.warning("SECRET_KEY not set and %s missing: signing with a key for this process only "
                "(open pages stop working when it stops); `lti-tool setup` creates the file", path)
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


BADGE_ISSUERS = ("embedded", "badgr", "credly", "obf", "lms", "none")
# What each external adapter cannot work without (environment variable, Settings field).
BADGE_ISSUER_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "badgr": (("BADGR_USERNAME", "badgr_username"), ("BADGR_PASSWORD", "badgr_password"),
              ("BADGR_BADGECLASS", "badgr_badgeclass")),
    "credly": (("CREDLY_ORG", "credly_org"), ("CREDLY_TOKEN", "credly_token"),
               ("CREDLY_TEMPLATE", "credly_template")),
    "obf": (("OBF_CLIENT_ID", "obf_client_id"), ("OBF_CLIENT_SECRET", "obf_client_secret"),
            ("OBF_BADGE_ID", "obf_badge_id")),
}
_BADGE_URLS = (("BADGR_URL", "badgr_url"), ("CREDLY_URL", "credly_url"), ("OBF_URL", "obf_url"))


def _badge_settings(env: str, env_vars: Mapping[str, str]) -> dict[str, Any]:
    """BADGE_ISSUER and the adapters' settings; in production the chosen adapter's account must
    be complete (a badge that can never be issued is found at start, not at the first award)."""
    issuer = env_vars.get("BADGE_ISSUER", "embedded").strip().lower()
    if issuer not in BADGE_ISSUERS:
        raise ConfigError(f"BADGE_ISSUER must be one of {', '.join(BADGE_ISSUERS)}, not {issuer!r}")
    values: dict[str, Any] = {"badge_issuer": issuer}
    for variables in BADGE_ISSUER_SETTINGS.values():
        for name, attr in variables:
            values[attr] = env_vars.get(name, "").strip()
    for name, attr in _BADGE_URLS:
        if env_vars.get(name, "").strip():
            values[attr] = env_vars[name].strip().rstrip("/")
    if env == "production":
        missing = [name for name, attr in BADGE_ISSUER_SETTINGS.get(issuer, ()) if not values[attr]]
        if missing:
            raise ConfigError(f"{', '.join(missing)} must be set when BADGE_ISSUER={issuer} "
                              "and LTI_TOOL_ENV=production")
        for name, attr in _BADGE_URLS:
            if attr in values and not str(values[attr]).startswith("https://"):
                raise ConfigError(f"{name} must be an https:// URL in production")
    return values


def _retention_days(value: str | None) -> int:
    """`LTI_TOOL_REFLECTION_RETENTION_DAYS`: whole days, 0 = keep reflections forever."""
    if value is None or not value.strip():
        return Settings.reflection_retention_days
    if not value.strip().isdigit():
        raise ConfigError(f"LTI_TOOL_REFLECTION_RETENTION_DAYS must be a whole number of days "
                          f"(0 = keep), not {value!r}")
    return int(value.strip())


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
        reflection_retention_days=_retention_days(env_vars.get("LTI_TOOL_REFLECTION_RETENTION_DAYS")),
        **_badge_settings(env, env_vars),
    )
    return settings.with_overrides(**overrides) if overrides else settings
