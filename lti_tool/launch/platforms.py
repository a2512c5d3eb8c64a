"""Per-LMS quirks, in one place (DESIGN.md §3): a small class per platform family, picked from
`Registration.family` (moodle | canvas | generic) with `for_family()`. Views and services ask the
flavour instead of testing `if family == "canvas"`.

What differs, and where the LMS documents it:
- Canvas places a tool in its UI through `placements` (link_selection, assignment_selection,
  course_navigation, …) on each message of the registration, and reads its own privacy level
  claim (https://developerdocs.instructure.com/services/canvas/external-tools/lti/file.registration
  and the developer-key JSON, …/file.lti_dev_key_config). A dynamic registration may come back
  without a deployment_id: Canvas creates deployments when the key is installed in an account or
  course.
- Moodle ignores `placements`; its deployment_id is the tool type id and always comes back in the
  registration response; it reads the `claims` list to set "share name / email" and the `lineitem`
  scope to turn on "grade sync and column management" (mod/lti/classes/local/ltiopenid/
  registration_helper.php; LTI.md, "Moodle").
"""

from __future__ import annotations

from typing import Any

from lti_tool.errors import Bilingual
from lti_tool.launch import claims as c

# The Canvas privacy level that shares name, email and locale (what the attestation needs).
CANVAS_PRIVACY_CLAIM = "https://canvas.instructure.com/lti/privacy_level"
# Canvas's AGS score extension (LTI.md, "Canvas").
CANVAS_SUBMISSION_EXTENSION = "https://canvas.instructure.com/lti/submission"


class Generic:
    """A standard LTI Advantage platform: no proprietary fields."""

    family = "generic"
    label = "LTI 1.3"
    # Whether the registration response is expected to name the deployment.
    deployment_in_registration = True

    def message_placements(self, message_type: str) -> tuple[str, ...]:
        return ()

    def tool_configuration_extras(self) -> dict[str, Any]:
        """Proprietary fields added to `https://purl.imsglobal.org/spec/lti-tool-configuration`."""
        return {}

    def registration_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """One entry of the registration's `messages`, with this family's additions."""
        placements = self.message_placements(message["type"])
        return {**message, "placements": list(placements)} if placements else dict(message)

    def score_extensions(self, activity_progress: str, timestamp: str) -> dict[str, Any]:
        """Proprietary members added to an AGS score (https://www.imsglobal.org/spec/lti-ags/v2p0#score-publish-service)."""
        return {}

    def missing_deployment(self) -> Bilingual:
        """Why the registration came back without a deployment, for the administrator."""
        return Bilingual(
            "La plateforme n'a pas indiqué d'identifiant de déploiement.",
            "The platform did not give a deployment id.")


class Moodle(Generic):
    """Moodle 4.x: issuer = site wwwroot; deployment_id = tool type id; placements ignored."""

    family = "moodle"
    label = "Moodle"


class Canvas(Generic):
    """Canvas: placements and privacy level are Canvas extensions; deployments come later."""

    family = "canvas"
    label = "Canvas"
    deployment_in_registration = False
    # Where Canvas shows each message (developer key "placements").
    PLACEMENTS: dict[str, tuple[str, ...]] = {
        c.DEEP_LINKING_REQUEST: ("link_selection", "assignment_selection"),
        c.RESOURCE_LINK_REQUEST: ("course_navigation",),
    }
    PRIVACY_LEVEL = "public"

    def message_placements(self, message_type: str) -> tuple[str, ...]:
        return self.PLACEMENTS.get(message_type, ())

    def tool_configuration_extras(self) -> dict[str, Any]:
        return {CANVAS_PRIVACY_CLAIM: self.PRIVACY_LEVEL}

    def score_extensions(self, activity_progress: str, timestamp: str) -> dict[str, Any]:
        """Canvas's submission extension: without `new_submission: false`, every score (even
        "Started") would create a submission the instructor is asked to grade; only a submitted
        or completed activity is one (https://canvas.instructure.com/doc/api/score.html)."""
        submitted = activity_progress in ("Submitted", "Completed")
        extension: dict[str, Any] = {"new_submission": submitted}
        if submitted:
            extension.update(submission_type="basic_lti_launch", submitted_at=timestamp)
        return {CANVAS_SUBMISSION_EXTENSION: extension}

    def developer_key_placements(self, launch_url: str, text: str) -> list[dict[str, Any]]:
        """The `extensions[0].settings.placements` of the developer-key JSON."""
        return [
            {"placement": placement, "message_type": message_type, "target_link_uri": launch_url,
             "text": text}
            for message_type in (c.DEEP_LINKING_REQUEST, c.RESOURCE_LINK_REQUEST)
            for placement in self.PLACEMENTS[message_type]
        ]

    def missing_deployment(self) -> Bilingual:
        return Bilingual(
            "Canvas crée le déploiement lorsque la clé de développeur est installée dans un compte "
            "ou un cours : il n'est pas encore connu de l'outil.",
            "Canvas creates the deployment when the developer key is installed in an account or a "
            "course: the tool does not know it yet.")


_FLAVOURS: dict[str, Generic] = {f.family: f for f in (Generic(), Moodle(), Canvas())}


def for_family(family: str | None) -> Generic:
    return _FLAVOURS.get(family or "generic", _FLAVOURS["generic"])
