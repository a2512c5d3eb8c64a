"""The `lms` and `none` adapters: no outside call.

`lms`: the grading already sends the passing score (AGS); the LMS issues its own badge (e.g. a
Moodle badge on activity completion). The award is recorded as "awarded by the LMS", so the
attestation and `lti-tool awards list` still show it. `none`: the award is recorded, no badge is
issued anywhere.
"""

from __future__ import annotations

from lti_tool.badges.issuers.base import AwardInfo, IssueResult, Recipient


class LmsIssuer:
    name = "lms"

    def award(self, award: AwardInfo, recipient: Recipient) -> IssueResult:
        return IssueResult(issuer_ref=None, note="awarded by the LMS (the passing score was sent)")

    def revoke(self, award: AwardInfo, reason: str) -> None:
        """The LMS's badge is the LMS's: revoke it there; the tool records the revocation."""

    def status(self, award: AwardInfo) -> str:
        return "unknown"


class NoIssuer:
    name = "none"

    def award(self, award: AwardInfo, recipient: Recipient) -> IssueResult:
        return IssueResult(issuer_ref=None, note="recorded only (BADGE_ISSUER=none)")

    def revoke(self, award: AwardInfo, reason: str) -> None:
        """Nothing was issued."""

    def status(self, award: AwardInfo) -> str:
        return "unknown"
