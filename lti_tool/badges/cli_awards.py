"""`lti-tool awards list [--json] | revoke ID --reason TEXT | retry [ID]` (issue 8, fixed
interface): the operator's view of awards, with failures and the issuers' messages.

Every command exits non-zero with a clear message on bad input (unknown award, wrong state, no
reason, an issuer refusing the revocation) and changes nothing then. `awards show` (the embedded
credential) is added to this group by the embedded issuer's module.
"""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from lti_tool.db import utcnow


@click.group("awards")
def awards() -> None:
    """Badges awarded, waiting for the issuer, refused or revoked."""


@awards.command("list")
@click.option("--json", "as_json", is_flag=True,
              help="machine-readable: a JSON array, one object per award")
@click.option("--status", type=click.Choice(["pending", "awarded", "failed", "revoked"]),
              help="only awards in this state")
@with_appcontext
def awards_list(as_json: bool, status: str | None) -> None:
    """Every award: learner, status, issuer, date; the issuer's message for failures."""
    from lti_tool.badges.awards import list_awards
    from lti_tool.cli import _db

    with _db() as session:
        rows = list_awards(session, status=status)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("no awards")
        return
    for r in rows:
        when = f"{r.awarded_at:%Y-%m-%d %H:%M:%S}" if r.awarded_at else "-"
        click.echo(f"#{r.id}  {r.status:<8} {r.issuer:<8} learner {r.learner_sub}  awarded {when}"
                   f"  ref {r.issuer_ref or '-'}")
        if r.status == "revoked":
            click.echo(f"    revoked {r.revoked_at:%Y-%m-%d %H:%M:%S}: {r.revocation_reason}"
                       if r.revoked_at else f"    revoked: {r.revocation_reason}")
        if r.last_error:
            click.echo(f"    issuer: {r.last_error}")


@awards.command("revoke")
@click.argument("award_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="why (recorded, and sent to the issuer)")
@with_appcontext
def awards_revoke(award_id: int, reason: str) -> None:
    """Revoke an award at its issuer, and record the reason and time."""
    from lti_tool.badges.awards import AwardError, revoke
    from lti_tool.badges.delivery import evidence_for
    from lti_tool.badges.issuers import IssuerError, issuer_for
    from lti_tool.cli import _db

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _db() as session:
        try:
            award = revoke(session, award_id, reason=reason, now=utcnow(),
                           issuer_for=lambda name: issuer_for(name, app),
                           evidence=evidence_for(app.extensions["settings"]))
        except AwardError as exc:
            session.rollback()
            raise click.ClickException(str(exc)) from exc
        except IssuerError as exc:
            session.rollback()
            raise click.ClickException(f"the issuer did not revoke award #{award_id} (nothing "
                                       f"recorded; try again): {exc}") from exc
        session.commit()
        click.echo(f"award #{award.id} revoked ({award.issuer}) at {award.revoked_at:%Y-%m-%d %H:%M:%S}"
                   if award.revoked_at else f"award #{award.id} revoked")


@awards.command("retry")
@click.argument("award_id", metavar="[ID]", type=int, required=False)
@with_appcontext
def awards_retry(award_id: int | None) -> None:
    """Send a failed award (or, without ID, every failed award) to the issuer again, now."""
    from lti_tool.badges.awards import AwardError, retry
    from lti_tool.cli import _db

    with _db() as session:
        try:
            ids = retry(session, award_id, now=utcnow())
        except AwardError as exc:
            session.rollback()
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"{len(ids)} award(s) due again" + (f": {', '.join(f'#{i}' for i in ids)}" if ids else ""))
