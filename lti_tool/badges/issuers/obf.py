"""The Open Badge Factory adapter (OBF REST API, https://openbadgefactory.com/developers/).

- Tokens: OAuth2 client credentials (`POST /v1/client/oauth2/token`), kept per client with their
  expiry (`base.TokenStore`, Redis when configured), renewed before they expire and once on a 401.
- Award: one issuing event per award, `POST /v2/event/{client}/{badge}/issue` with
  `recipient [{email, name}]`, `issued_on` (Unix time) and `expires_on` (none: the badge does not
  expire), plus the tool's access-controlled evidence link and a short narrative (never the
  reflection text). OBF does not refuse a second event for one recipient, so the adapter looks
  for an event of this badge for the recipient first (`GET /v2/event/{client}?badge_id=…&email=…`):
  a retry after a worker died once OBF had stored the event finds it instead of issuing twice;
  a 409 answer is treated the same way.
- Revoke: `PUT /v2/event/{client}/{event}/revoke` with the reason.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from lti_tool import http
from lti_tool.badges.issuers.badgr import OAuthClient
from lti_tool.badges.issuers.base import (
    AwardInfo,
    IssueResult,
    IssuerRefused,
    IssuerUnavailable,
    Recipient,
    TokenStore,
    account_key,
    refused,
)


class ObfIssuer(OAuthClient):
    name = "obf"

    def __init__(self, *, url: str, client_id: str, client_secret: str, badge_id: str,
                 tokens: TokenStore) -> None:
        super().__init__(tokens, account_key("obf", url, client_id))
        self.url = url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.badge_id = badge_id

    def _configured(self) -> None:
        if not (self.client_id and self.client_secret and self.badge_id):
            raise IssuerRefused("obf: OBF_CLIENT_ID, OBF_CLIENT_SECRET and OBF_BADGE_ID must be set")

    def token_request(self) -> tuple[str, dict[str, str]]:
        return f"{self.url}/v1/client/oauth2/token", {
            "grant_type": "client_credentials", "client_id": self.client_id,
            "client_secret": self.client_secret}

    def _events(self) -> str:
        return f"{self.url}/v2/event/{quote(self.client_id, safe='')}"

    def award(self, award: AwardInfo, recipient: Recipient) -> IssueResult:
        self._configured()
        email = recipient.require_email(self.name)
        found = self._find(email)
        if found is not None:
            return IssueResult(issuer_ref=found, note="already awarded (found by look-up)")
        first, last = recipient.names()
        payload = {
            "recipient": [{"email": email, "name": " ".join(p for p in (first, last) if p)
                           or recipient.name or email}],
            "issued_on": int(award.eligible_at.timestamp()),
            "expires_on": None,
            "log_entry": {"award": award.id, "client": "sexto-architect-lti"},
            "evidence": [{"url": award.evidence_url, "narrative": award.narrative}],
        }
        url = f"{self._events()}/{quote(self.badge_id, safe='')}/issue"
        try:
            response = self.authed("POST", url, json=payload)
        except http.HttpRefused as exc:
            if exc.status == 409:
                again = self._find(email)
                if again is not None:
                    return IssueResult(issuer_ref=again, note="already awarded (found by look-up)")
            raise refused(exc, "obf refused the award") from exc
        event = self._event_id(response)
        if event is None:
            raise IssuerUnavailable("obf award: no event id in the answer")
        return IssueResult(issuer_ref=event)

    def _find(self, email: str) -> str | None:
        try:
            response = self.authed("GET", self._events(),
                                   params={"badge_id": self.badge_id, "email": email})
        except http.HttpRefused as exc:
            if exc.status == 404:
                return None
            raise refused(exc, "obf refused the look-up") from exc
        data = self.read_json(response, "obf look-up")
        items = data if isinstance(data, list) else (data.get("result") if isinstance(data, dict) else None)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and not item.get("revoked") and item.get("id"):
                return str(item["id"])
        return None

    @staticmethod
    def _event_id(response: Any) -> str | None:
        """OBF answers 201 with the event's URL in Location (…/event/{client}/{event}); some
        versions also give it in the body."""
        location = response.headers.get("Location", "")
        if location.rstrip("/"):
            return location.rstrip("/").rsplit("/", 1)[-1] or None
        try:
            data = response.json()
        except ValueError:
            return None
        value = data.get("id") if isinstance(data, dict) else None
        return str(value) if value else None

    def revoke(self, award: AwardInfo, reason: str) -> None:
        self._configured()
        if not award.issuer_ref:
            return
        url = f"{self._events()}/{quote(award.issuer_ref, safe='')}/revoke"
        try:
            self.authed("PUT", url, json={"reason": reason})
        except http.HttpRefused as exc:
            if exc.status == 404:
                return
            raise refused(exc, "obf refused the revocation") from exc

    def status(self, award: AwardInfo) -> str:
        self._configured()
        if not award.issuer_ref:
            return "unknown"
        try:
            response = self.authed("GET", f"{self._events()}/{quote(award.issuer_ref, safe='')}")
        except http.HttpRefused as exc:
            if exc.status == 404:
                return "unknown"
            raise refused(exc, "obf refused the status look-up") from exc
        data = self.read_json(response, "obf status")
        return "revoked" if isinstance(data, dict) and data.get("revoked") else "awarded"
