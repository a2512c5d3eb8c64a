"""Registrations: looked up by (issuer, client_id), with their deployments; the service behind
`lti-tool platform add|list|remove` and dynamic registration.

The hot-path lookups are single Core SELECTs returning a frozen `Registration` (no ORM identity map).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.hot_sql import HotSQL
from lti_tool.models import Deployment, Platform

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


_SELECT = (
    "SELECT p.id, p.issuer, p.client_id, p.auth_url, p.token_url, p.jwks_url, p.auth_audience, "
    "p.family, p.organisation_code, d.id FROM platform p LEFT JOIN deployment d "
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
    *fields, deployment_pk = rows[0]
    return Registration(*fields), (int(deployment_pk) if deployment_pk is not None else None)


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
) -> Platform:
    """Create the registration, or add deployments to an existing one with the same endpoints."""
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
        )
        session.add(platform)
    elif (platform.auth_url, platform.token_url, platform.jwks_url) != (
        auth_url,
        token_url,
        jwks_url,
    ):
        raise RegistrationConflict(
            f"{issuer} / {client_id} is already registered with other endpoints; "
            "remove it first (lti-tool platform remove)"
        )
    existing = {d.deployment_id for d in platform.deployments}
    for deployment_id in deployment_ids:
        if deployment_id not in existing:
            platform.deployments.append(
                Deployment(deployment_id=deployment_id, organisation_code=organisation)
            )
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
