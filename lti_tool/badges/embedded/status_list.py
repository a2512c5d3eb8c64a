"""The embedded issuer's revocation list: a signed Bitstring Status List credential.

Spec: https://www.w3.org/TR/vc-bitstring-status-list/ — a `BitstringStatusListCredential` whose
subject's `encodedList` is the GZIP-compressed bitstring, base64url-encoded without padding, with
the multibase prefix "u" (§2.2); bit 0 is the most significant bit of the first byte (§3.2).

The bits are read from the `award` table at each request: bit `award.id % LIST_SIZE` of list
`award.id // LIST_SIZE + 1` is set when the embedded award is revoked (an award row keeps its
status `revoked` even after `lti-tool learner delete`). The list is a VC-JWT signed with the badge
key, valid one day (`validUntil`), so a replayed old copy cannot un-revoke a badge for long.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.badges.embedded.credential import (
    LIST_SIZE,
    VC2_CONTEXT,
    iso,
    issuer_id,
    sign,
    status_list_url,
)
from lti_tool.models import Award

LIST_LIFETIME = timedelta(days=1)


def revoked_indices(session: Session, list_id: int) -> set[int]:
    low, high = (list_id - 1) * LIST_SIZE, list_id * LIST_SIZE
    ids = session.scalars(select(Award.id).where(
        Award.issuer == "embedded", Award.status == "revoked", Award.id >= low, Award.id < high))
    return {award_id - low for award_id in ids}


def encode(indices: Iterable[int], size: int = LIST_SIZE) -> str:
    bits = bytearray(size // 8)
    for index in indices:
        bits[index // 8] |= 0x80 >> (index % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def document(base_url: str, list_id: int, encoded: str, now: datetime) -> dict[str, Any]:
    url = status_list_url(base_url, list_id)
    return {
        "@context": [VC2_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id(base_url),
        "validFrom": iso(now),
        "validUntil": iso(now + LIST_LIFETIME),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded,
        },
    }


def signed_list(session: Session, *, base_url: str, list_id: int, now: datetime,
                private_key: Any, kid_url: str) -> str:
    doc = document(base_url, list_id, encode(revoked_indices(session, list_id)), now)
    return sign(doc, private_key, kid_url)
