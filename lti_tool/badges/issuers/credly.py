"""The Credly adapter (Credly Web Service API v1, https://www.credly.com/docs/issued_badges).

- Authentication: HTTP Basic with the organisation's authorization token as the user name and an
  empty password.
- Award: `POST /v1/organizations/{org}/badges` with `recipient_email`, `issued_to_first_name`,
  `issued_to_last_name`, `badge_template_id`, `issued_at`, `locale: fr-CA` and `evidence` (the
  tool's access-controlled attestation link and a short description, never the reflection text).
  Credly refuses a second badge of one template for one recipient (422, "already has this
  badge"): the badge is looked up (`GET /v1/organizations/{org}/badges?filter=…`) and counts as
  issued.
- Revoke: `PUT /v1/organizations/{org}/badges/{id}/revoke` with a `reason`.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from lti_tool import http
from lti_tool.badges.issuers.base import (
    AwardInfo,
    IssueResult,
    IssuerRefused,
    IssuerUnavailable,
    Recipient,
    call,
    refused,
)

DUPLICATE_MARKERS = ("already has this badge", "already been issued", "already issued",
                     "duplicate")


class CredlyIssuer:
    name = "credly"

    def __init__(self, *, url: str, org: str, token: str, template: str) -> None:
        self.url = url.rstrip("/")
        self.org = org
        self.token = token
        self.template = template

    def _headers(self) -> dict[str, str]:
        if not (self.org and self.token and self.template):
            raise IssuerRefused("credly: CREDLY_ORG, CREDLY_TOKEN and CREDLY_TEMPLATE must be set")
        basic = base64.b64encode(f"{self.token}:".encode()).decode()
        return {"Authorization": f"Basic {basic}", "Accept": "application/json"}

    def _badges(self) -> str:
        return f"{self.url}/v1/organizations/{quote(self.org, safe='')}/badges"

    def award(self, award: AwardInfo, recipient: Recipient) -> IssueResult:
        headers = self._headers()
        email = recipient.require_email(self.name)
        first, last = recipient.names()
        if not first:
            raise IssuerRefused("credly needs the learner's first name (issued_to_first_name): the "
                                "LMS did not share it")
        payload = {
            "recipient_email": email,
            "issued_to_first_name": first,
            "issued_to_last_name": last or first,
            "badge_template_id": self.template,
            "issued_at": award.eligible_at.strftime("%Y-%m-%d %H:%M:%S %z"),
            "issuer_earner_id": f"sexto-award-{award.id}",
            "locale": "fr-CA",
            "suppress_badge_notification_email": False,
            "evidence": [{"type": "UrlEvidence", "name": "Attestation", "url": award.evidence_url,
                          "description": award.narrative}],
        }
        try:
            response = call("POST", self._badges(), headers=headers, json=payload)
        except http.HttpRefused as exc:
            if exc.status in (400, 409, 422) and any(m in exc.body.lower() for m in DUPLICATE_MARKERS):
                found = self._find(email, headers)
                if found is not None:
                    return IssueResult(issuer_ref=found, note="already awarded (found by look-up)")
                raise IssuerUnavailable("credly: the badge exists but the look-up did not find it "
                                        "yet", status=exc.status) from exc
            raise refused(exc, "credly refused the award") from exc
        badge_id = self._id(_json(response, "credly award"))
        if badge_id is None:
            raise IssuerUnavailable("credly award: no badge id in the answer")
        return IssueResult(issuer_ref=badge_id)

    def _find(self, email: str, headers: dict[str, str]) -> str | None:
        # Credly's filter syntax: field::value, several joined by "|".
        params = {"filter": f"recipient_email::{email}|badge_template_id::{self.template}"}
        try:
            response = call("GET", self._badges(), headers=headers, params=params)
        except http.HttpRefused as exc:
            raise refused(exc, "credly refused the look-up") from exc
        data = _json(response, "credly look-up")
        items = data.get("data") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and item.get("state") != "revoked" and item.get("id"):
                return str(item["id"])
        return None

    @staticmethod
    def _id(data: Any) -> str | None:
        item = data.get("data") if isinstance(data, dict) else None
        value = item.get("id") if isinstance(item, dict) else None
        return str(value) if value else None

    def revoke(self, award: AwardInfo, reason: str) -> None:
        headers = self._headers()
        if not award.issuer_ref:
            return
        url = f"{self._badges()}/{quote(award.issuer_ref, safe='')}/revoke"
        try:
            call("PUT", url, headers=headers,
                 json={"reason": reason, "suppress_revoke_notification_email": False})
        except http.HttpRefused as exc:
            if exc.status == 404 or "already revoked" in exc.body.lower():
                return
            raise refused(exc, "credly refused the revocation") from exc

    def status(self, award: AwardInfo) -> str:
        headers = self._headers()
        if not award.issuer_ref:
            return "unknown"
        try:
            response = call("GET", f"{self._badges()}/{quote(award.issuer_ref, safe='')}",
                             headers=headers)
        except http.HttpRefused as exc:
            if exc.status == 404:
                return "unknown"
            raise refused(exc, "credly refused the status look-up") from exc
        data = _json(response, "credly status")
        item = data.get("data") if isinstance(data, dict) else None
        state = item.get("state") if isinstance(item, dict) else None
        return "revoked" if state == "revoked" else "awarded"


def _json(response: Any, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise IssuerUnavailable(f"{what}: the answer was not JSON", status=response.status_code) from exc
