"""Settings and fixed fixtures of the demo LMS (one fake course, three users, one activity).

The demo LMS is a *platform* in LTI terms (https://www.imsglobal.org/spec/lti/v1p3/): its URLs
are what the tool's registration needs (`lti-tool platform add ...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


@dataclass(frozen=True)
class DemoSettings:
    """Where the demo LMS and the tool live, and how the tool is registered in it."""

    base_url: str  # the demo LMS's own URL, also its issuer (`iss`)
    tool_base_url: str  # the tool's URL; its endpoints below are fixed by DESIGN.md §5
    client_id: str = "sexto-demo-client"
    deployment_id: str = "demo-deployment-1"
    keys_dir: Path = Path("keys/demo-platform")  # the platform's RSA pair, generated on first use
    state_file: Path | None = None  # JSON file keeping links, line items and scores; None = memory
    # LTI Platform Storage (https://www.imsglobal.org/spec/lti-pm-s/v0p1): the frame the tool
    # posts `lti.put_data` to; None leaves `lti_storage_target` out of the login initiation.
    storage_target: str | None = "_parent"
    # Lets `POST /demo/api/launches` alter claims, JWT headers or the algorithm: for negative tests
    # of the tool only. Never switched on by `lti-tool demo`.
    allow_test_overrides: bool = False
    id_token_lifetime: int = 300  # seconds
    # (user key, organisation code): sent in that user's resource-link launches as the custom
    # parameter `sexto_organisation` (issue 8), so the two demo learners belong to two school
    # service centres. `lti-tool demo` fills it (lti_tool/demo/seed.py); empty by default.
    user_organisations: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "tool_base_url", self.tool_base_url.rstrip("/"))
        object.__setattr__(self, "keys_dir", Path(self.keys_dir))

    def organisation_of(self, user_key: str) -> str | None:
        return dict(self.user_organisations).get(user_key)

    # -- what the tool's registration needs -----------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/lti/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/lti/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/lti/jwks.json"

    @property
    def deep_linking_return_url(self) -> str:
        return f"{self.base_url}/lti/deep-linking/return"

    # -- the tool's fixed endpoints -------------------------------------------------------------
    @property
    def tool_login_url(self) -> str:
        return f"{self.tool_base_url}/lti/login"

    @property
    def tool_launch_url(self) -> str:
        """Redirect URI *and* target link URI of the default activity."""
        return f"{self.tool_base_url}/lti/launch"

    @property
    def tool_jwks_url(self) -> str:
        return f"{self.tool_base_url}/.well-known/jwks.json"


@dataclass(frozen=True)
class DemoUser:
    id: str  # the `sub` claim: opaque and stable
    key: str  # learner | instructor (how the demo page and the test driver name them)
    given_name: str
    family_name: str
    email: str
    role: str  # LIS membership role URI

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def gradable(self) -> bool:
        """Like Moodle: only learners receive grades; a score for a teacher is refused (400)."""
        return self.role == LEARNER_ROLE


@dataclass(frozen=True)
class DemoCourse:
    id: str
    label: str
    title: str
    users: tuple[DemoUser, ...] = field(default_factory=tuple)

    def user(self, key_or_id: str) -> DemoUser | None:
        return next((u for u in self.users if key_or_id in (u.key, u.id)), None)


COURSE = DemoCourse(
    id="demo-course-sexto",
    label="SEXTO-DEMO",
    title="Formation SEXTO — démo",
    users=(
        DemoUser(
            id="demo-user-alex-tremblay",
            key="learner",
            given_name="Alex",
            family_name="Tremblay",
            email="alex.tremblay@example.org",
            role=LEARNER_ROLE,
        ),
        # A second learner (issue 8): with `lti-tool demo`, in a school service centre whose
        # territory has no agreement recorded, so the page shows why the badge waits.
        DemoUser(
            id="demo-user-jade-morin",
            key="learner2",
            given_name="Jade",
            family_name="Morin",
            email="jade.morin@example.org",
            role=LEARNER_ROLE,
        ),
        DemoUser(
            id="demo-user-camille-roy",
            key="instructor",
            given_name="Camille",
            family_name="Roy",
            email="camille.roy@example.org",
            role=INSTRUCTOR_ROLE,
        ),
    ),
)

# The activity the course starts with; its line item is created with it (as Moodle does).
DEFAULT_LINK_ID = "rl-niveau-architecte"
DEFAULT_LINK_TITLE = "Niveau Architecte"
DEFAULT_LINK_TEXT = "Trois cas fictifs et trois questions de réflexion (méthode SEXTO)."
DEFAULT_LINK_CUSTOM = {"sexto_level": "architecte"}
DEFAULT_LINE_ITEM_ID = "li-niveau-architecte"
DEFAULT_SCORE_MAXIMUM = 100.0

LOCALES = ("fr-CA", "en")
