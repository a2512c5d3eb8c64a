"""The Badgr adapter: Badgr, Canvas Credentials (Parchment Digital Badges), self-hosted
badgr-server — the API v2 (https://api.badgr.io/docs/v2/,
https://developerdocs.instructure.com/services/credentials).

- Tokens: `POST /o/token` (OAuth2 password grant); they last 24 h (`expires_in`). Kept per issuer
  account with their expiry (`base.TokenStore`: Redis when configured) and renewed before they
  expire; a 401 all the same (revoked token, clock drift) drops it and renews once.
- Award: `POST /v2/badgeclasses/{entityId}/assertions` with the recipient's email (hashed in the
  published assertion), `issuedOn`, a short `narrative` and `evidence [{url, narrative}]` — the
  tool's access-controlled attestation link, never the reflection text — and
  `allowDuplicateAwards: false`. badgr-server then refuses a second award with 400 "A previous
  award of this badge already exists for this recipient.": the award is looked up
  (`GET /v2/badgeclasses/{entityId}/assertions?recipient=…`) and counts as issued — the answer a
  retry gets when a worker died after the issuer stored the badge.
- Revoke: `DELETE /v2/assertions/{entityId}` with `revocation_reason`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any
from urllib.parse import quote

from lti_tool import http
from lti_tool.badges.issuers.base import (
    AwardInfo,
    IssueResult,
    IssuerRefused,
    IssuerUnavailable,
    Recipient,
    TokenStore,
    account_key,
    call,
    refused,
)

DUPLICATE_MARKERS = ("previous award", "already exists", "already been awarded")


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class OAuthClient(ABC):
    """Bearer-token calls for one issuer account: the cached token, renewed once on a 401."""

    name = "oauth"

    def __init__(self, tokens: TokenStore, account: str) -> None:
        self.tokens = tokens
        self.account = account
        self.token_requests = 0  # observable by tests

    @abstractmethod
    def token_request(self) -> tuple[str, dict[str, str]]:
        """The adapter's token endpoint and the form it posts (grant, credentials)."""

    def fetch_token(self) -> tuple[str, float | None]:
        """A new access token and its lifetime (RFC 6749 §5.1: `access_token`, `expires_in`)."""
        url, form = self.token_request()
        data = self.read_json(call("POST", url, data=form), f"{self.name} token")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise IssuerUnavailable(f"{self.name} token: no access_token in the answer")
        expires = data.get("expires_in")
        return token, float(expires) if isinstance(expires, int | float) else None

    def token(self) -> str:
        cached = self.tokens.get(self.account)
        if cached:
            return cached
        self.token_requests += 1
        try:
            token, expires_in = self.fetch_token()
        except http.HttpRefused as exc:
            raise refused(exc, f"{self.name}: the token request was refused (check the account "
                               "settings)") from exc
        self.tokens.put(self.account, token, expires_in)
        return token

    def authed(self, method: str, url: str, **kwargs: Any) -> Any:
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {**extra, "Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
            try:
                return call(method, url, headers=headers, **kwargs)
            except http.HttpRefused as exc:
                if exc.status == 401 and attempt == 1:
                    self.tokens.drop(self.account)  # expired or revoked early: renew once
                    continue
                raise  # a 401 with a fresh token too: the account's rights
        raise AssertionError("unreachable")

    @staticmethod
    def read_json(response: Any, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise IssuerUnavailable(f"{what}: the answer was not JSON", status=response.status_code) \
                from exc


class BadgrIssuer(OAuthClient):
    name = "badgr"

    def __init__(self, *, url: str, username: str, password: str, badgeclass: str,
                 tokens: TokenStore) -> None:
        super().__init__(tokens, account_key("badgr", url, username))
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.badgeclass = badgeclass

    def _configured(self) -> None:
        if not (self.username and self.password and self.badgeclass):
            raise IssuerRefused("badgr: BADGR_USERNAME, BADGR_PASSWORD and BADGR_BADGECLASS must be set")

    def token_request(self) -> tuple[str, dict[str, str]]:
        return f"{self.url}/o/token", {"grant_type": "password", "username": self.username,
                                        "password": self.password}

    # -- award -------------------------------------------------------------------------------
    def award(self, award: AwardInfo, recipient: Recipient) -> IssueResult:
        self._configured()
        email = recipient.require_email(self.name)
        issued_on = award.eligible_at
        payload = {
            "recipient": {"identity": email, "type": "email", "hashed": True},
            "issuedOn": _iso(issued_on),
            "narrative": award.narrative,
            "evidence": [{"url": award.evidence_url, "narrative": award.narrative}],
            "allowDuplicateAwards": False,
        }
        url = f"{self.url}/v2/badgeclasses/{quote(self.badgeclass, safe='')}/assertions"
        try:
            response = self.authed("POST", url, json=payload)
        except http.HttpRefused as exc:
            if exc.status == 400 and any(m in exc.body.lower() for m in DUPLICATE_MARKERS):
                found = self._find(email)
                if found is not None:
                    return IssueResult(issuer_ref=found, note="already awarded (found by look-up)")
                raise IssuerUnavailable("badgr: a previous award exists but the look-up did not "
                                        "find it yet", status=exc.status) from exc
            raise refused(exc, "badgr refused the award") from exc
        entity = self._entity(self.read_json(response, "badgr award"))
        if entity is None:
            raise IssuerUnavailable("badgr award: no entityId in the answer")
        return IssueResult(issuer_ref=entity)

    def _find(self, email: str) -> str | None:
        url = f"{self.url}/v2/badgeclasses/{quote(self.badgeclass, safe='')}/assertions"
        try:
            response = self.authed("GET", url, params={"recipient": email})
        except http.HttpRefused as exc:
            raise refused(exc, "badgr refused the look-up") from exc
        data = self.read_json(response, "badgr look-up")
        results = data.get("result") if isinstance(data, dict) else None
        for item in results if isinstance(results, list) else ():
            if isinstance(item, dict) and not item.get("revoked") and isinstance(item.get("entityId"), str):
                return str(item["entityId"])
        return None

    @staticmethod
    def _entity(data: Any) -> str | None:
        results = data.get("result") if isinstance(data, dict) else None
        first = results[0] if isinstance(results, list) and results else data
        value = first.get("entityId") if isinstance(first, dict) else None
        return value if isinstance(value, str) and value else None

    # -- revoke, status ---------------------------------------------------------------------
    def revoke(self, award: AwardInfo, reason: str) -> None:
        self._configured()
        if not award.issuer_ref:
            return  # never issued there: nothing to revoke
        url = f"{self.url}/v2/assertions/{quote(award.issuer_ref, safe='')}"
        try:
            self.authed("DELETE", url, json={"revocation_reason": reason})
        except http.HttpRefused as exc:
            if exc.status == 404 or "already revoked" in exc.body.lower():
                return  # gone or revoked already: the outcome the operator asked for
            raise refused(exc, "badgr refused the revocation") from exc

    def status(self, award: AwardInfo) -> str:
        self._configured()
        if not award.issuer_ref:
            return "unknown"
        url = f"{self.url}/v2/assertions/{quote(award.issuer_ref, safe='')}"
        try:
            response = self.authed("GET", url)
        except http.HttpRefused as exc:
            if exc.status == 404:
                return "unknown"
            raise refused(exc, "badgr refused the status look-up") from exc
        data = self.read_json(response, "badgr status")
        results = data.get("result") if isinstance(data, dict) else None
        first = results[0] if isinstance(results, list) and results else {}
        return "revoked" if isinstance(first, dict) and first.get("revoked") else "awarded"
