"""Registration invitations: the one-time URL `lti-tool platform invite` prints
(`<base_url>/lti/register?invite=<secret>`), which an LMS administrator pastes into Moodle or Canvas
as the dynamic registration URL (https://www.imsglobal.org/spec/lti-dr/v1p0#step-1-registration-initiation-request:
the platform appends `openid_configuration` and `registration_token` to the URL it was given).

Only the SHA-256 of the secret is stored: a database dump does not hand out registrations. The
invitation is checked before the tool fetches anything (an uninvited caller makes it call nothing),
and consumed with a conditional UPDATE in the transaction that stores the registration, so two
confirmations racing with one invitation cannot both register.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.errors import AccessDenied, Bilingual
from lti_tool.models import RegistrationInvitation

INVITE_PARAM = "invite"
_DURATION = re.compile(r"^\s*(\d+)\s*([dhm]?)\s*$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "": 86400}

ASK_OPERATOR = Bilingual(
    "Demandez à l'exploitant de l'outil une nouvelle adresse d'invitation (il la crée avec "
    "« lti-tool platform invite »), puis collez-la telle quelle dans la plateforme.",
    "Ask the tool's operator for a new invitation URL (created with `lti-tool platform invite`), "
    "then paste it as is into the platform.",
)


class InvitationRefused(AccessDenied):
    code = "invitation_invalid"
    title = Bilingual("Invitation requise", "Invitation required")


def _refused(code: str, fr: str, en: str, detail: str) -> InvitationRefused:
    return InvitationRefused(Bilingual(fr, en), hint=ASK_OPERATOR, detail=detail, code=code)


def missing_invitation() -> InvitationRefused:
    return _refused(
        "invitation_missing",
        "L'outil s'inscrit dans une plateforme seulement sur invitation, et cette adresse "
        "d'inscription n'en contient pas.",
        "The tool registers with a platform by invitation only, and this registration address "
        "carries none.",
        "dynamic registration without an invitation",
    )


@dataclass(frozen=True)
class Invitation:
    """A valid invitation, as the registration needs it."""

    id: int
    organisation_code: str | None
    expires_at: datetime


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration(value: str) -> int:
    """`7d`, `12h`, `30m` or a bare number of days, in seconds."""
    match = _DURATION.match(value)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration like 7d, 12h or 30m")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def invitation_url(base_url: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/lti/register?{INVITE_PARAM}={secret}"


def create_invitation(
    session: Session,
    *,
    ttl: int,
    organisation: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> tuple[RegistrationInvitation, str]:
    """A new invitation and its secret (shown once: only its hash is stored)."""
    now = now or utcnow()
    secret = secrets.token_urlsafe(32)
    invitation = RegistrationInvitation(
        token_hash=hash_secret(secret),
        organisation_code=organisation or None,
        note=note[:255],
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    session.add(invitation)
    session.flush()
    return invitation, secret


def check_invitation(session: Session, secret: str, now: datetime | None = None) -> Invitation:
    """The invitation `secret` names, if it is known, unexpired and unused; else a 403 refusal."""
    now = now or utcnow()
    row = session.execute(
        select(RegistrationInvitation).where(RegistrationInvitation.token_hash == hash_secret(secret))
    ).scalar_one_or_none()
    if row is None:
        raise _refused(
            "invitation_unknown",
            "Cette invitation n'est pas reconnue par l'outil.",
            "The tool does not know this invitation.",
            "unknown invitation",
        )
    if row.used_at is not None:
        raise _refused(
            "invitation_used",
            "Cette invitation a déjà servi : chaque invitation inscrit une seule plateforme.",
            "This invitation has already been used: each invitation registers one platform.",
            f"invitation {row.id} used at {row.used_at.isoformat()}",
        )
    if row.expires_at <= now:
        raise _refused(
            "invitation_expired",
            "Cette invitation a expiré.",
            "This invitation has expired.",
            f"invitation {row.id} expired at {row.expires_at.isoformat()}",
        )
    return Invitation(row.id, row.organisation_code, row.expires_at)


def admit_registration(session: Session, secret: str | None, mode: str) -> Invitation | None:
    """Whether a dynamic registration may go on: its valid invitation; None when it may go on
    without one, kept pending (`LTI_TOOL_REGISTRATION=approval`); else a 403 refusal. A bad
    invitation is refused in both modes rather than quietly turned into a pending registration."""
    if secret:
        return check_invitation(session, secret)
    if mode == "approval":
        return None
    raise missing_invitation()


def consume_invitation(session: Session, invitation: Invitation, now: datetime | None = None) -> None:
    """Mark it used, once: the WHERE clause makes a concurrent second use update no row (on
    PostgreSQL the second UPDATE waits for the first transaction, then sees `used_at` set)."""
    now = now or utcnow()
    result = cast(Any, session.execute(
        update(RegistrationInvitation)
        .where(
            RegistrationInvitation.id == invitation.id,
            RegistrationInvitation.used_at.is_(None),
            RegistrationInvitation.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:
        raise _refused(
            "invitation_used",
            "Cette invitation a déjà servi : chaque invitation inscrit une seule plateforme.",
            "This invitation has already been used: each invitation registers one platform.",
            f"invitation {invitation.id} consumed concurrently or expired",
        )


def list_invitations(session: Session) -> list[RegistrationInvitation]:
    return list(session.execute(
        select(RegistrationInvitation).order_by(RegistrationInvitation.id)).scalars())
