"""A learner with an issued embedded badge, built directly in the database (shared by the embedded
issuer's tests and its browser test)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask

from lti_tool.badges.embedded import make_issuer
from lti_tool.badges.issuers.base import AwardInfo, Recipient
from lti_tool.db import get_session
from lti_tool.models import Award, Learner, Platform

NAME = "Élodie Côté-Bérubé"
EMAIL = "elodie.cote@example.org"
REFLECTION = "Ma réflexion très personnelle sur le cas 2, qui ne doit jamais sortir de l'outil."


@dataclass(frozen=True)
class Issued:
    award_id: int
    learner_id: int
    credential_id: str
    token: str


def issue_badge(app: Flask, *, sub: str = "learner-1", email: str | None = EMAIL,
                name: str | None = NAME) -> Issued:
    """What the delivery does for an embedded award: the adapter signs, the row records it."""
    with app.test_request_context():
        session = get_session()
        platform = session.query(Platform).filter_by(issuer="https://lms.test").first()
        if platform is None:
            platform = Platform(issuer="https://lms.test", client_id="client-1",
                                auth_url="https://lms.test/auth", token_url="https://lms.test/token",
                                jwks_url="https://lms.test/jwks", name="LMS")
            session.add(platform)
            session.flush()
        learner = Learner(platform_id=platform.id, sub=sub, name=name, email=email, locale="fr-CA")
        session.add(learner)
        session.flush()
        award = Award(learner_id=learner.id, achievement="architecte", issuer="embedded",
                      status="pending", organisation_code="CSS-TEST")
        session.add(award)
        session.flush()
        info = AwardInfo.of(award, evidence_url="https://tool.test/ignored",
                            narrative="A réussi le niveau Architecte. / Passed the Architect level.")
        result = make_issuer(app).award(info, Recipient(learner_id=learner.id, sub=sub, email=email,
                                                        name=name))
        award.issuer_ref = result.issuer_ref
        award.credential = result.credential
        award.awarded_at = result.awarded_at
        award.status = "awarded"
        session.commit()
        assert result.issuer_ref and result.credential
        return Issued(award.id, learner.id, result.issuer_ref, result.credential)


def revoke(app: Flask, award_id: int, reason: str = "attribué par erreur") -> None:
    """What the badges service records on revocation (status, date, reason)."""
    with app.test_request_context():
        session = get_session()
        award = session.get(Award, award_id)
        assert award is not None
        award.status = "revoked"
        award.revoked_at = datetime.now(UTC)
        award.revocation_reason = reason
        session.commit()
