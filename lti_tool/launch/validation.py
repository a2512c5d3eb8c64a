"""The launch validator chain: pylti1p3next's `MessageLaunch.validate()` steps, in the order
state → JWT format → registration → signature → nonce → deployment → message (the library checks
the nonce before the signature; see `validate`), with every step replaced or completed where the
library falls short (LTI.md, "Defects of the library"):

- state signed by the tool (login_state.py, stateless) and bound to the browser by our cookie or
  LTI Platform Storage, not the Flask session;
- nonce consumed atomically (Redis or the database), so a launch never replays;
- registration by (iss, client_id) and `azp` checked when `aud` has several values;
- signature with cached key objects, RS256 only, `exp`/`iat`/`nbf` with a small leeway;
- deployment looked up for that registration, with a page telling the admin what to add;
- message: the library's validators, then `sub` required, version 1.3.0, known message type,
  `target_link_uri` one of ours and the one named at login.
Each refusal is a `LaunchRefused` with a bilingual message; details go to the log.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import requests
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.request import Request
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy.orm import Session

from lti_tool.errors import Bilingual, LaunchRefused
from lti_tool.launch import claims as c
from lti_tool.launch import id_token, login_state
from lti_tool.launch.context import InvalidClaim, check_claim_types
from lti_tool.launch.login_state import LoginState, NonceLedger
from lti_tool.launch.platform_keys import KeySetUnavailable, PlatformKeyCache, UnknownKey
from lti_tool.launch.registry import (
    Registration,
    cached_registration_and_deployment,
    require_active,
)

log = logging.getLogger("lti_tool.launch")

MAX_IAT_AGE = 3600

RELAUNCH = Bilingual("Relancez l'activité depuis votre cours.", "Launch the activity again from your course.")


def refuse(
    code: str,
    fr: str,
    en: str,
    *,
    detail: str = "",
    hint: Bilingual | None = None,
    admin: Bilingual | None = None,
    status: int = 400,
) -> LaunchRefused:
    """A refused launch. `admin` is what only an administrator can do (the exact command): shown
    to instructors, logged with the page's reference; relaunching would not help then."""
    return LaunchRefused(
        Bilingual(fr, en), hint=hint or (None if admin else RELAUNCH), admin=admin,
        detail=detail or en, code=code, status=status,
    )


class StateNotBound(LaunchRefused):
    """The state is genuine but this browser cannot prove it started the login (no cookie: a
    cross-site frame whose third-party cookies are blocked, and no Platform Storage). The refusal
    page offers to restart the login in a new top-level window, where first-party cookies work;
    `login` carries what that needs."""

    def __init__(self, login: LoginState) -> None:
        super().__init__(
            Bilingual(
                "Le navigateur qui termine le lancement n'est pas celui qui l'a commencé "
                "(témoin bloqué ou lancement rejoué).",
                "The browser finishing the launch is not the one that started it "
                "(blocked cookie or replayed launch).",
            ),
            hint=Bilingual(
                "Relancez l'activité; si cela se reproduit, ouvrez-la dans "
                "une nouvelle fenêtre ou autorisez les témoins de l'outil.",
                "Launch the activity again; if it happens again, open it in "
                "a new window or allow the tool's cookies.",
            ),
            detail="state binding missing or different",
            code="state_not_bound",
        )
        self.login = login


class FormRequest(Request):
    """pylti1p3's request interface over the posted form."""

    def __init__(self, params: dict[str, str], secure: bool = True) -> None:
        self._params = params
        self._secure = secure

    @property
    def session(self) -> None:  # the library's session storage is not used
        return None

    def get_param(self, key: str) -> str:
        return self._params.get(key, "")

    def is_secure(self) -> bool:
        return self._secure


class _NoToolConf(ToolConfAbstract[FormRequest]):
    """The library wants a ToolConf; registrations come from `registry` instead (the overridden
    `validate_registration` and `validate_deployment` below never consult it)."""

    def _unused(self, *_args: Any, **_kwargs: Any) -> Any:
        raise NotImplementedError("registrations come from lti_tool.launch.registry")

    find_registration_by_issuer = find_registration_by_params = _unused
    find_deployment = find_deployment_by_params = _unused


class _Unused:
    """Placeholder for the library's session/cookie services, which this chain replaces."""


@dataclass
class LaunchDeps:
    session: Session
    secret_key: str
    nonces: NonceLedger
    keys: PlatformKeyCache
    http: requests.Session
    tool_base_url: str
    leeway: int
    # Whether this browser is the one that logged in (the login cookie, or the secret read back
    # from Platform Storage): given the state and its login, says yes or no.
    browser_bound: Callable[[str, LoginState], bool]


class ToolMessageLaunch(MessageLaunch):
    registration: Registration
    deployment_pk: int
    login: LoginState

    def __init__(self, params: dict[str, str], deps: LaunchDeps) -> None:
        super().__init__(
            FormRequest(params),
            _NoToolConf(),
            session_service=_Unused(),
            cookie_service=_Unused(),
            requests_session=deps.http,
        )
        self.deps = deps
        self.params = params

    def _get_request_param(self, key: str) -> str:
        return self.params.get(key, "")

    # -- 6. state bound to this browser --------------------------------------------------------
    def validate_state(self) -> ToolMessageLaunch:
        state = self.params.get("state", "")
        if not state:
            raise refuse(
                "missing_state",
                "La réponse de la plateforme ne contient pas de « state ».",
                "The platform's answer carries no state.",
            )
        login = login_state.read(self.deps.secret_key, state)
        if login is None:
            raise refuse(
                "unknown_state",
                "Cette connexion est inconnue ou expirée.",
                "This login is unknown or has expired.",
                detail=f"state not signed by the tool, or expired: {state[:12]}…",
            )
        if not self.deps.browser_bound(state, login):
            raise StateNotBound(login)
        self.login = login
        return self

    # -- JWT format ----------------------------------------------------------------------------
    def validate_jwt_format(self) -> ToolMessageLaunch:
        try:
            parsed = id_token.parse(self.params.get("id_token", ""))
        except id_token.TokenFormatError as exc:
            raise refuse(
                "bad_jwt",
                "Le jeton de lancement (id_token) est illisible.",
                "The launch token (id_token) cannot be read.",
                detail=str(exc),
            ) from exc
        self.parsed = parsed
        self._jwt = cast(Any, {"header": parsed.header, "body": parsed.body})
        return self

    # -- 5. nonce issued for this login, consumed once -----------------------------------------
    def validate_nonce(self) -> ToolMessageLaunch:
        nonce = self._jwt["body"].get("nonce")
        if not nonce or not isinstance(nonce, str):
            raise refuse(
                "missing_nonce",
                "Le jeton de lancement n'a pas de « nonce ».",
                "The launch token has no nonce.",
            )
        if not hmac.compare_digest(self.login.nonce, nonce):
            raise refuse(
                "nonce_mismatch",
                "Le jeton de lancement ne correspond pas à cette connexion.",
                "The launch token does not belong to this login.",
                detail="nonce differs from the one issued at login",
            )
        # Atomic across workers and hosts: of two launches with this nonce, one write passes.
        if not self.deps.nonces.consume(nonce, self.login.expires_at):
            raise refuse(
                "nonce_used",
                "Ce lancement a déjà été utilisé.",
                "This launch has already been used.",
                detail="nonce already consumed",
            )
        return self

    # -- 2, 3. registration by (iss, client_id); aud and azp -----------------------------------
    def validate_registration(self) -> ToolMessageLaunch:
        body = self._jwt["body"]
        iss = body.get("iss")
        aud = body.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        client_id = self.login.client_id
        if not isinstance(iss, str) or iss != self.login.iss:
            raise refuse(
                "wrong_issuer",
                "L'émetteur du jeton n'est pas la plateforme de la connexion.",
                "The token's issuer is not the platform of the login.",
                detail=f"iss {iss!r} != login iss {self.login.iss!r}",
            )
        if client_id not in auds:
            raise refuse(
                "wrong_audience",
                "Ce jeton n'est pas destiné à cet outil.",
                "This token is not meant for this tool.",
                detail=f"aud {aud!r} does not contain client_id {client_id!r}",
            )
        if len(auds) > 1 and body.get("azp") != client_id:
            raise refuse(
                "wrong_azp",
                "Ce jeton n'est pas destiné à cet outil.",
                "This token is not meant for this tool.",
                detail=f"several audiences and azp {body.get('azp')!r} != {client_id!r}",
            )
        deployment_id = body.get(c.DEPLOYMENT_ID)
        registration, self.deployment_pk_found = cached_registration_and_deployment(
            self.deps.session, iss, client_id, deployment_id if isinstance(deployment_id, str) else None
        )
        if registration is None or registration.id != self.login.platform_id:
            raise refuse(
                "unknown_registration",
                "Cette plateforme n'est plus inscrite dans l'outil.",
                "This platform is no longer registered with the tool.",
                admin=Bilingual(
                    "Administrateur : inscrivez-la avec « lti-tool platform add ».",
                    "Administrator: register it with `lti-tool platform add`.",
                ),
                detail=f"no registration for ({iss}, {client_id})",
            )
        require_active(registration)  # a pending registration launches nothing
        self.registration = registration
        self._registration = None  # the library's Registration object is not used
        return self

    # -- 1, 4. signature and times --------------------------------------------------------------
    def validate_jwt_signature(self) -> ToolMessageLaunch:
        try:
            kid = id_token.check_header(self.parsed.header)
            key = self.deps.keys.get(self.registration.jwks_url, kid)
            id_token.verify_signature(key, self.parsed)
        except (id_token.TokenSignatureError, UnknownKey) as exc:
            raise refuse(
                "bad_signature",
                "La signature du jeton de lancement est invalide.",
                "The launch token's signature is not valid.",
                detail=str(exc),
            ) from exc
        except KeySetUnavailable as exc:
            raise refuse(
                "platform_keys_unavailable",
                "Les clés publiques de la plateforme sont inaccessibles.",
                "The platform's public keys cannot be fetched.",
                admin=Bilingual(
                    "Administrateur : vérifiez l'URL du jeu de clés (JWKS) inscrite.",
                    "Administrator: check the registered key set (JWKS) URL.",
                ),
                detail=str(exc),
                status=400,
            ) from exc
        try:
            id_token.check_times(self.parsed.body, leeway=self.deps.leeway, max_age=MAX_IAT_AGE)
        except id_token.TokenTimeError as exc:
            raise refuse(
                "bad_time",
                "Le jeton de lancement est expiré ou daté de façon invalide.",
                "The launch token has expired or carries invalid dates.",
                hint=Bilingual(
                    "Relancez l'activité. Si cela persiste, vérifiez l'horloge du serveur de la plateforme.",
                    "Launch again. If it persists, check the platform server's clock.",
                ),
                detail=str(exc),
            ) from exc
        return self

    # -- 7. deployment --------------------------------------------------------------------------
    def validate_deployment(self) -> ToolMessageLaunch:
        deployment_id = self._jwt["body"].get(c.DEPLOYMENT_ID)
        if not deployment_id or not isinstance(deployment_id, str):
            raise refuse(
                "missing_deployment",
                "Le jeton de lancement n'indique aucun déploiement.",
                "The launch token names no deployment.",
            )
        pk = self.deployment_pk_found  # looked up with the registration, in the same query
        if pk is None:
            reg = self.registration
            command = (
                f"lti-tool platform add --issuer {reg.issuer} --client-id {reg.client_id} "
                f"--auth-url {reg.auth_url} --token-url {reg.token_url} "
                f"--jwks-url {reg.jwks_url} --deployment-id {deployment_id}"
            )
            raise refuse(
                "unknown_deployment",
                f"Le déploiement « {deployment_id} » n'est pas inscrit pour cette plateforme.",
                f"Deployment \u201c{deployment_id}\u201d is not registered for this platform.",
                admin=Bilingual(
                    f"Administrateur de l'outil : exécutez {command}",
                    f"Tool administrator: run {command}",
                ),
                detail=f"unknown deployment {deployment_id!r} for registration {reg.id}",
                status=403,
            )
        self.deployment_pk = pk
        return self

    # -- 8, 9. message ---------------------------------------------------------------------------
    def validate_message(self) -> ToolMessageLaunch:
        body = self._jwt["body"]
        try:
            check_claim_types(body)
        except InvalidClaim as exc:
            raise refuse(
                "bad_claim",
                "Le jeton de lancement contient une donnée d'un type invalide.",
                "The launch token carries a claim of the wrong type.",
                hint=Bilingual(
                    "Relancez l'activité. Si cela persiste, signalez-le à l'administrateur de la "
                    "plateforme\u00a0: elle envoie des données non conformes à LTI\u00a01.3.",
                    "Launch again. If it persists, tell the platform's administrator: it sends "
                    "data that does not conform to LTI 1.3.",
                ),
                detail=str(exc),
            ) from exc
        message_type = body.get(c.MESSAGE_TYPE)
        if message_type not in c.KNOWN_MESSAGE_TYPES:
            raise refuse(
                "bad_message_type",
                "Ce type de message LTI n'est pas pris en charge.",
                "This LTI message type is not supported.",
                detail=f"message_type {message_type!r}",
            )
        if body.get(c.VERSION) != "1.3.0":
            raise refuse(
                "bad_version",
                "Ce lancement n'est pas un lancement LTI 1.3.",
                "This launch is not an LTI 1.3 launch.",
                detail=f"version {body.get(c.VERSION)!r}",
            )
        if not body.get("sub") or not isinstance(body.get("sub"), str):
            raise refuse(
                "anonymous",
                "Le lancement ne dit pas qui vous êtes : l'outil a besoin d'un identifiant "
                "d'utilisateur pour conserver vos réponses.",
                "The launch does not say who you are: the tool needs a user identifier to keep your answers.",
                admin=Bilingual(
                    "Administrateur : l'outil ne peut pas être lancé anonymement.",
                    "Administrator: the tool cannot be launched anonymously.",
                ),
            )
        if not isinstance(body.get(c.ROLES), list):
            raise refuse(
                "missing_roles",
                "Le lancement n'indique pas vos rôles.",
                "The launch does not carry your roles.",
                detail="roles claim missing",
            )
        try:
            super().validate_message()
        except LtiException as exc:
            raise refuse(
                "invalid_message",
                "Le message de lancement est incomplet.",
                "The launch message is incomplete.",
                detail=str(exc),
            ) from exc
        target = body.get(c.TARGET_LINK_URI)
        if not isinstance(target, str) or not _is_ours(target, self.deps.tool_base_url):
            raise refuse(
                "foreign_target",
                "Ce lancement vise une autre application.",
                "This launch targets another application.",
                detail=f"target_link_uri {target!r}",
            )
        login_target = self.login.target_link_uri
        if login_target and target != login_target:
            raise refuse(
                "target_mismatch",
                "Le lien lancé ne correspond pas à celui demandé à la connexion.",
                "The launched link does not match the one requested at login.",
                detail=f"{target!r} != login {login_target!r}",
            )
        return self

    def validate(self) -> ToolMessageLaunch:
        """The library's chain, with the signature checked before the nonce is used up: a forged
        token cannot burn a real login, and no database write (SQLite holds its write lock until
        commit) waits on a platform's slow JWKS download, which would stall other tenants."""
        self._validated = True
        try:
            return (
                self.validate_state()
                .validate_jwt_format()
                .validate_registration()
                .validate_jwt_signature()
                .validate_nonce()
                .validate_deployment()
                .validate_message()
                .save_launch_data()
            )
        except Exception:
            self._validated = False
            raise

    def save_launch_data(self) -> ToolMessageLaunch:
        # Stored by `services.record_launch` in the request's transaction instead of the session.
        return self

    def validated_body(self) -> dict[str, Any]:
        self.validate()
        return cast(dict[str, Any], self._jwt["body"])


def _is_ours(url: str, base_url: str) -> bool:
    return url == base_url or url.startswith(base_url.rstrip("/") + "/")
