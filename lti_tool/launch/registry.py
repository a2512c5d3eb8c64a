"""Registrations: looked up by (issuer, client_id), with their deployments; the service behind
`lti-tool platform add|list|remove` and dynamic registration.

The hot-path lookups are single hand-written SELECTs returning a frozen `Registration` (no ORM
identity map), kept a few seconds per process (`cached_registration_and_deployment`): a login and
its launch then read no registration from the database (issue 11). Staleness is bounded by
CACHE_TTL and harmless: every change made through this module (the CLI, dynamic registration)
clears the cache of its own process; another process sees it within CACHE_TTL; a launch recorded
against a registration or deployment removed meanwhile fails its foreign keys and is refused
(views.py), and page tokens check the live registration on every request (page_token.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.errors import AccessDenied, Bilingual
from lti_tool.launch.hot_sql import HotSQL
from lti_tool.models import Deployment, Platform

ACTIVE = "active"
PENDING = "pending"
# Registrations the operator vouched for: added by hand, or through an invitation they issued.
TRUSTED_ORIGINS = ("cli", "invitation")
CANVAS_ISSUERS = (
    "https://canvas.instructure.com",
    "https://canvas.beta.instructure.com",
    "https://canvas.test.instructure.com",
)


@dataclass(frozen=True)
class Registration:
    id: int
    issuer: str
    client_id: str
    auth_url: str
    token_url: str
    jwks_url: str
    auth_audience: str | None
    family: str
    organisation_code: str | None
    # "active" | "pending" (uninvited dynamic registration awaiting `lti-tool platform approve`).
    status: str = ACTIVE
    # "cli" | "invitation" | "dynamic" | "legacy" (rows that predate registration by invitation).
    origin: str = "cli"
    # Its own signing key set (keys/registrations/<key_set>/); None: the tool's shared key.
    key_set: str | None = None
    approved: bool = False

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def trusted_for_services(self) -> bool:
        """Whether the tool may sign client assertions for it and call its token endpoint: only
        for a registration the operator made, invited or approved (issue 6, finding 6)."""
        return self.is_active and (self.origin in TRUSTED_ORIGINS or self.approved)


_SELECT = (
    "SELECT p.id, p.issuer, p.client_id, p.auth_url, p.token_url, p.jwks_url, p.auth_audience, "
    "p.family, p.organisation_code, p.status, p.origin, p.key_set, p.approved_at, d.id "
    "FROM platform p LEFT JOIN deployment d "
    "ON d.platform_id = p.id AND d.deployment_id = :deployment_id WHERE p.issuer = :issuer"
)


def find_registration_and_deployment(
    session: Session, issuer: str, client_id: str | None, deployment_id: str | None
) -> tuple[Registration | None, int | None]:
    """The registration by (issuer, client_id) — without client_id only when the issuer has exactly
    one client — and the primary key of `deployment_id` under it, in one round trip."""
    sql = HotSQL.of(session)
    params = {"issuer": issuer, "deployment_id": deployment_id or ""}
    if client_id:
        row = sql.one(_SELECT + " AND p.client_id = :client_id", {**params, "client_id": client_id})
        rows = [row] if row else []
    else:
        sql.run(_SELECT + " LIMIT 2", params)
        rows = sql.all()
    if len(rows) != 1:
        return None, None
    (pk, issuer_, client_id_, auth_url, token_url, jwks_url, auth_audience, family, organisation,
     status, origin, key_set, approved_at, deployment_pk) = rows[0]
    registration = Registration(
        id=pk, issuer=issuer_, client_id=client_id_, auth_url=auth_url, token_url=token_url,
        jwks_url=jwks_url, auth_audience=auth_audience, family=family,
        organisation_code=organisation, status=status, origin=origin, key_set=key_set,
        approved=approved_at is not None,
    )
    return registration, (int(deployment_pk) if deployment_pk is not None else None)


CACHE_TTL = 10.0  # seconds
_CACHE_MAX = 4096
_CacheKey = tuple[str, str | None, str | None]


def _cache(app: Flask | None = None) -> dict[_CacheKey, tuple[float, Registration, int | None]]:
    """One cache per app (tests build several apps in one process, on databases they reset)."""
    if app is None:
        if not has_app_context():
            return {}
        app = current_app
    return app.extensions.setdefault("registration_cache", {})  # type: ignore[no-any-return]


def peek_registration_and_deployment(
    app: Flask, issuer: str, client_id: str | None, deployment_id: str | None
) -> tuple[Registration, int | None] | None:
    """The cached answer of `cached_registration_and_deployment`, without an app context or a
    database (launch/hot_path.py); None when it is not in memory."""
    hit = _cache(app).get((issuer, client_id, deployment_id))
    if hit is None or hit[0] <= time.monotonic():
        return None
    return hit[1], hit[2]


def cached_registration_and_deployment(
    session: Session, issuer: str, client_id: str | None, deployment_id: str | None
) -> tuple[Registration | None, int | None]:
    """`find_registration_and_deployment`, answered from memory for CACHE_TTL seconds. Only found
    registrations are kept: a platform registered a second ago is found at once."""
    key = (issuer, client_id, deployment_id)
    cache = _cache()
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    registration, deployment_pk = find_registration_and_deployment(
        session, issuer, client_id, deployment_id
    )
    if registration is not None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = (now + CACHE_TTL, registration, deployment_pk)
    return registration, deployment_pk


def forget_cached() -> None:
    """After a change to registrations or deployments (called by every function below that makes
    one, so the CLI and dynamic registration never see their own process serve a stale entry)."""
    _cache().clear()


def find_registration(session: Session, issuer: str, client_id: str | None) -> Registration | None:
    return find_registration_and_deployment(session, issuer, client_id, None)[0]


def guess_family(issuer: str, product_family: str | None = None) -> str:
    if product_family:
        lowered = product_family.lower()
        if "moodle" in lowered:
            return "moodle"
        if "canvas" in lowered:
            return "canvas"
    if issuer.rstrip("/") in CANVAS_ISSUERS:
        return "canvas"
    return "generic"


class RegistrationConflict(ValueError):
    pass


class RegistrationPending(AccessDenied):
    code = "registration_pending"
    title = Bilingual("Plateforme en attente d'approbation", "Platform awaiting approval")


def require_active(registration: Registration) -> None:
    """Login and launch refuse a registration that is not active: an uninvited dynamic
    registration launches nothing until the operator approves it (LTI_TOOL_REGISTRATION=approval)."""
    if registration.is_active:
        return
    command = approve_command(registration.issuer, registration.client_id)
    raise RegistrationPending(
        Bilingual(
            "Cette plateforme s'est inscrite dans l'outil, mais son inscription attend "
            "l'approbation de l'exploitant de l'outil : aucun lancement n'est possible d'ici là.",
            "This platform registered with the tool, but its registration is awaiting approval by "
            "the tool's operator: nothing can be launched until then.",
        ),
        admin=Bilingual(
            f"Exploitant de l'outil : vérifiez l'inscription (lti-tool platform list), puis "
            f"approuvez-la avec « {command} ».",
            f"Tool operator: check the registration (lti-tool platform list), then approve it "
            f"with `{command}`.",
        ),
        detail=f"registration {registration.id} ({registration.issuer}, {registration.client_id}) "
        f"is {registration.status}",
    )


def approve_command(issuer: str, client_id: str) -> str:
    return f"lti-tool platform approve --issuer {issuer} --client-id {client_id}"


def add_platform(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    auth_url: str,
    token_url: str,
    jwks_url: str,
    deployment_ids: list[str],
    organisation: str | None = None,
    family: str | None = None,
    name: str = "",
    auth_audience: str | None = None,
    origin: str = "cli",
    status: str = ACTIVE,
    invitation_id: int | None = None,
    key_set: str | None = None,
    must_be_new: bool = False,
) -> Platform:
    """Create the registration, or add deployments to an existing one with the same endpoints.

    `must_be_new` (dynamic registration): an existing (issuer, client_id) is a conflict whatever its
    endpoints, so a registration made by a platform's answer never changes one already there (its
    status, origin, key set or organisation)."""
    platform = session.execute(
        select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    ).scalar_one_or_none()
    if platform is None:
        platform = Platform(
            issuer=issuer,
            client_id=client_id,
            auth_url=auth_url,
            token_url=token_url,
            jwks_url=jwks_url,
            auth_audience=auth_audience,
            family=family or guess_family(issuer),
            name=name,
            organisation_code=organisation,
            origin=origin,
            status=status,
            invitation_id=invitation_id,
            key_set=key_set,
        )
        session.add(platform)
    elif must_be_new:
        raise RegistrationConflict(
            f"{issuer} / {client_id} is already registered; remove it first (lti-tool platform remove)"
        )
    elif (platform.auth_url, platform.token_url, platform.jwks_url) != (
        auth_url,
        token_url,
        jwks_url,
    ):
        raise RegistrationConflict(
            f"{issuer} / {client_id} is already registered with other endpoints; "
            "remove it first (lti-tool platform remove)"
        )
    forget_cached()
    existing = {d.deployment_id for d in platform.deployments}
    for deployment_id in deployment_ids:
        if deployment_id not in existing:
            # A deployment added later (Canvas: once the key is installed) keeps the
            # registration's organisation unless the operator names another.
            platform.deployments.append(
                Deployment(
                    deployment_id=deployment_id,
                    organisation_code=organisation or platform.organisation_code,
                )
            )
    session.flush()
    return platform


def approve_platform(
    session: Session,
    issuer: str,
    client_id: str,
    *,
    organisation: str | None = None,
    now: datetime | None = None,
) -> Platform | None:
    """`lti-tool platform approve`: the operator vouches for a pending (or legacy) registration;
    it launches and may call services from now on. `organisation` also goes on its deployments
    that have none."""
    platform = session.execute(
        select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    ).scalar_one_or_none()
    if platform is None:
        return None
    forget_cached()
    platform.status = ACTIVE
    platform.approved_at = platform.approved_at or now or utcnow()
    if organisation:
        platform.organisation_code = organisation
        for deployment in platform.deployments:
            deployment.organisation_code = deployment.organisation_code or organisation
    session.flush()
    return platform


def list_platforms(session: Session) -> list[Platform]:
    return list(session.execute(select(Platform).order_by(Platform.id)).scalars())


def remove_platform(session: Session, issuer: str, client_id: str, deployment_id: str | None = None) -> int:
    """Remove one deployment, or the whole registration. Returns how many rows went."""
    platform = session.execute(
        select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    ).scalar_one_or_none()
    if platform is None:
        return 0
    forget_cached()
    if deployment_id is not None:
        for d in list(platform.deployments):
            if d.deployment_id == deployment_id:
                platform.deployments.remove(d)
                session.flush()
                return 1
        return 0
    session.delete(platform)
    session.flush()
    return 1
