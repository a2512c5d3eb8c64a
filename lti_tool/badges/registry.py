"""The territory registry (issue 8, item 1; ../shared/docs/BADGES.md; DESIGN.md §4.4): territories
(the police force serving each), their agreement with the DPCP (a history: every change adds a
`TerritoryAgreement` row, the newest is current), organisations (school service centres, school
boards, private schools) in a territory, and which organisation a registration, a deployment or a
course belongs to. The services behind `lti-tool territory …` and `lti-tool organisation …`.

A learner's organisation, most specific first:
1. the launch's custom parameter `sexto_organisation` (`Learner.organisation_code`), only while the
   registration allows it (`Platform.organisation_from_launch`, off by default);
2. the course's mapping (`organisation map … --course CONTEXT_ID`);
3. the deployment's (`organisation map … --deployment-id ID`, or its invitation's);
4. the registration's (`organisation map …`, `platform add --organisation`, the invitation's).
The first code found is the learner's, even when the program does not know it: a more specific
statement is never overruled by a broader one (the page then says the organisation is not
registered).

The shipped starter list (starter_territories.yaml: police forces that public sources say have
deployed SEXTO) is loaded by `lti-tool territory seed`; every entry is unverified, and an
unverified agreement makes no one eligible until the operator confirms it with
`lti-tool territory set-agreement CODE --concluded DATE --verified`.

Services flush, never commit. Bad input raises `RegistryError` before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from lti_tool.badges import eligibility
from lti_tool.db import core_execute, utcnow
from lti_tool.models import (
    Attempt,
    Course,
    Deployment,
    Learner,
    Organisation,
    Platform,
    ResourceLink,
    Score,
    Territory,
    TerritoryAgreement,
)

STARTER_LIST = Path(__file__).with_name("starter_territories.yaml")
ORGANISATION_PARAM = "sexto_organisation"  # the LTI custom parameter naming the organisation
KINDS = ("css", "school_board", "private_school")
# Codes appear in commands, custom parameters and logs: short, no spaces, no markup.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RegistryError(ValueError):
    """Bad input for a registry command: nothing was changed."""


def check_code(code: str | None, what: str = "code") -> str:
    value = (code or "").strip()
    if not _CODE.match(value):
        raise RegistryError(f"invalid {what} {code!r}: 1 to 64 letters, digits, '.', '_' or '-', "
                            "starting with a letter or digit")
    return value


def parse_date(value: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError(value)
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise RegistryError(f"invalid date {value!r}: expected YYYY-MM-DD") from exc


# -- territories and agreements ----------------------------------------------------------------------


def find_territory(session: Session, code: str) -> Territory:
    territory = session.scalars(select(Territory).where(Territory.code == code)).first()
    if territory is None:
        raise RegistryError(f"no territory {code!r}: see `lti-tool territory list`")
    return territory


def add_territory(session: Session, code: str, *, name: str, police_force: str,
                  source: str = "") -> Territory:
    code = check_code(code, "territory code")
    name, police_force = name.strip(), police_force.strip()
    if not name or not police_force:
        raise RegistryError("a territory needs a name (--name) and its police force (--police)")
    if session.scalars(select(Territory.id).where(Territory.code == code)).first() is not None:
        raise RegistryError(f"territory {code!r} already exists")
    territory = Territory(code=code, name=name, police_force=police_force, source=source,
                          created_at=utcnow())
    session.add(territory)
    session.flush()
    return territory


def current_agreement(session: Session, territory_id: int) -> TerritoryAgreement | None:
    return session.scalars(
        select(TerritoryAgreement).where(TerritoryAgreement.territory_id == territory_id)
        .order_by(TerritoryAgreement.recorded_at.desc(), TerritoryAgreement.id.desc()).limit(1)
    ).first()


def agreement_facts(row: TerritoryAgreement | None) -> eligibility.Agreement | None:
    if row is None:
        return None
    return eligibility.Agreement(row.status, row.concluded_on, row.verified)


def set_agreement(session: Session, code: str, *, concluded_on: date | None, verified: bool,
                  suspended: bool, note: str = "", now: datetime | None = None,
                  ) -> tuple[Territory, TerritoryAgreement]:
    """Record the territory's agreement as concluded on a date (verified by the operator, or not),
    or as suspended. Adds a row: the history is kept."""
    if suspended and (concluded_on is not None or verified):
        raise RegistryError("--suspended cannot be combined with --concluded or --verified")
    if not suspended and concluded_on is None:
        raise RegistryError("say --concluded YYYY-MM-DD (with --verified once confirmed) or "
                            "--suspended")
    territory = find_territory(session, code)
    now = now or utcnow()
    previous = current_agreement(session, territory.id)
    if previous is not None and previous.recorded_at > now:
        now = previous.recorded_at  # the newest row is the current one: never record "before" it
    row = TerritoryAgreement(
        territory_id=territory.id,
        status=eligibility.SUSPENDED if suspended else eligibility.CONCLUDED,
        # A suspension keeps the conclusion date for the record (the history has it too).
        concluded_on=(previous.concluded_on if suspended and previous is not None
                      else concluded_on),
        verified=verified, note=note.strip(), recorded_at=now)
    session.add(row)
    session.flush()
    return territory, row


@dataclass(frozen=True)
class TerritoryRow:
    territory: Territory
    agreement: TerritoryAgreement | None
    organisations: int

    @property
    def status(self) -> str:
        return self.agreement.status if self.agreement is not None else eligibility.NONE

    def in_force(self, on: date) -> bool:
        return eligibility.agreement_in_force(agreement_facts(self.agreement), on)


def list_territories(session: Session) -> list[TerritoryRow]:
    territories = list(session.scalars(select(Territory).order_by(Territory.code)))
    counts = dict(session.execute(  # type: ignore[arg-type]
        select(Organisation.territory_id, func.count()).group_by(Organisation.territory_id)).all())
    return [TerritoryRow(t, current_agreement(session, t.id), int(counts.get(t.id, 0)))
            for t in territories]


def agreement_history(session: Session, territory_id: int) -> list[TerritoryAgreement]:
    return list(session.scalars(
        select(TerritoryAgreement).where(TerritoryAgreement.territory_id == territory_id)
        .order_by(TerritoryAgreement.recorded_at, TerritoryAgreement.id)))


# -- organisations and mappings ----------------------------------------------------------------------


def find_organisation(session: Session, code: str) -> Organisation:
    organisation = session.scalars(select(Organisation).where(Organisation.code == code)).first()
    if organisation is None:
        raise RegistryError(f"no organisation {code!r}: see `lti-tool organisation list`")
    return organisation


def add_organisation(session: Session, code: str, *, name: str, territory_code: str,
                     kind: str = "css") -> Organisation:
    code = check_code(code, "organisation code")
    name = name.strip()
    if not name:
        raise RegistryError("an organisation needs a name (--name)")
    if kind not in KINDS:
        raise RegistryError(f"invalid kind {kind!r}: one of {', '.join(KINDS)}")
    territory = find_territory(session, territory_code)
    if session.scalars(select(Organisation.id).where(Organisation.code == code)).first() is not None:
        raise RegistryError(f"organisation {code!r} already exists")
    organisation = Organisation(code=code, name=name, kind=kind, territory_id=territory.id,
                                created_at=utcnow())
    session.add(organisation)
    session.flush()
    return organisation


@dataclass(frozen=True)
class OrganisationRow:
    organisation: Organisation
    territory: Territory | None
    registrations: int
    deployments: int
    courses: int


def list_organisations(session: Session) -> list[OrganisationRow]:
    def counts(column: Any) -> dict[str, int]:
        return {code: int(n) for code, n in session.execute(
            select(column, func.count()).where(column.is_not(None)).group_by(column))}

    platforms = counts(Platform.organisation_code)
    deployments = counts(Deployment.organisation_code)
    courses = counts(Course.organisation_code)
    territories = {t.id: t for t in session.scalars(select(Territory))}
    return [OrganisationRow(o, territories.get(o.territory_id) if o.territory_id else None,
                            platforms.get(o.code, 0), deployments.get(o.code, 0),
                            courses.get(o.code, 0))
            for o in session.scalars(select(Organisation).order_by(Organisation.code))]


def find_platform(session: Session, issuer: str, client_id: str) -> Platform:
    platform = session.scalars(select(Platform).where(Platform.issuer == issuer,
                                                      Platform.client_id == client_id)).first()
    if platform is None:
        raise RegistryError(f"no registration {issuer} client_id={client_id}: "
                            "see `lti-tool platform list`")
    return platform


def map_organisation(session: Session, code: str, *, issuer: str, client_id: str,
                     deployment_id: str | None = None, course: str | None = None) -> str:
    """Map a registration (neither option), one of its deployments, or one of its courses (the
    LTI context id) to the organisation. Returns what was mapped, in words."""
    if deployment_id is not None and course is not None:
        raise RegistryError("map a deployment (--deployment-id) or a course (--course), not both")
    organisation = find_organisation(session, code)
    platform = find_platform(session, issuer, client_id)
    where = f"{issuer} client_id={client_id}"
    if deployment_id is not None:
        deployment = session.scalars(select(Deployment).where(
            Deployment.platform_id == platform.id, Deployment.deployment_id == deployment_id)).first()
        if deployment is None:
            raise RegistryError(f"no deployment {deployment_id!r} under {where}: "
                                "see `lti-tool platform list`")
        deployment.organisation_code = organisation.code
        target = f"deployment {deployment_id} of {where}"
    elif course is not None:
        row = session.scalars(select(Course).where(Course.platform_id == platform.id,
                                                   Course.context_id == course)).first()
        if row is None:
            raise RegistryError(f"no course {course!r} under {where} (a course is known once "
                                "someone launched the tool from it)")
        row.organisation_code = organisation.code
        target = f"course {course} of {where}"
    else:
        platform.organisation_code = organisation.code
        target = f"registration {where}"
    session.flush()
    return target


def set_organisation_from_launch(session: Session, issuer: str, client_id: str, on: bool) -> Platform:
    """Whether launches of this registration may name the learner's organisation with the custom
    parameter `sexto_organisation` (trust in that platform's administrators)."""
    platform = find_platform(session, issuer, client_id)
    platform.organisation_from_launch = on
    session.flush()
    return platform


# -- the launch's custom parameter -------------------------------------------------------------------

# One statement, only when the launch carries the parameter: the registration's permission is read
# in the same statement, so a launch of a registration that does not allow it writes nothing.
_LAUNCH_ORGANISATION = text(
    "UPDATE learner SET organisation_code = :code WHERE id = :learner_id AND EXISTS "
    "(SELECT 1 FROM platform WHERE platform.id = :platform_id AND "
    "platform.organisation_from_launch = :allowed)"
)


def organisation_param(custom: Any) -> str | None:
    """The custom parameter's value when it is a well-formed code; None otherwise (ignored)."""
    value = custom.get(ORGANISATION_PARAM) if hasattr(custom, "get") else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _CODE.match(value) else None


def record_launch_organisation(session: Session, *, learner_id: int, platform_id: int,
                               custom: Any) -> None:
    """Store the organisation a launch names on the learner, where the registration allows it."""
    code = organisation_param(custom)
    if code is None:
        return
    session.execute(_LAUNCH_ORGANISATION, {"code": code, "learner_id": learner_id,
                                           "platform_id": platform_id, "allowed": True})


# -- a learner's organisation ------------------------------------------------------------------------


@dataclass(frozen=True)
class LearnerContext:
    """Where the learner works on the level: the deployment and course whose settings apply, with
    what resolve_organisation and the badge facts read about them, all in one statement (the level
    home shows the badge panel on every visit)."""

    platform_id: int
    deployment_pk: int | None
    course_pk: int | None
    # The organisation as each source names it (most specific first, see the module's docstring).
    launch_code: str | None = None
    launch_allowed: bool = False
    course_code: str | None = None
    deployment_code: str | None = None
    registration_code: str | None = None
    # The deployment's settings, and the learner's Explorer level.
    reflection_review: bool = False
    require_explorer: bool = False
    explorer_completed_at: datetime | None = None


# Built once: building a statement costs more than running it on the level home's small tables.
_LAST_PLAYED_LINK = (
    select(Attempt.resource_link_id)
    .where(Attempt.learner_id == bindparam("learner_id"), Attempt.resource_link_id.is_not(None))
    .order_by(Attempt.updated_at.desc(), Attempt.id.desc()).limit(1))
_LAST_GRADED_LINK = (
    select(Score.resource_link_id).where(Score.learner_id == bindparam("learner_id"))
    .order_by(Score.created_at.desc(), Score.id.desc()).limit(1))
# The learner and their registration, and the link's deployment and course when the link is on the
# learner's platform (a NULL `link_id` matches no link: the context then has neither).
_CONTEXT = (
    select(Learner.platform_id, ResourceLink.deployment_id, ResourceLink.course_id,
           Learner.organisation_code, Platform.organisation_from_launch, Course.organisation_code,
           Deployment.organisation_code, Platform.organisation_code, Deployment.reflection_review,
           Deployment.require_explorer, Learner.explorer_completed_at)
    .join(Platform, Platform.id == Learner.platform_id)
    .outerjoin(ResourceLink, and_(ResourceLink.id == bindparam("link_id"),
                                  ResourceLink.platform_id == Learner.platform_id))
    .outerjoin(Deployment, Deployment.id == ResourceLink.deployment_id)
    .outerjoin(Course, Course.id == ResourceLink.course_id)
    .where(Learner.id == bindparam("learner_id")))


def learner_context(session: Session, learner_id: int,
                    resource_link_id: int | None = None) -> LearnerContext | None:
    """The context of the given resource link, or else of the link the learner last played on
    (or was last graded on). None for an unknown learner."""
    params = {"learner_id": learner_id}
    if resource_link_id is None:
        resource_link_id = core_execute(session, _LAST_PLAYED_LINK, params).scalar()
    if resource_link_id is None:
        resource_link_id = core_execute(session, _LAST_GRADED_LINK, params).scalar()
    row = core_execute(session, _CONTEXT, {**params, "link_id": resource_link_id}).first()
    if row is None:
        return None
    (platform_id, deployment_pk, course_pk, launch_code, allowed, course_code, deployment_code,
     registration_code, review, require_explorer, explorer_at) = row
    return LearnerContext(platform_id, deployment_pk, course_pk, launch_code, bool(allowed),
                          course_code, deployment_code, registration_code, bool(review),
                          bool(require_explorer), explorer_at)


@dataclass(frozen=True)
class Resolution:
    code: str | None
    source: str | None  # launch | course | deployment | registration


def resolve_organisation(context: LearnerContext | None) -> Resolution:
    """The learner's organisation: the first code found, most specific first."""
    if context is None:
        return Resolution(None, None)
    # A code stored while the registration allowed it no longer counts once it is switched off.
    for code, source in ((context.launch_code if context.launch_allowed else None, "launch"),
                         (context.course_code, "course"), (context.deployment_code, "deployment"),
                         (context.registration_code, "registration")):
        if code:
            return Resolution(code, source)
    return Resolution(None, None)


# -- the starter list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StarterEntry:
    code: str
    name: str
    police_force: str
    date_found: str
    concluded_on: date | None
    sources: tuple[str, ...]


def starter_entries(path: Path = STARTER_LIST) -> list[StarterEntry]:
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = []
    for item in doc["territories"]:
        concluded = item.get("concluded_on")
        entries.append(StarterEntry(
            code=check_code(item["code"], "territory code"), name=item["name"],
            police_force=item["police_force"], date_found=str(item["date_found"]),
            concluded_on=parse_date(str(concluded)) if concluded else None,
            sources=tuple(item["sources"])))
    codes = [e.code for e in entries]
    if len(codes) != len(set(codes)):
        raise RegistryError(f"{path}: duplicate territory codes")
    return entries


def seed_starter_list(session: Session, path: Path = STARTER_LIST,
                      now: datetime | None = None) -> tuple[list[str], list[str]]:
    """Add the starter list's territories that are not there yet, each with an unverified
    concluded agreement (public sources say SEXTO was deployed there; the operator confirms).
    A territory already present is left as it is (the operator's record wins). Returns (added,
    kept)."""
    now = now or utcnow()
    added: list[str] = []
    kept: list[str] = []
    existing = set(session.scalars(select(Territory.code)))
    for entry in starter_entries(path):
        if entry.code in existing:
            kept.append(entry.code)
            continue
        territory = Territory(code=entry.code, name=entry.name, police_force=entry.police_force,
                              source="; ".join(entry.sources), created_at=now)
        session.add(territory)
        session.flush()
        session.add(TerritoryAgreement(
            territory_id=territory.id, status=eligibility.CONCLUDED,
            concluded_on=entry.concluded_on, verified=False, recorded_at=now,
            note=f"starter list (public sources, unverified): SEXTO deployed {entry.date_found}"))
        added.append(entry.code)
    session.flush()
    return added, kept


def learners_of(session: Session, codes: list[str]) -> list[int]:
    """Learners whose organisation may be one of `codes` (by any of the four ways): the ones a
    new agreement or mapping can concern. A superset; the rules decide for each."""
    if not codes:
        return []
    through_link = (select(Attempt.learner_id)
                    .join(ResourceLink, ResourceLink.id == Attempt.resource_link_id)
                    .join(Deployment, Deployment.id == ResourceLink.deployment_id)
                    .outerjoin(Course, Course.id == ResourceLink.course_id)
                    .where(Deployment.organisation_code.in_(codes)
                           | Course.organisation_code.in_(codes)))
    direct = select(Learner.id).join(Platform, Platform.id == Learner.platform_id).where(
        Learner.organisation_code.in_(codes) | Platform.organisation_code.in_(codes))
    return sorted(set(session.scalars(through_link)) | set(session.scalars(direct)))


def organisation_codes_of_territory(session: Session, territory_id: int) -> list[str]:
    return list(session.scalars(select(Organisation.code)
                                .where(Organisation.territory_id == territory_id)))

