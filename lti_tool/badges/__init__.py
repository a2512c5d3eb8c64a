"""Badges and the attestation of professional development (issue 8; ../shared/docs/BADGES.md)."""
