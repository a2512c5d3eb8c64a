"""Test support: serve WSGI apps on loopback, and drive an LTI launch without a browser.

`run_platform(settings)` serves the demo LMS on 127.0.0.1 with an ephemeral port (the settings'
`base_url` is replaced by the real one) and yields its base URL. `serve_app(factory)` does the
same for any app whose configuration needs its own URL (the tool, a fake tool).

`LaunchDriver` plays the browser with a `requests.Session`: it asks the demo LMS for a launch,
follows the OIDC login initiation to the tool, the tool's redirect to the platform's
authentication endpoint, and POSTs the auto-submitted id_token form to the tool. It keeps the
id_token and state so a test can replay them. Like a browser, its session sends `Secure` cookies
to http://127.0.0.1 and http://localhost (browsers treat loopback as a secure context).

    with run_platform(DemoSettings(base_url="http://127.0.0.1:0", tool_base_url=tool_url,
                                   keys_dir=tmp_path / "keys", storage_target=None)) as lms_url:
        with LaunchDriver(lms_url) as browser:
            trace = browser.launch("learner")
            assert trace.response.status_code == 200
            again = browser.replay(trace)          # same id_token + state: must be refused
"""

from __future__ import annotations

import dataclasses
import html.parser
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any
from urllib.request import Request as UrllibRequest

import jwt
import requests
from requests.cookies import RequestsCookieJar
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from lti_tool.demo import DemoSettings, create_demo_lms

WSGIApp = Callable[..., Any]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


# -- serving -----------------------------------------------------------------------------------
class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Deferred:
    """The WSGI app, built once the server's port (hence the app's own URL) is known."""

    app: WSGIApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@contextmanager
def serve_app(factory: Callable[[str], WSGIApp], host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `factory(base_url)` on `host` with an ephemeral port, threaded, in the background."""
    deferred = _Deferred()
    server: BaseWSGIServer = make_server(
        host, 0, deferred, threaded=True, request_handler=_QuietHandler
    )
    base_url = f"http://{host}:{server.server_port}"
    try:
        deferred.app = factory(base_url)
    except BaseException:
        server.server_close()
        raise
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"wsgi-{base_url}",
        daemon=True,
    )
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def run_platform(settings: DemoSettings) -> Iterator[str]:
    """Serve the demo LMS for `settings` (its base_url replaced by the served one)."""
    with serve_app(lambda url: create_demo_lms(dataclasses.replace(settings, base_url=url))) as url:
        yield url


# -- the browser -------------------------------------------------------------------------------
class LoopbackSecureCookiePolicy(DefaultCookiePolicy):
    """Send `Secure` cookies over plain http to loopback hosts, as browsers do."""

    def return_ok_secure(self, cookie: Cookie, request: UrllibRequest) -> bool:
        host = urllib.parse.urlsplit(request.get_full_url()).hostname or ""
        if cookie.secure and host in LOOPBACK_HOSTS:
            return True
        return bool(super().return_ok_secure(cookie, request))


class BrowserSession(requests.Session):
    """A requests Session that sends cookies as a browser would on loopback.

    requests builds each request's cookie jar afresh with the default policy, so the policy is
    applied again here (redirects copy the jar, policy included).
    """

    def __init__(self) -> None:
        super().__init__()
        self.cookies.set_policy(LoopbackSecureCookiePolicy())
        self.headers["User-Agent"] = "sexto-tests-launch-driver/1.0 (plays a browser)"

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        jar = RequestsCookieJar()
        jar.set_policy(self.cookies.get_policy())
        merged = getattr(prepared, "_cookies", None)  # the jar requests merged for this request
        if merged is not None:
            jar.update(merged)
        prepared.headers.pop("Cookie", None)
        prepared.prepare_cookies(jar)
        return prepared


def browser_session() -> BrowserSession:
    return BrowserSession()


@dataclass
class HtmlForm:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[HtmlForm] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                HtmlForm(action=a.get("action", ""), method=a.get("method", "get").lower())
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")


def parse_forms(page: str, base_url: str) -> list[HtmlForm]:
    """The forms of an HTML page, with absolute actions."""
    parser = _FormParser()
    parser.feed(page)
    for form in parser.forms:
        form.action = urllib.parse.urljoin(base_url, form.action)
    return parser.forms


class LaunchError(AssertionError):
    """A launch step did not answer as a working LMS/tool pair should."""

    def __init__(self, step: str, response: requests.Response, detail: str = "") -> None:
        super().__init__(f"{step}: HTTP {response.status_code} {detail}\n{response.text[:2000]}")
        self.step = step
        self.response = response


@dataclass
class LaunchTrace:
    """Every hop of one launch; `response` is the tool's answer to the id_token POST."""

    login_url: str  # the tool's OIDC login initiation URL, as the platform built it
    auth_url: str  # where the tool sent the browser (the platform's auth endpoint + params)
    form_action: str  # where the platform's auto-submit form posts (the redirect_uri)
    id_token: str
    state: str
    response: requests.Response

    @property
    def login_params(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.login_url).query))

    @property
    def auth_params(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.auth_url).query))

    @property
    def claims(self) -> dict[str, Any]:
        """The id_token's claims, unverified (the tool verifies; tests look)."""
        return jwt.decode(self.id_token, options={"verify_signature": False})


class LaunchDriver:
    """Drives launches against a demo LMS at `platform_url`, like a browser would."""

    def __init__(
        self,
        platform_url: str,
        session: requests.Session | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.platform_url = platform_url.rstrip("/")
        self.session = session or browser_session()
        self._owns_session = session is None
        self.timeout = timeout

    def __enter__(self) -> LaunchDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # -- steps ----------------------------------------------------------------------------------
    def request_launch(
        self,
        user: str = "learner",
        *,
        deep_linking: bool = False,
        resource_link_id: str | None = None,
        locale: str = "fr-CA",
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        alg: str | None = None,
        foreign_key: bool = False,
    ) -> dict[str, Any]:
        """Ask the platform for a launch; returns its answer (`login_url`, `launch_id`, ...).

        `claims` are merged last into the id_token (None removes a claim), `headers` into its
        JWT header (None removes, e.g. {"kid": None}), `alg` may be "none" or "HS256", and
        `foreign_key` signs with an unpublished key: these need
        `DemoSettings(allow_test_overrides=True)`.
        """
        body: dict[str, Any] = {
            "user": user,
            "message_type": "LtiDeepLinkingRequest" if deep_linking else "LtiResourceLinkRequest",
            "locale": locale,
        }
        if resource_link_id:
            body["resource_link_id"] = resource_link_id
        if claims or headers or alg or foreign_key:
            body["overrides"] = {
                "claims": dict(claims or {}),
                "headers": dict(headers or {}),
                "alg": alg or "RS256",
                "foreign_key": foreign_key,
            }
        resp = self.session.post(
            f"{self.platform_url}/demo/api/launches", json=body, timeout=self.timeout
        )
        if resp.status_code != 201:
            raise LaunchError("platform launch request", resp)
        return resp.json()  # type: ignore[no-any-return]

    def login(self, login_url: str) -> str:
        """Open the tool's login initiation; return the authentication URL it sends us to."""
        resp = self.session.get(login_url, allow_redirects=False, timeout=self.timeout)
        if resp.is_redirect:
            return urllib.parse.urljoin(login_url, resp.headers["Location"])
        forms = parse_forms(resp.text, login_url) if resp.ok else []
        if forms:  # a tool may post its authentication request with an auto-submitted form
            form = forms[0]
            return f"{form.action}?{urllib.parse.urlencode(form.fields)}"
        raise LaunchError(
            "tool login initiation",
            resp,
            "(expected a redirect to the platform; a Platform Storage page needs a real browser: "
            "use DemoSettings(storage_target=None))",
        )

    def authorize(self, auth_url: str) -> HtmlForm:
        """Send the authentication request to the platform; return its id_token form."""
        resp = self.session.get(auth_url, allow_redirects=False, timeout=self.timeout)
        forms = parse_forms(resp.text, auth_url) if resp.status_code == 200 else []
        if not forms or "id_token" not in forms[0].fields:
            raise LaunchError("platform authentication", resp, "(no id_token form)")
        return forms[0]

    def post_id_token(
        self, action: str, id_token: str, state: str, *, follow_redirects: bool = True
    ) -> requests.Response:
        return self.session.post(
            action,
            data={"id_token": id_token, "state": state},
            allow_redirects=follow_redirects,
            timeout=self.timeout,
        )

    # -- the whole launch -----------------------------------------------------------------------
    def launch(
        self,
        user: str = "learner",
        *,
        deep_linking: bool = False,
        resource_link_id: str | None = None,
        locale: str = "fr-CA",
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        alg: str | None = None,
        foreign_key: bool = False,
        follow_redirects: bool = True,
    ) -> LaunchTrace:
        """Platform → tool login → platform auth → id_token POST to the tool. The tool's final
        response is not checked: negative tests look at it."""
        started = self.request_launch(
            user,
            deep_linking=deep_linking,
            resource_link_id=resource_link_id,
            locale=locale,
            claims=claims,
            headers=headers,
            alg=alg,
            foreign_key=foreign_key,
        )
        auth_url = self.login(started["login_url"])
        form = self.authorize(auth_url)
        id_token, state = form.fields["id_token"], form.fields.get("state", "")
        response = self.post_id_token(
            form.action, id_token, state, follow_redirects=follow_redirects
        )
        return LaunchTrace(
            login_url=started["login_url"],
            auth_url=auth_url,
            form_action=form.action,
            id_token=id_token,
            state=state,
            response=response,
        )

    def replay(self, trace: LaunchTrace, *, follow_redirects: bool = False) -> requests.Response:
        """POST the same id_token and state to the tool again (a replay the tool must refuse)."""
        return self.post_id_token(
            trace.form_action, trace.id_token, trace.state, follow_redirects=follow_redirects
        )

    def state(self) -> dict[str, Any]:
        """What the platform received: resource links, line items, scores (GET /demo/api/state)."""
        resp = self.session.get(f"{self.platform_url}/demo/api/state", timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]
