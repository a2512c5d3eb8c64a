"""Eligibility for the Architect badge as pure rules (issue 8, item 2; ../shared/docs/BADGES.md
"Eligibility"; DESIGN.md §4.4). No Flask, no database: `facts.py` gathers the `Facts`, `evaluate`
decides, so every rule is testable alone.

A learner is eligible when, on the award date:
- every case of the level is passed (cases/progress.py `level_cases_passed`);
- every reflection question has a submitted answer;
- where the deployment switches review on, the newest review accepted the current submission;
- their organisation is known (registered with the program) and belongs to a territory;
- that territory's current agreement with the DPCP is concluded, verified by the operator, and in
  force on the award date (concluded_on <= date, not suspended);
- where the deployment requires it, the Explorer level (the program's first) is completed.

Each condition comes back met or not with a reason code; the level home turns the codes into
bilingual text (templates/cases/_eligibility.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Agreement states (models/badges.py TerritoryAgreement.status).
CONCLUDED, SUSPENDED, NONE = "concluded", "suspended", "none"

# Condition codes, in the order the page lists them.
CASES = "cases_passed"
REFLECTIONS = "reflections_submitted"
REVIEW = "reflections_accepted"
ORGANISATION = "organisation"
AGREEMENT = "agreement"
EXPLORER = "explorer"


@dataclass(frozen=True)
class Agreement:
    """The territory's current agreement (the newest recorded row)."""

    status: str  # concluded | suspended | none
    concluded_on: date | None
    verified: bool


@dataclass(frozen=True)
class Facts:
    """What the rules need to know about one learner, in one context (deployment, course)."""

    on: date  # the award date (Quebec calendar)
    cases_total: int
    cases_passed: int
    reflections_total: int
    reflections_submitted: int
    review_on: bool = False
    # The newest review's decision when it covers the current submission: "accepted" or
    # "returned"; None when there is none, or it predates the submission (a revision waits).
    review: str | None = None
    # The code the resolution found (launch > course > deployment > registration), and whether
    # the program knows it; where it came from ("launch", "course", "deployment", "registration").
    organisation_code: str | None = None
    organisation_known: bool = False
    organisation_name: str | None = None
    organisation_source: str | None = None
    territory_code: str | None = None
    territory_name: str | None = None
    police_force: str | None = None
    agreement: Agreement | None = None
    require_explorer: bool = False
    explorer_completed: bool = False


@dataclass(frozen=True)
class Condition:
    code: str
    met: bool
    reason: str  # a code the page words (see the template), e.g. "agreement_unverified"


@dataclass(frozen=True)
class Eligibility:
    conditions: tuple[Condition, ...]
    # What the territory's status means for the learner: "in_force" (the badge follows completion),
    # "waiting" (no recorded agreement, unverified, not yet in force: train now, the badge waits),
    # "suspended", "no_organisation" (the school board must be registered with the program).
    territory_status: str

    @property
    def eligible(self) -> bool:
        return all(c.met for c in self.conditions)

    def condition(self, code: str) -> Condition | None:
        return next((c for c in self.conditions if c.code == code), None)

    @property
    def unmet(self) -> tuple[str, ...]:
        return tuple(c.reason for c in self.conditions if not c.met)


def evaluate(facts: Facts) -> Eligibility:
    conditions = [
        _cases(facts),
        _reflections(facts),
    ]
    if facts.review_on:
        conditions.append(_review(facts))
    organisation = _organisation(facts)
    agreement = _agreement(facts, organisation.met)
    conditions += [organisation, agreement]
    if facts.require_explorer:
        conditions.append(Condition(EXPLORER, facts.explorer_completed,
                                    "explorer_completed" if facts.explorer_completed
                                    else "explorer_missing"))
    return Eligibility(tuple(conditions), _territory_status(organisation, agreement))


def agreement_in_force(agreement: Agreement | None, on: date) -> bool:
    return _agreement_reason(agreement, on) == "agreement_in_force"


def _cases(facts: Facts) -> Condition:
    # A level without cases passes nothing: content always has three, this guards a bad load.
    met = facts.cases_total > 0 and facts.cases_passed >= facts.cases_total
    return Condition(CASES, met, "cases_passed" if met else "cases_not_passed")


def _reflections(facts: Facts) -> Condition:
    met = facts.reflections_total > 0 and facts.reflections_submitted >= facts.reflections_total
    return Condition(REFLECTIONS, met, "reflections_submitted" if met else "reflections_not_submitted")


def _review(facts: Facts) -> Condition:
    submitted = _reflections(facts).met
    if submitted and facts.review == "accepted":
        return Condition(REVIEW, True, "reflections_accepted")
    if submitted and facts.review == "returned":
        return Condition(REVIEW, False, "reflections_returned")
    return Condition(REVIEW, False, "reflections_awaiting_review" if submitted
                     else "reflections_not_reviewed")


def _organisation(facts: Facts) -> Condition:
    if not facts.organisation_code:
        return Condition(ORGANISATION, False, "no_organisation")
    if not facts.organisation_known:
        return Condition(ORGANISATION, False, "organisation_not_registered")
    if not facts.territory_code:
        return Condition(ORGANISATION, False, "organisation_without_territory")
    return Condition(ORGANISATION, True, "organisation_known")


def _agreement(facts: Facts, organisation_ok: bool) -> Condition:
    if not organisation_ok:
        return Condition(AGREEMENT, False, "territory_unknown")
    reason = _agreement_reason(facts.agreement, facts.on)
    return Condition(AGREEMENT, reason == "agreement_in_force", reason)


def _agreement_reason(agreement: Agreement | None, on: date) -> str:
    if agreement is None or agreement.status == NONE:
        return "no_agreement"
    if agreement.status == SUSPENDED:
        return "agreement_suspended"
    if agreement.status != CONCLUDED:
        return "no_agreement"
    if not agreement.verified:
        return "agreement_unverified"
    if agreement.concluded_on is None:
        return "no_agreement"  # a conclusion without a date proves nothing is in force
    if agreement.concluded_on > on:
        return "agreement_not_yet_in_force"
    return "agreement_in_force"


def _territory_status(organisation: Condition, agreement: Condition) -> str:
    if not organisation.met:
        return "no_organisation"
    if agreement.met:
        return "in_force"
    if agreement.reason == "agreement_suspended":
        return "suspended"
    return "waiting"
