"""`lti-tool awards show ID --credential` (issue 8, fixed interface): the award's VC-JWT, as the
embedded issuer signed it, on standard output (nothing else on it, so it pipes into a verifier).

Without `--credential`: the award's credential id, verification URL and state. Added to B2's
`awards` group (lti_tool/badges/cli_awards.py) by lti_tool/cli.py.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("show")
@click.argument("award_id", metavar="ID", type=int)
@click.option("--credential", "print_credential", is_flag=True,
              help="print only the award's signed credential (VC-JWT, embedded issuer)")
@with_appcontext
def awards_show(award_id: int, print_credential: bool) -> None:
    """One award; with --credential, its Open Badges 3.0 credential (VC-JWT)."""
    from lti_tool.badges.embedded.service import NoCredential, credential_of, verification_url
    from lti_tool.cli import _db
    from lti_tool.models import Award

    with _db() as session:
        if print_credential:
            try:
                click.echo(credential_of(session, award_id))
            except NoCredential as exc:
                raise click.ClickException(str(exc)) from exc
            return
        award = session.get(Award, award_id)
        if award is None:
            raise click.ClickException(f"no award {award_id}")
        base_url = current_app.extensions["settings"].base_url
        click.echo(f"#{award.id}  {award.status}  issuer {award.issuer}  ref {award.issuer_ref or '-'}")
        url = verification_url(award, base_url)
        if url:
            click.echo(f"verification: {url}")
