"""Registering the demo LMS in the tool, as an administrator would with `lti-tool platform add`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lti_tool.launch.registry import add_platform
from lti_tool.models import Platform

from .settings import DemoSettings


def register_demo_lms(session: Session, settings: DemoSettings) -> Platform:
    """Idempotent; flushes, the caller commits."""
    return add_platform(
        session,
        issuer=settings.issuer,
        client_id=settings.client_id,
        auth_url=settings.auth_url,
        token_url=settings.token_url,
        jwks_url=settings.jwks_url,
        deployment_ids=[settings.deployment_id],
        name="Demo LMS",
    )
