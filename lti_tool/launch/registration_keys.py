"""The public JWKS of one registration's own key set: `GET /lti/keys/<key_set>.json`.

A registration with a key set (keys.py, `new_registration_key_set`) gives its platform this URL as
the tool's `jwks_uri` (LTI DR 1.0 §3.5.2, https://www.imsglobal.org/spec/lti-dr/v1p0#tool-configuration),
so what the tool signs for it (client assertions, deep-linking responses) verifies there and
nowhere else. The shared `/.well-known/jwks.json` never lists these keys.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from lti_tool.errors import Bilingual, ToolError
from lti_tool.keys import UnknownKeySet, registration_keys

bp = Blueprint("registration_keys", __name__)


class KeySetNotFound(ToolError):
    status = 404
    code = "unknown_key_set"
    title = Bilingual("Jeu de clés introuvable", "Key set not found")


def key_set_url(base_url: str, key_set: str) -> str:
    """The registration's `jwks_uri`, from `LTI_TOOL_BASE_URL` (never from the Host header)."""
    return f"{base_url.rstrip('/')}/lti/keys/{key_set}.json"


@bp.get("/lti/keys/<key_set>.json")
def registration_jwks(key_set: str) -> Any:
    try:
        store = registration_keys(current_app.extensions["settings"].keys_dir, key_set)
    except UnknownKeySet as exc:
        raise KeySetNotFound(
            Bilingual("Ce jeu de clés n'existe pas dans l'outil.",
                      "This key set does not exist in the tool."),
            hint=Bilingual("Vérifiez l'adresse du jeu de clés inscrite dans la plateforme.",
                           "Check the key set URL recorded in the platform."),
            detail=str(exc),
        ) from exc
    response = jsonify(store.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
