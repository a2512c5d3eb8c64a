"""What `lti-tool demo` puts in the tool so a newcomer sees the badge's whole path (issue 8, item 8).

- The demo LMS's registration (as `lti-tool platform add` would), mapped to the demo organisation
  "demo-css-des-rives", in a territory whose agreement with the DPCP is concluded and verified:
  the demo learner Alex Tremblay gets the badge on completing the level.
- A second organisation, "demo-css-sans-entente", in a territory with no agreement recorded: the
  second demo learner, Jade Morin, is told why the badge waits, and gets it once an agreement is
  recorded (`lti-tool territory set-agreement demo-sans-entente --concluded … --verified`).
- The registration may name the learner's organisation at launch (`sexto_organisation`), which the
  demo LMS sends per user (`DemoSettings.user_organisations`: `DEMO_USER_ORGANISATIONS`).

Idempotent: a second run changes nothing (an operator's later change — e.g. the agreement of the
second territory — is left as it is, except the demo registration's own mapping and permission).
All fictitious: codes start with "demo-". The services of badges/registry.py do the work; this
module flushes, the command commits.

`badge_lister` is the demo LMS's view of the badges awarded to its users (demo/badges.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.badges import eligibility, registry
from lti_tool.demo.badges import BadgeLister, DemoBadge
from lti_tool.demo.registration import register_demo_lms
from lti_tool.demo.settings import DemoSettings

TERRITORY = "demo-avec-entente"
TERRITORY_NAME = "Territoire de démonstration (entente conclue)"
POLICE = "Service de police de démonstration"
ORGANISATION = "demo-css-des-rives"
ORGANISATION_NAME = "Centre de services scolaire de démonstration des Rives"
CONCLUDED_ON = date(2020, 11, 6)

TERRITORY_WITHOUT = "demo-sans-entente"
TERRITORY_WITHOUT_NAME = "Territoire de démonstration (sans entente)"
POLICE_WITHOUT = "Corps de police de démonstration sans entente"
ORGANISATION_WITHOUT = "demo-css-sans-entente"
ORGANISATION_WITHOUT_NAME = "Centre de services scolaire de démonstration sans entente"

# Which demo user's launches name which organisation (DemoSettings.user_organisations).
DEMO_USER_ORGANISATIONS: tuple[tuple[str, str], ...] = (
    ("learner", ORGANISATION), ("learner2", ORGANISATION_WITHOUT))
NOTE = "demo: fictitious agreement recorded by `lti-tool demo`"


@dataclass(frozen=True)
class Seeded:
    changes: tuple[str, ...]  # what this run did, in words; empty when everything was there


def seed_demo(session: Session, settings: DemoSettings, *, now: datetime) -> Seeded:
    """Register the demo LMS and seed its territories, organisations and mapping (idempotent).
    Flushes, never commits."""
    changes: list[str] = []
    platform = register_demo_lms(session, settings)

    if _territory(session, TERRITORY, TERRITORY_NAME, POLICE):
        changes.append(f"territory {TERRITORY}")
    territory = registry.find_territory(session, TERRITORY)
    current = registry.current_agreement(session, territory.id)
    if registry.agreement_facts(current) != eligibility.Agreement(
            eligibility.CONCLUDED, CONCLUDED_ON, True):
        registry.set_agreement(session, TERRITORY, concluded_on=CONCLUDED_ON, verified=True,
                               suspended=False, note=NOTE, now=now)
        changes.append(f"agreement of {TERRITORY}: concluded {CONCLUDED_ON}, verified")
    if _organisation(session, ORGANISATION, ORGANISATION_NAME, TERRITORY):
        changes.append(f"organisation {ORGANISATION}")

    if _territory(session, TERRITORY_WITHOUT, TERRITORY_WITHOUT_NAME, POLICE_WITHOUT):
        changes.append(f"territory {TERRITORY_WITHOUT} (no agreement)")
    if _organisation(session, ORGANISATION_WITHOUT, ORGANISATION_WITHOUT_NAME, TERRITORY_WITHOUT):
        changes.append(f"organisation {ORGANISATION_WITHOUT}")

    if platform.organisation_code != ORGANISATION:
        changes.append(registry.map_organisation(session, ORGANISATION, issuer=settings.issuer,
                                                 client_id=settings.client_id))
    if not platform.organisation_from_launch:
        registry.set_organisation_from_launch(session, settings.issuer, settings.client_id, True)
        changes.append("organisation from launch (sexto_organisation) allowed")
    session.flush()
    return Seeded(tuple(changes))


def _territory(session: Session, code: str, name: str, police: str) -> bool:
    try:
        registry.find_territory(session, code)
        return False
    except registry.RegistryError:
        registry.add_territory(session, code, name=name, police_force=police, source=NOTE)
        return True


def _organisation(session: Session, code: str, name: str, territory: str) -> bool:
    try:
        registry.find_organisation(session, code)
        return False
    except registry.RegistryError:
        registry.add_organisation(session, code, name=name, territory_code=territory)
        return True


# -- the demo LMS's view of the badges -----------------------------------------------------------
def badge_lister(app: Flask, settings: DemoSettings) -> BadgeLister:
    """The callback the demo LMS calls to list its users' badges, each with its verification page,
    baked PNG and attestation share link; read in the tool's app context, its own session."""

    def list_badges() -> Mapping[str, Sequence[DemoBadge]]:
        from lti_tool.db import get_session

        with app.app_context():
            session = get_session()
            try:
                return demo_badges(session, settings, app.extensions["settings"])
            finally:
                session.close()

    return list_badges


def demo_badges(session: Session, settings: DemoSettings, tool: Any) -> dict[str, list[DemoBadge]]:
    """The awards of the demo registration's learners, by `sub`."""
    from lti_tool.badges import attestation
    from lti_tool.badges.embedded import credential as cred
    from lti_tool.badges.embedded import verification_url as embedded_url
    from lti_tool.models import Award, Learner, Platform

    rows = session.execute(
        select(Award, Learner.sub).join(Learner, Learner.id == Award.learner_id)
        .join(Platform, Platform.id == Learner.platform_id)
        .where(Platform.issuer == settings.issuer, Platform.client_id == settings.client_id)
        .order_by(Award.id)).all()
    badges: dict[str, list[DemoBadge]] = {}
    for award, sub in rows:
        awarded = award.status == attestation.AWARDED and award.awarded_at is not None
        verify = attestation.verification_url(award, tool.base_url)
        embedded = embedded_url(award, tool.base_url) if awarded else None
        badges.setdefault(sub, []).append(DemoBadge(
            user_id=sub, title=cred.ACHIEVEMENT_NAME, status=award.status,
            awarded_at=attestation.datetime_label(award.awarded_at, "fr")
            if award.awarded_at is not None else None,
            verification_url=verify,
            png_url=f"{embedded}/badge.png" if embedded else None,
            attestation_url=(f"{tool.base_url.rstrip('/')}/badges/attestation/"
                             f"{attestation.share_token(tool.secret_key, award)}")
            if awarded else None))
    return badges
