"""The Open Badges 3.0 documents of the embedded issuer, and their VC-JWT signature.

Spec: https://www.imsglobal.org/spec/ob/v3p0/ — an `OpenBadgeCredential` (§4.1, VC Data Model 2.0
context then the OB 3.0 context, `validFrom`), its `issuer` Profile and `Achievement` published at
the stable URLs of DESIGN.md §5, secured as a VC-JWT (§8.2: the JWT payload is the credential, with
the registered claims `iss` = issuer id, `jti` = credential id, `nbf` = validFrom, `sub` =
credentialSubject.id; header `alg` RS256, `typ` JWT, `kid` a URL that answers the public JWK).

Privacy: the recipient is an `IdentityObject` holding a salted SHA-256 hash of their email (of
their LTI user id when the platform shared no email; §B.1.17 "identityHash"), never the address;
the evidence is an access-controlled URL of the tool and a short narrative, never the learner's
reflection text (../shared/docs/BADGES.md).

Revocation: `credentialStatus` is a `BitstringStatusListEntry`
(https://www.w3.org/TR/vc-bitstring-status-list/) whose index is the award id (ids are never
reused: NO_ID_REUSE), in list `award_id // LIST_SIZE + 1`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from lti_tool.cases.model import Level

VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CREDENTIAL_CONTEXT = [VC2_CONTEXT, OB3_CONTEXT]
ACHIEVEMENT_ID = "architecte"
IMAGE_PATH = "/static/img/badges/architecte.png"
# Bitstring Status List §6.1: at least 131,072 entries per list (16 KiB), for herd privacy.
LIST_SIZE = 131_072

ISSUER_NAME = "Formation SEXTO — niveau Architecte"
ACHIEVEMENT_NAME = "Trousse de réponse Sexto 2 – Architecte"
ACHIEVEMENT_NAME_EN = "Sexto 2 response kit – Architect"


@dataclass(frozen=True)
class Subject:
    """Who the badge is for, as the credential may say it."""

    email: str | None
    lti_user_id: str


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def issuer_id(base_url: str) -> str:
    return f"{_base(base_url)}/badges/issuer"


def achievement_id(base_url: str, achievement: str = ACHIEVEMENT_ID) -> str:
    return f"{_base(base_url)}/badges/achievements/{achievement}"


def verification_url(base_url: str, credential_id: str) -> str:
    return f"{_base(base_url)}/badges/verify/{credential_id}"


def evidence_url(base_url: str, credential_id: str) -> str:
    """The tool's page behind an LMS launch (a page token): it opens the attestation for the
    learner and their instructor only (views.evidence)."""
    return f"{_base(base_url)}/badges/evidence/{credential_id}"


def status_list_url(base_url: str, list_id: int) -> str:
    return f"{_base(base_url)}/badges/status/{list_id}"


def status_position(award_id: int) -> tuple[int, int]:
    """(status list id, index in it) of an award."""
    return award_id // LIST_SIZE + 1, award_id % LIST_SIZE


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def issuer_profile(base_url: str) -> dict[str, Any]:
    """The issuer `Profile` (OB 3.0 §B.1.15), served at `/badges/issuer`."""
    return {
        "@context": CREDENTIAL_CONTEXT,
        "id": issuer_id(base_url),
        "type": ["Profile"],
        "name": ISSUER_NAME,
        "url": f"{_base(base_url)}/",
        "description": "Outil de formation SEXTO (niveau Architecte) pour le personnel scolaire du "
                       "Québec. / SEXTO training tool (Architect level) for Quebec school staff.",
    }


def criteria_narrative(level: Level) -> str:
    cases = len(level.case_ids)
    questions = len(level.reflections)
    return (
        f"Réussir les {cases} cas du niveau Architecte (score d'au moins 80 % et aucune erreur "
        f"critique non résolue), remettre les {questions} réflexions (acceptées par une personne "
        "formatrice lorsque l'organisation prévoit une révision), et faire partie d'une "
        "organisation scolaire d'un territoire dont le corps de police a conclu son entente avec "
        "le DPCP, en vigueur à la date d'attribution.\n\n"
        f"Pass all {cases} cases of the Architect level (a score of at least 80% and no "
        f"unresolved critical error), submit the {questions} reflections (accepted by a trainer "
        "where the organisation has them reviewed), and belong to a school organisation in a "
        "territory whose police force has concluded its agreement with the DPCP, in force on the "
        "award date."
    )


def achievement(level: Level, base_url: str) -> dict[str, Any]:
    """The `Achievement` (OB 3.0 §B.1.1): criteria describe the Architect level; each learning
    objective of content/level.yaml is an alignment, resolvable as a fragment of this URL."""
    url = achievement_id(base_url)
    return {
        "id": url,
        "type": ["Achievement"],
        "achievementType": "Badge",
        "name": ACHIEVEMENT_NAME,
        "description": (f"{level.introduction.fr.split(chr(10))[0]}\n\n"
                        f"{level.introduction.en.split(chr(10))[0]}"),
        "criteria": {"id": f"{url}#criteria", "narrative": criteria_narrative(level)},
        "image": {"id": f"{_base(base_url)}{IMAGE_PATH}", "type": "Image",
                  "caption": f"{ACHIEVEMENT_NAME} / {ACHIEVEMENT_NAME_EN}"},
        "alignment": [
            {
                "type": ["Alignment"],
                "targetName": f"{objective.label.fr} / {objective.label.en}",
                "targetUrl": f"{url}#{objective.id}",
                "targetCode": objective.id,
                "targetType": "ceasn:Competency",
                **({"targetDescription": f"{objective.summary.fr} / {objective.summary.en}"}
                   if objective.summary else {}),
            }
            for objective in level.objectives
        ],
        "inLanguage": "fr-CA",
    }


def _identity(subject: Subject) -> dict[str, Any]:
    salt = secrets.token_hex(16)
    if subject.email:
        value, kind = subject.email.strip().lower(), "emailAddress"
    else:
        value, kind = subject.lti_user_id, "ltiUserId"
    digest = hashlib.sha256((value + salt).encode()).hexdigest()
    return {"type": "IdentityObject", "identityHash": f"sha256${digest}", "identityType": kind,
            "hashed": True, "salt": salt}


def new_credential_id() -> str:
    return str(uuid.uuid4())


def build(*, level: Level, base_url: str, credential_id: str, award_id: int, subject: Subject,
          awarded_at: datetime, narrative: str) -> dict[str, Any]:
    """The unsigned `OpenBadgeCredential` of one award."""
    list_id, index = status_position(award_id)
    status_url = status_list_url(base_url, list_id)
    ach = achievement(level, base_url)
    ach.pop("inLanguage")
    return {
        "@context": CREDENTIAL_CONTEXT,
        "id": f"urn:uuid:{credential_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {k: v for k, v in issuer_profile(base_url).items() if k != "@context"},
        "validFrom": iso(awarded_at),
        "name": ACHIEVEMENT_NAME,
        "credentialSubject": {
            # A fresh identifier, so `sub` names the subject without saying who it is; who it is
            # is the hashed identity below.
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["AchievementSubject"],
            "identifier": [_identity(subject)],
            "achievement": ach,
        },
        "evidence": [{
            "id": evidence_url(base_url, credential_id),
            "type": ["Evidence"],
            "name": "Attestation de développement professionnel / Attestation of professional "
                    "development",
            "narrative": narrative,
        }],
        "credentialStatus": {
            "id": f"{status_url}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index),
            "statusListCredential": status_url,
        },
    }


def jwt_claims(document: dict[str, Any]) -> dict[str, Any]:
    """The VC-JWT payload (OB 3.0 §8.2.4.1): the credential plus the registered claims."""
    valid_from = datetime.fromisoformat(document["validFrom"].replace("Z", "+00:00"))
    claims = {**document, "iss": document["issuer"]["id"] if isinstance(document["issuer"], dict)
              else document["issuer"], "jti": document["id"], "nbf": int(valid_from.timestamp())}
    subject = document.get("credentialSubject", {})
    if isinstance(subject, dict) and subject.get("id"):
        claims["sub"] = subject["id"]
    if document.get("validUntil"):
        claims["exp"] = int(datetime.fromisoformat(
            document["validUntil"].replace("Z", "+00:00")).timestamp())
    return claims


def sign(document: dict[str, Any], private_key: Any, kid_url: str) -> str:
    """Compact JWS (RS256) whose header `kid` resolves to the public JWK."""
    return jwt.encode(jwt_claims(document), private_key, algorithm="RS256",
                      headers={"kid": kid_url, "typ": "JWT"})


def default_narrative() -> str:
    return ("A réussi les trois cas du niveau Architecte et remis ses trois réflexions. / "
            "Passed the three Architect-level cases and submitted the three reflections.")
