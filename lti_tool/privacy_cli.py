"""`lti-tool learner export|delete` (issue 8, item 7; Quebec's Law 25). The work is in privacy.py.

    lti-tool learner export --issuer URL --client-id ID --sub SUB          # JSON on stdout
    lti-tool learner delete --issuer URL --client-id ID --sub SUB --revoke-badges | --keep-badges

A learner is named as the LMS names them: the registration (issuer, client id) and the LTI `sub`.
Unknown learner or registration: a message on stderr, exit status 1, nothing changed.
"""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext


@click.group("learner")
def learner() -> None:
    """A learner's data: export it, or delete it (Law 25)."""


def _who(fn):  # type: ignore[no-untyped-def]
    for option in reversed((
        click.option("--issuer", required=True, help="the registration's issuer (iss)"),
        click.option("--client-id", required=True, help="the registration's client id"),
        click.option("--sub", required=True, help="the learner's LTI user id (sub)"),
    )):
        fn = option(fn)
    return fn


@learner.command("export")
@_who
@with_appcontext
def export(issuer: str, client_id: str, sub: str) -> None:
    """Everything the tool holds about the learner, as JSON on stdout."""
    from lti_tool.cli import _db
    from lti_tool.privacy import LearnerNotFound, export_learner, find_learner

    with _db() as session:
        try:
            found = find_learner(session, issuer=issuer, client_id=client_id, sub=sub)
        except LearnerNotFound as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        data = export_learner(session, found)
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


@learner.command("delete")
@_who
@click.option("--revoke-badges", "badges", flag_value="revoke",
              help="revoke the learner's awarded badges (their verification then says revoked)")
@click.option("--keep-badges", "badges", flag_value="keep",
              help="keep the learner's badges valid (the learner keeps their credential)")
@with_appcontext
def delete(issuer: str, client_id: str, sub: str, badges: str | None) -> None:
    """Delete the learner's personal data and reflections; anonymised aggregates stay."""
    from lti_tool.badges.issuers import IssuerError
    from lti_tool.cli import _db
    from lti_tool.privacy import LearnerNotFound, delete_learner, find_learner

    if badges is None:
        raise click.UsageError("say what happens to the learner's badges: --revoke-badges or "
                               "--keep-badges")
    with _db() as session:
        try:
            found = find_learner(session, issuer=issuer, client_id=client_id, sub=sub)
        except LearnerNotFound as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        try:
            report = delete_learner(session, found, revoke_badges=badges == "revoke")
        except IssuerError as exc:
            session.rollback()
            click.echo(f"error: a badge could not be revoked at its issuer ({exc}); nothing was "
                       "deleted: try again later, or use --keep-badges", err=True)
            sys.exit(1)
        session.commit()
    click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
