"""`lti-tool platform add-deployment` and `platform remove`'s confirmation (issue 10, item 5): every
command the tool shows runs as shown; removing a registration is asked before it is done."""

from __future__ import annotations

from typing import Any

from flask import Flask

from lti_tool.cli import main as cli
from lti_tool.db import get_session
from lti_tool.launch.dynamic_registration import add_deployment_command
from lti_tool.launch.registry import add_platform, find_registration_and_deployment
from lti_tool.models import Platform

ISSUER = "https://moodle.cli.test"
ENDPOINTS = {"auth_url": ISSUER + "/mod/lti/auth.php", "token_url": ISSUER + "/mod/lti/token.php",
             "jwks_url": ISSUER + "/mod/lti/certs.php"}


def _register(app: Flask, organisation: str | None = "CSS-A") -> None:
    with app.app_context():
        session = get_session()
        add_platform(session, issuer=ISSUER, client_id="cid", deployment_ids=["1"],
                     organisation=organisation, **ENDPOINTS)
        session.commit()
        session.close()


def _deployments(app: Flask) -> dict[str, str | None]:
    with app.app_context():
        session = get_session()
        platform = session.query(Platform).filter_by(issuer=ISSUER, client_id="cid").one_or_none()
        found = ({d.deployment_id: d.organisation_code for d in platform.deployments}
                 if platform else {})
        session.close()
        return found


def _run(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(cli, list(args), input=input)


def test_add_deployment_adds_to_an_existing_registration_as_the_page_shows_it(app: Flask) -> None:
    _register(app)
    # The very line the registration page and the refusal's log give, with the id filled in.
    command = add_deployment_command(ISSUER, "cid", "42").split()[1:]
    result = _run(app, *command)
    assert result.exit_code == 0, result.output
    assert "added 42" in result.output
    assert _deployments(app) == {"1": "CSS-A", "42": "CSS-A"}  # the registration's organisation
    with app.app_context():
        reg, pk = find_registration_and_deployment(get_session(), ISSUER, "cid", "42")
        assert reg is not None and pk is not None
        assert (reg.auth_url, reg.token_url, reg.jwks_url) == tuple(ENDPOINTS.values())

    again = _run(app, *command, "--deployment-id", "43", "--organisation", "CSS-B")
    assert again.exit_code == 0, again.output
    assert "added 43" in again.output and "42" not in again.output.split(";")[0]
    assert _deployments(app) == {"1": "CSS-A", "42": "CSS-A", "43": "CSS-B"}


def test_add_deployment_to_an_unknown_registration_is_refused(app: Flask) -> None:
    result = _run(app, "platform", "add-deployment", "--issuer", ISSUER, "--client-id", "nope",
                  "--deployment-id", "1")
    assert result.exit_code != 0
    assert "not registered" in result.output and "platform add" in result.output
    assert _deployments(app) == {}


def test_remove_asks_first_and_does_nothing_without_a_yes(app: Flask) -> None:
    _register(app)
    base = ["platform", "remove", "--issuer", ISSUER, "--client-id", "cid"]
    no_answer = _run(app, *base)  # no terminal input at all (a script that forgot --yes)
    assert no_answer.exit_code != 0 and "nothing removed" in no_answer.output
    refused = _run(app, *base, input="n\n")
    assert refused.exit_code != 0 and "Remove the registration" in refused.output
    assert _deployments(app) == {"1": "CSS-A"}

    confirmed = _run(app, *base, input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert confirmed.output.strip().endswith("removed") and _deployments(app) == {}


def test_remove_with_yes_asks_nothing(app: Flask) -> None:
    _register(app)
    one = _run(app, "platform", "remove", "--issuer", ISSUER, "--client-id", "cid",
               "--deployment-id", "1", "--yes")
    assert one.exit_code == 0 and "Remove" not in one.output, one.output
    assert _deployments(app) == {}
    gone = _run(app, "platform", "remove", "--issuer", ISSUER, "--client-id", "other", "--yes")
    assert gone.exit_code != 0 and "nothing matched" in gone.output
