"""The embedded Open Badges 3.0 issuer, checked by independent verifiers (issue 8, "Tests that must
exist"): `openbadgeslib` (PyPI) verifies the VC-JWT, its status list and the baked PNG; `joserfc`
checks the JWS against the JWK fetched from `/badges/keys/<kid>`; the test decodes the Bitstring
Status List itself. The tool's own verification code is never used to judge.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import stat
import struct
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey
from openbadgeslib.ob3.verifier import OB3VerificationError, OB3Verifier

from lti_tool.badges.embedded import NoCredential, credential_of
from lti_tool.cases.loader import get_level
from lti_tool.db import get_session
from lti_tool.models import Award
from tests.badges.embedded_support import EMAIL, NAME, REFLECTION, issue_badge, revoke
from tests.conftest import TOOL_URL


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    return json.loads(_b64url(header)), json.loads(_b64url(payload))


def _fetch(client):  # type: ignore[no-untyped-def]
    """The verifier's HTTP fetch, answered by the tool through the test client (https://tool.test)."""
    def download(url: str) -> bytes:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == TOOL_URL, url
        response = client.get(parts.path)
        assert response.status_code == 200, (url, response.status_code)
        return response.data
    return download


def _published_jwk(client, token: str) -> dict:  # type: ignore[no-untyped-def]
    kid_url = _parts(token)[0]["kid"]
    assert kid_url.startswith(f"{TOOL_URL}/badges/keys/")
    response = client.get(urlsplit(kid_url).path)
    assert response.status_code == 200
    assert response.mimetype == "application/jwk+json"
    jwk = response.get_json()
    assert set(jwk) >= {"kty", "n", "e", "kid"} and "d" not in jwk and "p" not in jwk
    return jwk


def _pem(jwk: dict) -> bytes:
    key = RSAKey.import_key(jwk).public_key
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _ob3_verify(client, token: str):  # type: ignore[no-untyped-def]
    verifier = OB3Verifier(pubkey_pem=_pem(_published_jwk(client, token)))
    return verifier.verify(token, check_status=True, verify_status_list=True,
                           download=_fetch(client))


def _status_bit(client, token: str) -> bool:
    """Read the credential's revocation bit ourselves: fetch the list, check its JWS, inflate."""
    _, payload = _parts(token)
    entry = payload["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "revocation"
    response = client.get(urlsplit(entry["statusListCredential"]).path)
    assert response.status_code == 200
    listed = response.get_data(as_text=True)
    jwk = _published_jwk(client, listed)
    verified = jws.deserialize_compact(listed, RSAKey.import_key(jwk), algorithms=["RS256"])
    status_vc = json.loads(verified.payload)
    assert "BitstringStatusListCredential" in status_vc["type"]
    assert status_vc["issuer"] == payload["issuer"]["id"]
    encoded = status_vc["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")  # multibase base64url
    bits = gzip.decompress(_b64url(encoded[1:]))
    assert len(bits) * 8 >= 131_072
    index = int(entry["statusListIndex"])
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def _png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data), f"bad CRC in {kind!r}"
        chunks.append((kind, data))
        pos += 12 + length
    return chunks


# -- the credential ----------------------------------------------------------------------------------
def test_credential_verifies_with_openbadgeslib_and_joserfc(app, client) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)

    credential = _ob3_verify(client, issued.token)
    assert credential.issuer.id == f"{TOOL_URL}/badges/issuer"
    assert credential.achievement.id == f"{TOOL_URL}/badges/achievements/architecte"
    assert "Architecte" in credential.achievement.name
    assert "80" in credential.achievement.criteria_narrative
    objectives = get_level(app.extensions["settings"].content_dir).objectives
    assert [a.target_url.rsplit("#", 1)[1] for a in credential.achievement.alignments] == \
        [o.id for o in objectives]  # every learning objective of content/level.yaml

    jwk = _published_jwk(client, issued.token)
    verified = jws.deserialize_compact(issued.token, RSAKey.import_key(jwk), algorithms=["RS256"])
    header, payload = verified.headers(), json.loads(verified.payload)
    assert header["alg"] == "RS256" and header["kid"] == f"{TOOL_URL}/badges/keys/{jwk['kid']}"
    assert payload["@context"][:2] == ["https://www.w3.org/ns/credentials/v2",
                                       "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert payload["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert payload["id"] == payload["jti"] == f"urn:uuid:{issued.credential_id}"
    assert payload["iss"] == payload["issuer"]["id"]
    assert payload["sub"] == payload["credentialSubject"]["id"]
    assert isinstance(payload["nbf"], int) and payload["validFrom"].endswith("Z")
    subject = payload["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    achievement = subject["achievement"]
    assert {"id", "type", "criteria", "description", "name"} <= set(achievement)
    # Privacy: the email only as a salted hash; the evidence a URL and a narrative.
    identity = subject["identifier"][0]
    assert identity["hashed"] is True and identity["identityType"] == "emailAddress"
    import hashlib
    assert identity["identityHash"] == "sha256$" + hashlib.sha256(
        (EMAIL + identity["salt"]).encode()).hexdigest()
    raw = json.dumps(payload, ensure_ascii=False)
    assert EMAIL not in raw and NAME not in raw and REFLECTION not in raw
    assert payload["evidence"][0]["id"] == f"{TOOL_URL}/badges/evidence/{issued.credential_id}"
    assert payload["evidence"][0]["narrative"]

    # The stable URLs answer the same documents the credential names.
    issuer = client.get("/badges/issuer").get_json()
    assert issuer["id"] == payload["issuer"]["id"] and issuer["type"] == ["Profile"]
    published = client.get("/badges/achievements/architecte").get_json()
    assert published["id"] == achievement["id"] and published["criteria"] == achievement["criteria"]
    assert [a["targetUrl"] for a in published["alignment"]] == \
        [a["targetUrl"] for a in achievement["alignment"]]
    assert client.get("/badges/achievements/explorateur").status_code == 404
    with client.get(urlsplit(achievement["image"]["id"]).path) as image:
        assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_tampered_credential_is_refused(app, client) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)
    header, payload, signature = issued.token.split(".")
    claims = json.loads(_b64url(payload))
    claims["credentialSubject"]["achievement"]["name"] = "Maître absolu"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{header}.{forged_payload}.{signature}"

    jwk = _published_jwk(client, issued.token)
    with pytest.raises(OB3VerificationError, match="(?i)signature"):
        OB3Verifier(pubkey_pem=_pem(jwk)).verify(tampered)
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(tampered, RSAKey.import_key(jwk), algorithms=["RS256"])

    # Signed by another key under the tool's kid: refused too.
    stranger = RSAKey.generate_key(2048)
    forged = jws.serialize_compact({"alg": "RS256", "kid": _parts(issued.token)[0]["kid"]},
                                   json.dumps(claims).encode(), stranger, algorithms=["RS256"])
    with pytest.raises(OB3VerificationError):
        OB3Verifier(pubkey_pem=_pem(jwk)).verify(forged)
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(forged, RSAKey.import_key(jwk), algorithms=["RS256"])
    # And the verification page of the real credential is unaffected by the forgeries.
    assert b'data-state="valid"' in client.get(f"/badges/verify/{issued.credential_id}").data


def test_revoked_credential_is_refused_through_the_status_list(app, client) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)
    other = issue_badge(app, sub="learner-2", email="autre@example.org", name="Autre")
    assert _status_bit(client, issued.token) is False
    _ob3_verify(client, issued.token)

    revoke(app, issued.award_id)

    assert _status_bit(client, issued.token) is True
    with pytest.raises(OB3VerificationError, match="revocation"):
        _ob3_verify(client, issued.token)
    # Only that one: the other learner's badge still verifies.
    assert _status_bit(client, other.token) is False
    _ob3_verify(client, other.token)


def test_status_list_is_signed_and_bounded(app, client) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)
    response = client.get("/badges/status/1")
    assert response.status_code == 200 and response.mimetype == "application/vc+jwt"
    _, payload = _parts(response.get_data(as_text=True))
    assert payload["validUntil"] > payload["validFrom"] and payload["exp"] > payload["nbf"]
    assert _status_bit(client, issued.token) is False
    assert client.get("/badges/status/0").status_code == 404
    assert client.get("/badges/status/nope").status_code == 404


def test_baked_png_round_trips(app, client) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)
    response = client.get(f"/badges/verify/{issued.credential_id}/badge.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "attachment" in response.headers["Content-Disposition"]
    png = response.data

    chunks = _png_chunks(png)
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    baked = [data for kind, data in chunks if kind == b"iTXt"
             and data.split(b"\x00", 1)[0] == b"openbadgecredential"]
    assert len(baked) == 1
    keyword, rest = baked[0].split(b"\x00", 1)
    compression_flag, compression_method = rest[0], rest[1]
    language, rest = rest[2:].split(b"\x00", 1)
    translated, text = rest.split(b"\x00", 1)
    assert (compression_flag, compression_method, language, translated) == (0, 0, b"", b"")
    assert text.decode() == issued.token

    extracted = OB3Verifier.extract_token_from_png(png)
    assert extracted == issued.token
    _ob3_verify(client, extracted)

    revoke(app, issued.award_id)
    assert client.get(f"/badges/verify/{issued.credential_id}/badge.png").status_code == 404


# -- the verification page -----------------------------------------------------------------------------
@pytest.mark.parametrize("lang, valid, revoked", [
    ("fr", "Ce badge est valide.", "Ce badge a été révoqué."),
    ("en", "This badge is valid.", "This badge has been revoked."),
])
def test_verification_page_in_both_languages(app, client, lang, valid, revoked) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)
    url = f"/badges/verify/{issued.credential_id}?lang={lang}"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert f'lang="{lang}"' in page and valid in page and NAME in page
    assert EMAIL not in page and REFLECTION not in page
    assert ("Architecte" if lang == "fr" else "Architect") in page
    assert f"/badges/verify/{issued.credential_id}/badge.png" in page
    linkedin = next(part.split('"')[0] for part in page.split('href="')[1:]
                    if part.startswith("https://www.linkedin.com/profile/add"))
    query = parse_qs(urlsplit(linkedin.replace("&amp;", "&")).query)
    assert query["startTask"] == ["CERTIFICATION_NAME"]
    assert query["certUrl"] == [f"{TOOL_URL}/badges/verify/{issued.credential_id}"]
    assert query["certId"] == [issued.credential_id] and query["issueYear"][0].isdigit()
    other = "en" if lang == "fr" else "fr"
    assert f"lang={other}" in page  # the switch to the other language

    revoke(app, issued.award_id)
    page = client.get(url).get_data(as_text=True)
    assert revoked in page and valid not in page
    assert "badge.png" not in page and "linkedin.com" not in page


def test_unknown_or_malformed_credential_ids_are_404(app, client) -> None:  # type: ignore[no-untyped-def]
    issue_badge(app)
    for path in ("/badges/verify/6b1f3c1e-0000-4000-8000-000000000000", "/badges/verify/1",
                 "/badges/verify/..%2F..%2Fetc", "/badges/verify/1/badge.png",
                 "/badges/keys/not-a-kid", "/badges/keys/" + "A" * 43):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Badge introuvable" in response.get_data(as_text=True) or response.status_code == 404


def test_evidence_url_is_access_controlled(app, client) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)
    response = client.get(f"/badges/evidence/{issued.credential_id}")
    assert 400 <= response.status_code < 500
    assert "Location" not in response.headers
    assert REFLECTION not in response.get_data(as_text=True)


# -- the operator's command and the key files ---------------------------------------------------------
def test_credential_of_prints_the_awards_vc_jwt(app) -> None:  # type: ignore[no-untyped-def]
    issued = issue_badge(app)
    with app.test_request_context():
        session = get_session()
        assert credential_of(session, issued.award_id) == issued.token
        with pytest.raises(NoCredential):
            credential_of(session, issued.award_id + 1000)
        other = Award(learner_id=issued.learner_id, achievement="autre", issuer="badgr",
                      status="awarded")
        session.add(other)
        session.flush()
        with pytest.raises(NoCredential, match="badgr"):
            credential_of(session, other.id)
        session.rollback()


def test_awards_show_credential_command(app) -> None:  # type: ignore[no-untyped-def]
    from lti_tool.cli import awards_commands

    issued = issue_badge(app)
    runner = app.test_cli_runner()
    result = runner.invoke(awards_commands, ["show", str(issued.award_id), "--credential"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == issued.token
    result = runner.invoke(awards_commands, ["show", str(issued.award_id + 1000), "--credential"])
    assert result.exit_code != 0 and "no award" in result.output
    result = runner.invoke(awards_commands, ["show", str(issued.award_id)])
    assert result.exit_code == 0 and f"/badges/verify/{issued.credential_id}" in result.output


def test_badge_keys_are_private_files(app, settings) -> None:  # type: ignore[no-untyped-def]
    issue_badge(app)
    folder = Path(settings.keys_dir) / "badges"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    pems = list(folder.glob("*.pem"))
    assert pems
    for pem in pems:
        assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
