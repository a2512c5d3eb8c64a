"""The embedded Open Badges 3.0 issuer (issue 8, item 4; ../shared/docs/BADGES.md).

- credential.py: the `OpenBadgeCredential`, issuer Profile and Achievement; VC-JWT signing;
- keys.py: the badge signing keys (`keys/badges/`), published at `/badges/keys/<kid>`;
- status_list.py: revocation through a signed Bitstring Status List;
- baking.py: the baked PNG (iTXt `openbadgecredential`);
- service.py: the `Issuer` adapter (`make_issuer`), look-ups and the tool's own check;
- views.py: the public endpoints of DESIGN.md §5 and the verification page.
"""

from __future__ import annotations

from lti_tool.badges.embedded.service import (
    EmbeddedIssuer,
    NoCredential,
    credential_of,
    make_issuer,
    verification_url,
)

__all__ = ["EmbeddedIssuer", "NoCredential", "credential_of", "make_issuer", "verification_url"]
