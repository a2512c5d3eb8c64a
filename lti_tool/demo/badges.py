"""What the demo LMS shows of the badges the tool awarded its learners (issue 8, item 8).

A real LMS learns of a badge from the badge platform; the demo LMS, running in the same process as
the tool under `lti-tool demo`, is handed a callback instead (`create_demo_lms(..., badges=…)`,
built by lti_tool/demo/seed.py). Without one the demo shows no badge section and needs nothing of
the tool's code (the tests of the platform alone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoBadge:
    user_id: str  # the demo user's `sub`
    title: str
    status: str  # pending | awarded | failed | revoked
    awarded_at: str | None  # already worded (Quebec time)
    verification_url: str | None  # the public verification page
    png_url: str | None  # the baked image (embedded issuer)
    attestation_url: str | None  # the learner's private share link to the attestation


# user id → that user's badges
BadgeLister = Callable[[], Mapping[str, Sequence[DemoBadge]]]
