"""The embedded issuer: the `Issuer` adapter (issuers/base.py) and what its pages need.

`EmbeddedIssuer.award` signs a new `OpenBadgeCredential` (credential.py) with the badge key
(keys.py); the delivery records it on the award (`issuer_ref` = the credential's UUID, the public
id of `/badges/verify/<id>`; `credential` = the VC-JWT). `revoke` has nothing to call: the award row
the badges service marks `revoked` sets the credential's bit in the status list (status_list.py).

`verify` is the tool's own check for its verification page (signature with the published key,
credential id, revocation, validity window); the tests verify with independent libraries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.badges.embedded import credential as cred
from lti_tool.badges.embedded import keys as badge_keys
from lti_tool.badges.issuers.base import AwardInfo, IssueResult, Recipient
from lti_tool.cases.loader import app_level
from lti_tool.cases.model import Level
from lti_tool.models import Award

VALID, REVOKED, EXPIRED, INVALID = "valid", "revoked", "expired", "invalid"


class EmbeddedIssuer:
    name = "embedded"

    def __init__(self, *, base_url: str, keys_dir: Path, level: Level) -> None:
        self.base_url = base_url.rstrip("/")
        self.keys_dir = Path(keys_dir)
        self.level = level

    def award(self, award: AwardInfo, recipient: Recipient, *,
              now: datetime | None = None) -> IssueResult:
        awarded_at = (now or datetime.now(UTC)).replace(microsecond=0)
        credential_id = cred.new_credential_id()
        document = cred.build(
            level=self.level, base_url=self.base_url, credential_id=credential_id,
            award_id=award.id, subject=cred.Subject(recipient.email, recipient.sub),
            awarded_at=awarded_at, narrative=award.narrative or cred.default_narrative())
        key = badge_keys.signing_key(self.keys_dir)
        token = cred.sign(document, key.private_key, badge_keys.key_url(self.base_url, key.kid))
        return IssueResult(issuer_ref=credential_id, awarded_at=awarded_at, credential=token,
                           note="Open Badges 3.0 credential signed by the tool")

    def revoke(self, award: AwardInfo, reason: str) -> None:
        """Nothing to call: the award row marked revoked sets its bit in the status list."""

    def status(self, award: AwardInfo) -> str:
        # The embedded issuer's state is the award row itself; this adapter holds no other.
        return "awarded" if award.issuer_ref else "unknown"


def make_issuer(app: Flask) -> EmbeddedIssuer:
    settings: Any = app.extensions["settings"]
    level = app_level(app)
    return EmbeddedIssuer(base_url=settings.base_url, keys_dir=settings.keys_dir, level=level)


# -- looking credentials up --------------------------------------------------------------------
def valid_credential_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def find_award(session: Session, credential_id: str) -> Award | None:
    if not valid_credential_id(credential_id):
        return None
    return session.scalars(select(Award).where(
        Award.issuer == "embedded", Award.issuer_ref == credential_id,
        Award.credential.is_not(None))).first()


def verification_url(award: Award, base_url: str) -> str | None:
    """The public verification page of an embedded award (None before it is issued)."""
    if award.issuer != "embedded" or not award.issuer_ref:
        return None
    return cred.verification_url(base_url, award.issuer_ref)


class NoCredential(LookupError):
    """The award has no embedded credential (unknown id, another issuer, not issued yet)."""


def credential_of(session: Session, award_id: int) -> str:
    """The award's VC-JWT (`lti-tool awards show ID --credential`)."""
    award = session.get(Award, award_id)
    if award is None:
        raise NoCredential(f"no award {award_id}")
    if award.issuer != "embedded":
        raise NoCredential(f"award {award_id} was issued by {award.issuer!r}, not the embedded "
                           "issuer: it has no credential here")
    if not award.credential:
        raise NoCredential(f"award {award_id} has no credential yet (status {award.status})")
    return award.credential


# -- the tool's own check (verification page) --------------------------------------------------
@dataclass(frozen=True)
class Verification:
    state: str  # valid | revoked | expired | invalid
    award: Award
    claims: dict[str, Any]
    valid_from: datetime | None
    valid_until: datetime | None


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def verify(award: Award, *, keys_dir: Path, base_url: str, now: datetime) -> Verification:
    token = award.credential or ""
    claims: dict[str, Any] = {}
    state = INVALID
    try:
        header = jwt.get_unverified_header(token)
        kid_url = str(header.get("kid", ""))
        prefix = badge_keys.key_url(base_url, "")
        jwk = badge_keys.public_jwk(keys_dir, kid_url[len(prefix):]) \
            if kid_url.startswith(prefix) else None
        if jwk is not None:
            key = jwt.PyJWK(jwk, algorithm="RS256")
            claims = jwt.decode(token, key, algorithms=["RS256"],
                                options={"verify_exp": False, "verify_nbf": False})
            if claims.get("jti") == f"urn:uuid:{award.issuer_ref}":
                state = VALID
    except jwt.PyJWTError:
        claims = {}
    valid_from, valid_until = _date(claims.get("validFrom")), _date(claims.get("validUntil"))
    if state == VALID:
        if award.status == "revoked":
            state = REVOKED
        elif valid_until is not None and valid_until <= now:
            state = EXPIRED
    return Verification(state, award, claims, valid_from, valid_until)


def linkedin_url(*, verify_url: str, credential_id: str, awarded_at: datetime | None) -> str:
    """LinkedIn's "Add licence or certification" link (its documented `profile/add` parameters)."""
    params: dict[str, Any] = {"startTask": "CERTIFICATION_NAME", "name": cred.ACHIEVEMENT_NAME,
                              "organizationName": cred.ISSUER_NAME}
    if awarded_at is not None:
        params.update(issueYear=awarded_at.year, issueMonth=awarded_at.month)
    params.update(certUrl=verify_url, certId=credential_id)
    return "https://www.linkedin.com/profile/add?" + urlencode(params)
