"""The one normalised launch object. Nothing outside `launch/` reads raw claims.

Roles are decided from the course membership first (Canvas sends institution roles beside course
roles: an institution "Instructor" taking a course as a learner is a learner there; LTI.md). Short
role names (`Instructor`) are accepted as the spec allows; unknown roles and no role give the least
privilege: learner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from lti_tool.launch import claims as c

Role = Literal["instructor", "learner"]

# -- claim types ------------------------------------------------------------------------------------
# Every claim the tool reads, with the JSON type LTI 1.3 (§5.1, §5.3, §5.4), AGS 2.0 §3.1, NRPS 2.0
# §3.6 and Deep Linking 2.0 §4.4.1 give it. A claim of another type is refused here, once, before
# anything (the library's validators included) reads it: a platform bug or a forged token must
# get a clear 400, not a 500 from `"x".get("id")` deep in a view.
STR, LIST_OF_STR, OBJECT, NUMBER = "string", "list of strings", "object", "number"
# Deep Linking's flags are booleans; some platforms send "true"/"false" (read as such downstream).
BOOL = "boolean"
_TOP_LEVEL: dict[str, str] = {
    "iss": STR, "sub": STR, "nonce": STR, "azp": STR,
    "name": STR, "given_name": STR, "family_name": STR, "middle_name": STR, "email": STR,
    "locale": STR, "picture": STR,
    c.MESSAGE_TYPE: STR, c.VERSION: STR, c.DEPLOYMENT_ID: STR, c.TARGET_LINK_URI: STR,
    c.ROLES: LIST_OF_STR, c.CONTEXT: OBJECT, c.RESOURCE_LINK: OBJECT, c.CUSTOM: OBJECT,
    c.LAUNCH_PRESENTATION: OBJECT, c.AGS: OBJECT, c.NRPS: OBJECT, c.DL_SETTINGS: OBJECT,
    c.LTI + "tool_platform": OBJECT, c.LTI + "lis": OBJECT,
    c.LTI + "role_scope_mentor": LIST_OF_STR,
}
_MEMBERS: dict[str, dict[str, str]] = {
    c.CONTEXT: {"id": STR, "label": STR, "title": STR, "type": LIST_OF_STR},
    c.RESOURCE_LINK: {"id": STR, "title": STR, "description": STR},
    c.LAUNCH_PRESENTATION: {"document_target": STR, "return_url": STR, "locale": STR,
                            "height": NUMBER, "width": NUMBER},
    c.AGS: {"scope": LIST_OF_STR, "lineitem": STR, "lineitems": STR},
    c.NRPS: {"context_memberships_url": STR, "service_versions": LIST_OF_STR},
    c.DL_SETTINGS: {"deep_link_return_url": STR, "accept_types": LIST_OF_STR,
                    "accept_presentation_document_targets": LIST_OF_STR,
                    "accept_media_types": STR, "accept_multiple": BOOL, "accept_lineitem": BOOL,
                    "auto_create": BOOL, "title": STR, "text": STR, "data": STR},
    c.LTI + "tool_platform": {"guid": STR, "name": STR, "version": STR,
                              "product_family_code": STR, "url": STR, "contact_email": STR,
                              "description": STR},
}
# Custom parameters are strings in LTI 1.3 (§5.4.6); platforms also send numbers and booleans.
_CUSTOM_SCALARS = (str, int, float, bool)


class InvalidClaim(ValueError):
    """A claim is present with the wrong JSON type; the message names it (for the log)."""


def _is(value: Any, kind: str) -> bool:
    if kind == STR:
        return isinstance(value, str)
    if kind == LIST_OF_STR:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == OBJECT:
        return isinstance(value, dict)
    if kind == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, bool) or value in ("true", "false")


def check_claim_types(body: Mapping[str, Any]) -> None:
    """Raise `InvalidClaim` for the first claim (or member of a claim) of the wrong type.
    Absent claims and `null` are left to the checks that require them."""
    for claim, kind in _TOP_LEVEL.items():
        value = body.get(claim)
        if value is None:
            continue
        if not _is(value, kind):
            raise InvalidClaim(f"{claim} must be a {kind}, not {type(value).__name__}")
        for member, member_kind in _MEMBERS.get(claim, {}).items():
            inner = value.get(member)
            if inner is not None and not _is(inner, member_kind):
                raise InvalidClaim(
                    f"{claim} {member} must be a {member_kind}, not {type(inner).__name__}"
                )
    aud = body.get("aud")
    if not (isinstance(aud, str) or _is(aud, LIST_OF_STR)):
        raise InvalidClaim("aud must be a string or a list of strings")
    for name, value in (body.get(c.CUSTOM) or {}).items():
        if value is not None and not isinstance(value, _CUSTOM_SCALARS):
            raise InvalidClaim(f"custom parameter {name!r} must be a string, number or boolean")
_TEACHING = ("Instructor", "ContentDeveloper", "TeachingAssistant", "Administrator")
_INSTITUTION_TEACHING = ("Instructor", "Faculty", "Administrator")


def _role_name(uri: str, prefix: str) -> str | None:
    if uri.startswith(prefix):
        return uri[len(prefix) :].split("#")[-1].split("/")[0]
    return None


def decide_role(roles: list[str] | tuple[str, ...]) -> Role:
    membership: list[str] = []
    institution: list[str] = []
    for uri in roles:
        if not isinstance(uri, str):
            continue
        name = _role_name(uri, c.MEMBERSHIP)
        if name is not None:
            membership.append(name)
        elif "/" not in uri and "#" not in uri:
            membership.append(uri)  # short form is a context role (LTI 1.3 §A.2.3.1)
        else:
            inst = _role_name(uri, c.INSTITUTION)
            if inst is not None:
                institution.append(inst)
    if membership:
        return "instructor" if any(r in _TEACHING for r in membership) else "learner"
    if institution and any(r in _INSTITUTION_TEACHING for r in institution):
        # Only institution roles (no course role): an institution-wide instructor launching
        # outside a course context, e.g. from an admin page.
        return "instructor"
    return "learner"


def normalise_locale(value: str | None) -> str:
    """fr, fr-CA, fr_CA → fr; en-* → en; anything else → fr (the users are Quebec staff)."""
    if value and value.lower().replace("_", "-").startswith("en"):
        return "en"
    return "fr"


@dataclass(frozen=True)
class LaunchContext:
    launch_id: str
    message_type: str
    platform_id: int
    platform_family: str
    issuer: str
    client_id: str
    deployment_id: str
    deployment_pk: int
    sub: str
    role: Role
    roles: tuple[str, ...]
    locale: str
    name: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    context_id: str | None
    context_title: str | None
    context_label: str | None
    resource_link_id: str | None
    resource_link_title: str | None
    target_link_uri: str
    custom: Mapping[str, Any]
    ags_lineitem: str | None
    ags_lineitems: str | None
    ags_scopes: tuple[str, ...]
    nrps_url: str | None
    return_url: str | None
    deep_linking: Mapping[str, Any] | None

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"

    @property
    def display_name(self) -> str:
        return self.name or " ".join(p for p in (self.given_name, self.family_name) if p) or ""

    @classmethod
    def from_claims(
        cls,
        body: Mapping[str, Any],
        *,
        launch_id: str,
        platform_id: int,
        platform_family: str,
        client_id: str,
        deployment_pk: int,
    ) -> LaunchContext:
        check_claim_types(body)
        roles = tuple(body.get(c.ROLES) or ())
        context = body.get(c.CONTEXT) or {}
        link = body.get(c.RESOURCE_LINK) or {}
        presentation = body.get(c.LAUNCH_PRESENTATION) or {}
        ags = body.get(c.AGS) or {}
        nrps = body.get(c.NRPS) or {}
        dl = body.get(c.DL_SETTINGS)
        custom = body.get(c.CUSTOM) or {}
        return cls(
            launch_id=launch_id,
            message_type=body[c.MESSAGE_TYPE],
            platform_id=platform_id,
            platform_family=platform_family,
            issuer=body["iss"],
            client_id=client_id,
            deployment_id=body[c.DEPLOYMENT_ID],
            deployment_pk=deployment_pk,
            sub=str(body["sub"]),
            role=decide_role(roles),
            roles=roles,
            locale=normalise_locale(presentation.get("locale") or body.get("locale")),
            name=body.get("name"),
            given_name=body.get("given_name"),
            family_name=body.get("family_name"),
            email=body.get("email"),
            context_id=context.get("id"),
            context_title=context.get("title"),
            context_label=context.get("label"),
            resource_link_id=link.get("id"),
            resource_link_title=link.get("title"),
            target_link_uri=body.get(c.TARGET_LINK_URI, ""),
            custom=MappingProxyType(dict(custom)),
            ags_lineitem=ags.get("lineitem"),
            ags_lineitems=ags.get("lineitems"),
            ags_scopes=tuple(ags.get("scope") or ()),
            nrps_url=nrps.get("context_memberships_url"),
            return_url=presentation.get("return_url"),
            deep_linking=MappingProxyType(dict(dl)) if dl is not None else None,
        )
