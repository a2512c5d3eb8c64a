"""The instructor's view (issue 7, item 4): the class list from NRPS over real HTTP (a small NRPS
platform on loopback, and the demo LMS), the progress join, filters, the CSV export, reflection
review, and isolation between courses and registrations."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lti_tool.cases import service
from lti_tool.cases.loader import get_level
from lti_tool.cases.model import Level
from lti_tool.db import get_session, utcnow
from lti_tool.models import (
    Course,
    Deployment,
    Learner,
    OutboxMessage,
    Platform,
    ReflectionReview,
    ResourceLink,
    Score,
)
from tests.cases.player_support import parse
from tests.functional.conftest import live  # noqa: F401 (the tool and the demo LMS over HTTP)
from tests.support.minted import JwksServer, MintedPlatform, landing
from tests.support.statements import recorded

INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
LEARNER = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SECRET_BODY = "internal-stack-trace-do-not-show"


# --- a minimal NRPS platform on loopback --------------------------------------------------------


@dataclass
class NrpsServer:
    """Token endpoint and a paged membership container; `mode` "ok" or "fail" (500)."""

    members: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    mode: str = "ok"
    hits: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0

    def __post_init__(self) -> None:
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()

    def memberships_url(self, context: str = "course-1") -> str:
        return f"{self.url}/contexts/{context}/memberships"

    def _app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/token":
            self.token_requests += 1
            body = {"access_token": "nrps-token-1", "token_type": "Bearer", "expires_in": 3600}
            return Response(json.dumps(body), mimetype="application/json")(environ, start_response)
        if request.path.endswith("/memberships"):
            self.hits.append({"auth": request.headers.get("Authorization"),
                              "accept": request.headers.get("Accept"), "args": dict(request.args)})
            if self.mode == "fail":
                return Response(SECRET_BODY, status=500)(environ, start_response)
            if request.headers.get("Authorization") != "Bearer nrps-token-1":
                return Response("no", status=401)(environ, start_response)
            page = int(request.args.get("page", "1"))
            start = (page - 1) * self.page_size
            chunk = self.members[start:start + self.page_size]
            headers = {}
            if start + self.page_size < len(self.members):
                headers["Link"] = f'<{self.url}{request.path}?page={page + 1}>; rel="next"'
            body = {"id": request.url, "context": {"id": "course-1"}, "members": chunk}
            return Response(json.dumps(body), content_type=NRPS_MEDIA, headers=headers)(
                environ, start_response)
        return Response("not found", status=404)(environ, start_response)


def member(sub: str, name: str, roles: list[str] = LEARNER, **extra: Any) -> dict[str, Any]:
    given, _, family = name.partition(" ")
    return {"status": "Active", "user_id": sub, "name": name, "given_name": given,
            "family_name": family, "email": f"{sub}@example.test", "roles": roles, **extra}


@pytest.fixture
def nrps() -> Iterator[NrpsServer]:
    server = NrpsServer()
    yield server
    server.close()


@contextmanager
def platform_at(app: Any, issuer: str, client_id: str = "client-A",
                deployment_id: str = "deploy-1") -> Iterator[MintedPlatform]:
    """A minted platform whose token endpoint is `issuer`/token (the NRPS server)."""
    with JwksServer() as jwks:
        platform = MintedPlatform(jwks, issuer=issuer, client_id=client_id,
                                  deployment_id=deployment_id)
        platform.register(app)
        yield platform


# --- launching and playing ----------------------------------------------------------------------


def launch(client: Any, platform: MintedPlatform, sub: str, *, roles: list[str] = LEARNER,
           context: str = "course-1", link: str = "rl-1", nrps_url: str | None = None,
           ags: bool = True, name: str | None = None) -> str:
    """Launch; returns the page token."""
    claims: dict[str, Any] = {
        "sub": sub, "lti_roles": roles,
        "lti_context": {"id": context, "title": f"Course {context}"},
        "lti_resource_link": {"id": link, "title": "Niveau Architecte"},
    }
    if name:
        given, _, family = name.partition(" ")
        claims.update(name=name, given_name=given, family_name=family)
    if nrps_url:
        claims[NRPS_CLAIM] = {"context_memberships_url": nrps_url, "service_versions": ["2.0"]}
    if ags:
        claims[AGS_CLAIM] = {"scope": [SCORE_SCOPE], "lineitem": f"{platform.issuer}/lineitems/1"}
    response = platform.launch(client, **claims)
    return parse_qs(urlsplit(landing(response)).query)["t"][0]  # 200 (learner) or 303


def level_of(app: Any) -> Level:
    return get_level(app.extensions["settings"].content_dir)


def learner_id(app: Any, sub: str, platform_issuer: str | None = None) -> int:
    with app.test_request_context():
        stmt = select(Learner.id).where(Learner.sub == sub)
        if platform_issuer:
            stmt = stmt.join(Platform, Platform.id == Learner.platform_id).where(
                Platform.issuer == platform_issuer)
        return get_session().execute(stmt).scalar_one()


def play(app: Any, sub: str, case_id: str, *, critical: bool = False, link: str = "rl-1") -> None:
    """Play a case to its end on the best path; `critical` first picks a critical choice (then
    the best one on the retry)."""
    level = level_of(app)
    case = level.cases[case_id]
    with app.test_request_context():
        session = get_session()
        lid = learner_id(app, sub)
        link_pk = session.execute(select(ResourceLink.id).where(
            ResourceLink.resource_link_id == link)).scalars().first()
        attempt = service.start_attempt(session, lid, case, link_pk)
        made_critical = False
        while True:
            state = service.state_of(attempt, case)
            if state.finished:
                break
            decision = case.decision(state.node)
            choice = decision.best.id
            if critical and not made_critical:
                bad = next((c for c in decision.choices if c.critical), None)
                if bad is not None:
                    choice, made_critical = bad.id, True
            service.choose(session, case, attempt, choice, attempt.version)
            service.acknowledge(session, attempt, attempt.version)
        session.commit()


def submit_reflections(app: Any, sub: str) -> None:
    level = level_of(app)
    with app.test_request_context():
        session = get_session()
        texts = {q.id: " ".join(["mot"] * (q.min_words + 2)) for q in level.reflections}
        assert service.submit_reflections(session, learner_id(app, sub), level.reflections, texts).ok
        session.commit()


def get(client: Any, path: str, token: str, **args: Any) -> Any:
    return client.get(path, query_string={"t": token, **args})


def rows(html: str) -> dict[str, dict[str, str]]:
    """user id → the row's data attributes (status, delivery, learner id)."""
    tree = parse(html)
    tables = tree.find_all("table", data_testid="progress-table")
    if not tables:
        return {}
    return {tr.attrs["data-user"]: tr.attrs for tr in tables[0].find("tbody").find_all("tr")}


def count(app: Any, model: Any) -> int:
    with app.test_request_context():
        return get_session().execute(select(func.count()).select_from(model)).scalar_one()


# --- the class list -----------------------------------------------------------------------------


def test_roster_comes_from_nrps_paged_cached_and_refreshed_on_demand(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    nrps.members = [member("teacher", "Camille Roy", INSTRUCTOR), member("s1", "Léa Gagnon"),
                    member("s2", "Noah Bouchard"), member("s3", "Zoé Côté"),
                    member("s4", "Ex Student", status="Inactive")]
    with platform_at(app, nrps.url) as platform:
        token = launch(client, platform, "teacher", roles=INSTRUCTOR, nrps_url=nrps.memberships_url())
        page = get(client, "/instructor", token)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert set(rows(html)) == {"s1", "s2", "s3"}  # learners only: no instructor, no inactive
        assert all(r["data-status"] == "not_started" for r in rows(html).values())
        assert len(nrps.hits) == 3  # 5 members, 2 per page, followed by rel="next"
        assert {h["accept"] for h in nrps.hits} == {NRPS_MEDIA}
        assert {h["auth"] for h in nrps.hits} == {"Bearer nrps-token-1"}
        assert 'data-testid="roster-source"' in html
        with app.test_request_context():
            course = get_session().execute(select(Course)).scalar_one()
            assert course.roster_fetched_at is not None and len(course.roster or []) == 5
            assert course.nrps_url == nrps.memberships_url()

        # Cached: another view does not call the platform.
        nrps.members.append(member("s5", "Jade Morin"))
        assert set(rows(get(client, "/instructor", token).get_data(as_text=True))) == {"s1", "s2", "s3"}
        assert len(nrps.hits) == 3

        # "Refresh the class list": a POST, then back to the page with the new member.
        refreshed = client.post("/instructor/roster/refresh", data={"t": token})
        assert refreshed.status_code == 303
        assert len(nrps.hits) == 6
        html = client.get(refreshed.headers["Location"]).get_data(as_text=True)
        assert set(rows(html)) == {"s1", "s2", "s3", "s5"}
        assert 'data-testid="refresh-result"' in html

        # Older than the cache lifetime: refreshed on page view.
        with app.test_request_context():
            session = get_session()
            session.execute(update(Course).values(roster_fetched_at=utcnow() - timedelta(hours=2)))
            session.commit()
        get(client, "/instructor", token)
        assert len(nrps.hits) == 9


def test_roster_falls_back_to_learners_seen_when_nrps_fails_or_is_absent(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    nrps.mode = "fail"
    with platform_at(app, nrps.url) as platform:
        launch(client, platform, "s1", name="Léa Gagnon")
        token = launch(client, platform, "teacher", roles=INSTRUCTOR, nrps_url=nrps.memberships_url())
        page = get(client, "/instructor", token)
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert 'data-notice="nrps_failed"' in html
        assert set(rows(html)) == {"s1"}
        assert SECRET_BODY not in html  # the platform's answer is logged, never shown
        assert nrps.hits  # it was tried

        # A refresh that fails says so, and still answers with the page (no 5xx).
        refreshed = client.post("/instructor/roster/refresh", data={"t": token})
        assert refreshed.status_code == 303
        again = client.get(refreshed.headers["Location"]).get_data(as_text=True)
        assert 'data-notice="nrps_failed"' in again and set(rows(again)) == {"s1"}

        # No NRPS claim at all (and none stored): the learners seen, with its own notice.
        with app.test_request_context():
            session = get_session()
            session.execute(update(Course).values(nrps_url=None))
            session.commit()
        other = launch(client, platform, "teacher", roles=INSTRUCTOR)
        html = get(client, "/instructor", other).get_data(as_text=True)
        assert 'data-notice="nrps_not_offered"' in html and set(rows(html)) == {"s1"}


def test_untrusted_registration_gets_a_notice_and_no_service_call(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    nrps.members = [member("s1", "Léa Gagnon")]
    with platform_at(app, nrps.url) as platform:
        with app.test_request_context():
            session = get_session()
            # An uninvited dynamic registration, active but never approved by the operator.
            session.execute(update(Platform).values(origin="dynamic", approved_at=None))
            session.commit()
        token = launch(client, platform, "teacher", roles=INSTRUCTOR, nrps_url=nrps.memberships_url())
        page = get(client, "/instructor", token)
        assert page.status_code == 200
        assert 'data-notice="service_not_allowed"' in page.get_data(as_text=True)
        assert nrps.token_requests == 0 and nrps.hits == []


# --- progress -----------------------------------------------------------------------------------


def _course_with_progress(app: Any, client: Any, nrps: NrpsServer,
                          platform: MintedPlatform) -> str:
    """s1: the whole level and reflections; s2: case-1 with a critical error, grade failed at the
    LMS; s3: in the class list, never launched; s4 launched, not started."""
    nrps.members = [member("s1", "Léa Gagnon"), member("s2", "Noah Bouchard"),
                    member("s3", "Zoé Côté"), member("s4", "Jade Morin")]
    for sub in ("s1", "s2", "s4"):
        launch(client, platform, sub)
    level = level_of(app)
    for case_id in level.cases:
        play(app, "s1", case_id)
    submit_reflections(app, "s1")
    play(app, "s2", "case-1", critical=True)
    token = launch(client, platform, "teacher", roles=INSTRUCTOR, nrps_url=nrps.memberships_url())
    with app.test_request_context():
        session = get_session()
        link = session.execute(select(ResourceLink.id)).scalar_one()
        s2 = learner_id(app, "s2")
        now = utcnow()
        score = Score(learner_id=s2, resource_link_id=link, reason="case_completed", activity="level",
                      score_given=20.0, score_maximum=100.0, activity_progress="InProgress",
                      grading_progress="FullyGraded", comment="", timestamp=now, delivery="failed",
                      lms_status=400, lms_message="User is not gradable")
        session.add(score)
        session.flush()
        session.add(OutboxMessage(topic="ags.score", key=f"{s2}:{link}", ref_id=score.id,
                                  status="failed", attempts=1, last_status=400))
        session.commit()
    return token


def test_progress_join_status_scores_critical_errors_reflections_and_delivery(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    with platform_at(app, nrps.url) as platform:
        token = _course_with_progress(app, client, nrps, platform)
        html = get(client, "/instructor", token).get_data(as_text=True)
    table = rows(html)
    assert {k: v["data-status"] for k, v in table.items()} == {
        "s1": "completed", "s2": "in_progress", "s3": "not_started", "s4": "not_started"}
    assert table["s2"]["data-delivery"] == "failed"
    assert table["s3"]["data-learner"] == ""  # in the class list, never launched: no detail link
    tree = parse(html)
    s2 = next(tr for tr in tree.find_all("tr") if tr.attrs.get("data-user") == "s2")
    cell = s2.find("td", data_case="case-1")
    assert cell.attrs["data-case-status"] in ("passed", "redo")
    assert "1 erreur critique" in cell.text
    assert "400" in s2.find("td", data_testid="delivery").text
    assert "User is not gradable" in s2.find("td", data_testid="delivery").text
    s1 = next(tr for tr in tree.find_all("tr") if tr.attrs.get("data-user") == "s1")
    assert "Soumises" in s1.text and "100 / 100" in s1.text


def test_progress_is_computed_in_a_bounded_number_of_queries(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    with platform_at(app, nrps.url) as platform:
        token = _course_with_progress(app, client, nrps, platform)
        get(client, "/instructor", token)  # warm the class list cache
        with recorded(app.extensions["db_engine"]) as statements:
            get(client, "/instructor", token)
            few = len(statements)
            for i in range(8):
                launch(client, platform, f"more-{i}")
                play(app, f"more-{i}", "case-1")
            token = launch(client, platform, "teacher", roles=INSTRUCTOR,
                           nrps_url=nrps.memberships_url())
            statements.clear()
            html = get(client, "/instructor", token).get_data(as_text=True)
    assert len(rows(html)) == 12
    assert len(statements) <= few + 1, statements  # not one more per learner


def test_status_filters(app: Any, client: Any, nrps: NrpsServer) -> None:
    with platform_at(app, nrps.url) as platform:
        token = _course_with_progress(app, client, nrps, platform)
        expected = {"not_started": {"s3", "s4"}, "in_progress": {"s2"}, "completed": {"s1"},
                    "failed_delivery": {"s2"}, "": {"s1", "s2", "s3", "s4"},
                    "bogus": {"s1", "s2", "s3", "s4"}}
        for status, subs in expected.items():
            page = get(client, "/instructor", token, status=status)
            assert page.status_code == 200
            assert set(rows(page.get_data(as_text=True))) == subs, status


def test_csv_export_utf8_bom_attachment_and_formula_guard(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    with platform_at(app, nrps.url) as platform:
        token = _course_with_progress(app, client, nrps, platform)
        # A learner whose platform name is a spreadsheet formula.
        nrps.members.append(member("evil", '=HYPERLINK("http://evil.test","x")'))
        nrps.members.append(member("plus", "+Cmd Calc", email="@sum(1)"))
        assert client.post("/instructor/roster/refresh", data={"t": token}).status_code == 303
        response = get(client, "/instructor/export.csv", token)
        filtered = get(client, "/instructor/export.csv", token, status="failed_delivery")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = table[0], table[1:]
    assert header[0] == "Nom" and len({len(r) for r in table}) == 1
    by_id = {r[2]: r for r in body}
    assert set(by_id) == {"s1", "s2", "s3", "s4", "evil", "plus"}
    assert by_id["evil"][0] == "'" + '=HYPERLINK("http://evil.test","x")'
    assert by_id["plus"][0] == "'+Cmd Calc" and by_id["plus"][1] == "'@sum(1)"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
    assert "400 User is not gradable" in by_id["s2"]
    filtered_rows = list(csv.reader(io.StringIO(filtered.get_data().decode("utf-8-sig"))))
    assert [r[2] for r in filtered_rows[1:]] == ["s2"]


def test_learner_detail_shows_the_path_and_reflections_with_history(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    with platform_at(app, nrps.url) as platform:
        token = _course_with_progress(app, client, nrps, platform)
        submit_again = level_of(app)
        with app.test_request_context():
            session = get_session()
            texts = {q.id: "version deux " + " ".join(["mot"] * (q.min_words + 2))
                     for q in submit_again.reflections}
            service.submit_reflections(session, learner_id(app, "s1"), submit_again.reflections, texts)
            session.commit()
        s2 = get(client, f"/instructor/learners/{learner_id(app, 's2')}", token)
        s1 = get(client, f"/instructor/learners/{learner_id(app, 's1')}", token)
    assert s2.status_code == 200 and s1.status_code == 200
    html = unescape(s2.get_data(as_text=True))
    case = level_of(app).cases["case-1"]
    first = case.decision(case.start)
    critical = next(c for c in first.choices if c.critical)
    assert first.prompt.fr in html and critical.text.fr in html
    assert "Erreur critique" in html and "Deuxième essai" in html
    page = s1.get_data(as_text=True)
    assert "version deux" in page
    assert "Versions précédentes (1)" in page  # the first submission, kept


def test_learner_detail_names_an_attempt_left_by_restart_this_case_now(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    """An attempt closed by "restart this case now" (issue 10, item 4) is not shown as finished."""
    case = level_of(app).cases["case-1"]
    with platform_at(app, nrps.url) as platform:
        nrps.members = [member("s5", "Éloi Tremblay")]
        launch(client, platform, "s5")
        with app.test_request_context():
            session = get_session()
            attempt = service.start_attempt(session, learner_id(app, "s5"), case, None)
            critical = next(c for c in case.decision(case.start).choices if c.critical)
            for _ in range(2):  # the same critical error twice: unresolved, the attempt is lost
                service.choose(session, case, attempt, critical.id, attempt.version)
                service.acknowledge(session, attempt, attempt.version)
            service.restart_attempt(session, learner_id(app, "s5"), case, attempt, attempt.version)
            session.commit()
        token = launch(client, platform, "teacher", roles=INSTRUCTOR, nrps_url=nrps.memberships_url())
        page = get(client, f"/instructor/learners/{learner_id(app, 's5')}", token)
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "pour recommencer le cas" in html and html.count("En cours") >= 1
    assert "Terminée le" not in html


# --- reflection review --------------------------------------------------------------------------


def _switch_review(app: Any, on: bool) -> None:
    with app.test_request_context():
        session = get_session()
        session.execute(update(Deployment).values(reflection_review=on))
        session.commit()


def test_review_accept_and_return_write_the_review_and_a_score(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    with platform_at(app, nrps.url) as platform:
        token = _course_with_progress(app, client, nrps, platform)
        s1 = learner_id(app, "s1")
        path = f"/instructor/learners/{s1}/review"

        # Review off: refused, nothing written.
        scores_before = count(app, Score)
        off = client.post(path, data={"t": token, "decision": "accepted"})
        assert off.status_code == 403
        assert count(app, ReflectionReview) == 0 and count(app, Score) == scores_before
        detail = f"/instructor/learners/{s1}"
        assert 'data-testid="review-form"' not in get(client, detail, token).get_data(as_text=True)

        _switch_review(app, True)
        assert 'data-testid="review-form"' in get(client, detail, token).get_data(as_text=True)
        # Returning without a comment: refused, nothing written.
        bare = client.post(path, data={"t": token, "decision": "returned", "comment": "  "})
        assert bare.status_code == 400
        assert count(app, ReflectionReview) == 0 and count(app, Score) == scores_before

        returned = client.post(path, data={"t": token, "decision": "returned",
                                           "comment": "Précisez la deuxième réponse."})
        assert returned.status_code == 303
        with app.test_request_context():
            session = get_session()
            review = session.execute(select(ReflectionReview)).scalar_one()
            assert (review.status, review.comment, review.learner_id) == (
                "returned", "Précisez la deuxième réponse.", s1)
            newest = session.execute(select(Score).where(Score.learner_id == s1)
                                     .order_by(Score.timestamp.desc())).scalars().first()
            assert newest is not None and newest.reason == "reflections_returned"
            assert newest.activity_progress == "InProgress"
            assert session.execute(select(OutboxMessage.status).where(
                OutboxMessage.ref_id == newest.id)).scalar_one() == "pending"

        # The learner reads the comment on the reflections page.
        learner_token = launch(client, platform, "s1")
        reflections = get(client, "/reflections", learner_token).get_data(as_text=True)
        assert "Précisez la deuxième réponse." in reflections

        accepted = client.post(path, data={"t": token, "decision": "accepted"})
        assert accepted.status_code == 303
        done = client.get(accepted.headers["Location"]).get_data(as_text=True)
        assert 'data-testid="review-done"' in done
        with app.test_request_context():
            session = get_session()
            assert session.execute(select(func.count()).select_from(ReflectionReview)).scalar_one() == 2
            newest = session.execute(select(Score).where(Score.learner_id == s1)
                                     .order_by(Score.timestamp.desc())).scalars().first()
            assert newest is not None and newest.reason == "reflections_accepted"
            assert (newest.activity_progress, newest.grading_progress) == ("Completed", "FullyGraded")
        html = get(client, "/instructor", token).get_data(as_text=True)
        assert "Acceptées" in parse(html).find("tr", data_user="s1").text


def test_review_of_a_learner_who_has_not_submitted_is_refused(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    with platform_at(app, nrps.url) as platform:
        token = _course_with_progress(app, client, nrps, platform)
        _switch_review(app, True)
        response = client.post(f"/instructor/learners/{learner_id(app, 's2')}/review",
                               data={"t": token, "decision": "accepted"})
    assert response.status_code == 409
    assert count(app, ReflectionReview) == 0


# --- isolation ----------------------------------------------------------------------------------


def test_an_instructor_sees_only_their_own_course_and_registration(
        app: Any, client: Any, nrps: NrpsServer) -> None:
    """Course A and course B on one registration, and a second registration (another client_id)
    on the same issuer with a course of the same context id: no instructor reads another's
    learners, progress, detail or reflections, and a review there writes nothing."""
    nrps.members = []
    with platform_at(app, nrps.url) as platform:
        launch(client, platform, "b-learner", context="course-B", link="rl-B", name="Secret Bélanger")
        for case_id in level_of(app).cases:
            play(app, "b-learner", case_id, link="rl-B")
        submit_reflections(app, "b-learner")
        launch(client, platform, "a-learner", context="course-A", link="rl-A", name="Alice Alpha")
        teacher_a = launch(client, platform, "teacher-a", roles=INSTRUCTOR, context="course-A",
                           link="rl-A")
        b_id = learner_id(app, "b-learner")
        _switch_review(app, True)

        with JwksServer() as jwks:
            other = MintedPlatform(jwks, issuer=nrps.url, client_id="client-B", kid="other-kid")
            other.register(app)
            # Same issuer, same context id as course B, another registration.
            teacher_other = launch(client, other, "teacher-x", roles=INSTRUCTOR, context="course-B",
                                   link="rl-B")

        for token in (teacher_a, teacher_other):
            roster = get(client, "/instructor", token)
            html = roster.get_data(as_text=True)
            assert roster.status_code == 200
            assert "Secret Bélanger" not in html and "b-learner" not in html
            export = get(client, "/instructor/export.csv", token).get_data().decode("utf-8-sig")
            assert "Secret Bélanger" not in export and "b-learner" not in export
            detail = get(client, f"/instructor/learners/{b_id}", token)
            assert detail.status_code == 404
            body = detail.get_data(as_text=True)
            assert "Secret Bélanger" not in body and "mot mot" not in body
            review = client.post(f"/instructor/learners/{b_id}/review",
                                 data={"t": token, "decision": "returned", "comment": "x"})
            assert review.status_code == 404
            assert "Secret Bélanger" not in review.get_data(as_text=True)
        assert "Alice Alpha" in get(client, "/instructor", teacher_a).get_data(as_text=True)
        assert count(app, ReflectionReview) == 0

        # A learner token is not an instructor's: 403 on every page, nothing leaked.
        learner_token = launch(client, platform, "a-learner", context="course-A", link="rl-A")
        for path in ("/instructor", "/instructor/export.csv", f"/instructor/learners/{b_id}"):
            response = get(client, path, learner_token)
            assert response.status_code == 403, path
            assert "Secret Bélanger" not in response.get_data(as_text=True)
        refused = client.post(f"/instructor/learners/{b_id}/review",
                              data={"t": learner_token, "decision": "accepted"})
        assert refused.status_code == 403 and count(app, ReflectionReview) == 0


# --- against the demo LMS -----------------------------------------------------------------------


def test_roster_from_the_demo_lms_over_http(live: Any) -> None:  # noqa: F811
    trace = live.driver.launch("instructor")
    response = trace.response
    assert response.status_code == 200, response.text[:500]
    assert "/instructor?t=" in response.url
    table = rows(response.text)
    demo_learner = trace.claims["sub"]
    assert demo_learner not in table  # the instructor is not listed
    assert set(table) == {"demo-user-alex-tremblay", "demo-user-jade-morin"}  # the two learners
    assert table["demo-user-alex-tremblay"]["data-status"] == "not_started"
    assert "Alex Tremblay" in response.text
    with live.app.test_request_context():
        course = get_session().execute(select(Course)).scalar_one()
        assert course.roster_fetched_at is not None
        assert any(m["user_id"] == "demo-user-camille-roy" for m in course.roster or [])



def test_cli_switches_reflection_review_per_deployment(app: Any, nrps: NrpsServer) -> None:
    from lti_tool.cli import deployment

    with platform_at(app, nrps.url) as platform:
        runner = app.test_cli_runner()
        args = ["review", "--issuer", platform.issuer, "--client-id", platform.client_id,
                "--deployment-id", platform.deployment_id]
        on = runner.invoke(deployment, [*args, "--on"])
        assert on.exit_code == 0, on.output
        with app.test_request_context():
            assert get_session().execute(select(Deployment.reflection_review)).scalar_one() is True
        off = runner.invoke(deployment, [*args, "--off"])
        assert off.exit_code == 0, off.output
        with app.test_request_context():
            assert get_session().execute(select(Deployment.reflection_review)).scalar_one() is False
        unknown = runner.invoke(deployment, ["review", "--issuer", platform.issuer, "--client-id",
                                             platform.client_id, "--deployment-id", "nope", "--on"])
        assert unknown.exit_code != 0 and "no such deployment" in unknown.output
