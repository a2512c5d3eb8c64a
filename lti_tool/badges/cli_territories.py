"""`lti-tool territory …` and `lti-tool organisation …` (issue 8, item 1; fixed interface):

    lti-tool territory add CODE --name NAME --police NAME
    lti-tool territory set-agreement CODE --concluded YYYY-MM-DD [--verified] | --suspended
    lti-tool territory list [--json]
    lti-tool territory seed                 # the shipped starter list, every entry unverified
    lti-tool organisation add CODE --name NAME --territory CODE [--kind css|school_board|private_school]
    lti-tool organisation list
    lti-tool organisation map CODE --issuer URL --client-id ID [--deployment-id ID | --course CONTEXT_ID]
    lti-tool platform allow-organisation-param --issuer URL --client-id ID --on|--off

Bad input (unknown code, bad date, contradictory flags) exits with status 1 and a message, and
changes nothing: the work is in registry.py and is committed only when it all succeeded.
`set-agreement` and `map` then run the eligibility rules again for the learners who were waiting
(awards.reevaluate), in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@contextmanager
def _session() -> Iterator[Session]:
    """The command's session; a RegistryError becomes a clear message and exit status 1 (the
    session closes uncommitted: nothing changed)."""
    from lti_tool.badges.registry import RegistryError
    from lti_tool.cli import _db

    with _db() as session:
        try:
            yield session
        except RegistryError as exc:
            session.rollback()
            raise click.ClickException(str(exc)) from exc


def _today() -> date:
    from lti_tool.badges.facts import award_date
    from lti_tool.db import utcnow

    return award_date(utcnow()).date()


def _reevaluate(session: Session, **what: Any) -> str:
    """Award the learners this change made eligible (B2's awards.reevaluate), before the commit."""
    from lti_tool.badges.awards import reevaluate
    from lti_tool.cases.loader import get_level
    from lti_tool.db import utcnow

    level = get_level(current_app.extensions["settings"].content_dir)
    created = reevaluate(session, now=utcnow(), level=level, **what)
    return f"; {len(created)} learner(s) newly eligible: badge award queued" if created else ""


# -- territories -------------------------------------------------------------------------------------
@click.group("territory")
def territory() -> None:
    """Territories, their police force and its agreement with the DPCP."""


@territory.command("add")
@click.argument("code")
@click.option("--name", required=True, help="the territory (city, region)")
@click.option("--police", "police", required=True, help="the police force serving it")
@click.option("--source", default="", help="where this comes from (kept for the record)")
@with_appcontext
def territory_add(code: str, name: str, police: str, source: str) -> None:
    """Add a territory (no agreement recorded yet: no one there is eligible)."""
    from lti_tool.badges.registry import add_territory

    with _session() as session:
        row = add_territory(session, code, name=name, police_force=police, source=source)
        session.commit()
        click.echo(f"added territory {row.code} ({row.name}; {row.police_force}): no agreement "
                   "recorded")


@territory.command("set-agreement")
@click.argument("code")
@click.option("--concluded", "concluded", default=None, metavar="YYYY-MM-DD",
              help="the date the police force concluded its agreement with the DPCP")
@click.option("--verified", is_flag=True,
              help="the operator checked it (an unverified agreement makes no one eligible)")
@click.option("--suspended", is_flag=True, help="the agreement is suspended")
@click.option("--note", default="", help="kept with this record (e.g. who confirmed it)")
@with_appcontext
def territory_set_agreement(code: str, concluded: str | None, verified: bool, suspended: bool,
                            note: str) -> None:
    """Record the territory's agreement (a new row: the history is kept)."""
    from lti_tool.badges.registry import RegistryError, parse_date, set_agreement

    with _session() as session:
        if verified and suspended:
            raise RegistryError("--verified and --suspended contradict each other: choose one")
        if verified and concluded is None:
            raise RegistryError("--verified needs the date: --concluded YYYY-MM-DD")
        on = parse_date(concluded) if concluded is not None else None
        row, agreement = set_agreement(session, code, concluded_on=on, verified=verified,
                                       suspended=suspended, note=note)
        awarded = _reevaluate(session, territory_id=row.id)
        session.commit()
        if suspended:
            said = "suspended"
        else:
            said = (f"concluded on {agreement.concluded_on:%Y-%m-%d}, "
                    f"{'verified' if verified else 'UNVERIFIED (makes no one eligible)'}")
        click.echo(f"territory {row.code}: agreement {said}{awarded}")


@territory.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
@with_appcontext
def territory_list(as_json: bool) -> None:
    """Territories with their current agreement: status, date, verified or not, in force today."""
    from lti_tool.badges.registry import list_territories

    today = _today()
    with _session() as session:
        rows = list_territories(session)
        items = [{
            "code": r.territory.code, "name": r.territory.name,
            "police_force": r.territory.police_force, "status": r.status,
            "concluded_on": (r.agreement.concluded_on.isoformat()
                             if r.agreement is not None and r.agreement.concluded_on else None),
            "verified": bool(r.agreement is not None and r.agreement.verified),
            "in_force": r.in_force(today), "organisations": r.organisations,
            "note": r.agreement.note if r.agreement is not None else "",
        } for r in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("no territory: `lti-tool territory add` or `lti-tool territory seed`")
    for i in items:
        click.echo(
            f"{i['code']}  status={i['status']}  {'verified' if i['verified'] else 'unverified'}  "
            f"concluded_on={i['concluded_on'] or '-'}  "
            f"in_force={'yes' if i['in_force'] else 'no'}  organisations={i['organisations']}  "
            f"police: {i['police_force']}  ({i['name']})"
            + (f"\n    {i['note']}" if i["note"] else ""))


@territory.command("seed")
@with_appcontext
def territory_seed() -> None:
    """Load the shipped starter list (police forces public sources say have deployed SEXTO).
    Every entry is UNVERIFIED: confirm each with `territory set-agreement CODE --concluded DATE
    --verified`. Territories already present are left as they are."""
    from lti_tool.badges.registry import seed_starter_list

    with _session() as session:
        added, kept = seed_starter_list(session)
        session.commit()
    click.echo(f"added {len(added)} territories (unverified){': ' + ', '.join(added) if added else ''}")
    if kept:
        click.echo(f"kept as they are: {', '.join(kept)}")


# -- organisations -----------------------------------------------------------------------------------
@click.group("organisation")
def organisation() -> None:
    """School service centres, school boards and private schools, and what maps to them."""


@organisation.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--territory", "territory_code", required=True, help="the territory's code")
@click.option("--kind", default="css", show_default=True,
              help="css | school_board | private_school")
@with_appcontext
def organisation_add(code: str, name: str, territory_code: str, kind: str) -> None:
    """Add an organisation in a territory."""
    from lti_tool.badges.registry import add_organisation

    with _session() as session:
        row = add_organisation(session, code, name=name, territory_code=territory_code, kind=kind)
        session.commit()
        click.echo(f"added organisation {row.code} ({row.name}, {row.kind}) in territory "
                   f"{territory_code}")


@organisation.command("list")
@with_appcontext
def organisation_list() -> None:
    """Organisations, their territory, and how many registrations, deployments, courses map to
    each."""
    from lti_tool.badges.registry import list_organisations

    with _session() as session:
        rows = list_organisations(session)
        lines = [f"{r.organisation.code}  {r.organisation.kind}  territory="
                 f"{r.territory.code if r.territory else '-'}  registrations={r.registrations}  "
                 f"deployments={r.deployments}  courses={r.courses}  ({r.organisation.name})"
                 for r in rows]
    click.echo("\n".join(lines) if lines else "no organisation: `lti-tool organisation add`")


@organisation.command("map")
@click.argument("code")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", default=None, help="map this deployment only")
@click.option("--course", default=None, metavar="CONTEXT_ID",
              help="map this course only (its LTI context id)")
@with_appcontext
def organisation_map(code: str, issuer: str, client_id: str, deployment_id: str | None,
                     course: str | None) -> None:
    """Map a registration, one of its deployments, or one of its courses to the organisation."""
    from lti_tool.badges.registry import map_organisation

    with _session() as session:
        target = map_organisation(session, code, issuer=issuer, client_id=client_id,
                                  deployment_id=deployment_id, course=course)
        awarded = _reevaluate(session, organisation_code=code)
        session.commit()
    click.echo(f"mapped {target} to organisation {code}{awarded}")


# -- the registration's permission (registered under `lti-tool platform`) ----------------------------
@click.command("allow-organisation-param")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--on/--off", "on", required=True,
              help="honour the launch custom parameter sexto_organisation for this registration")
@with_appcontext
def allow_organisation_param(issuer: str, client_id: str, on: bool) -> None:
    """Let launches of this registration name the learner's organisation (custom parameter
    sexto_organisation), or stop honouring it. Off by default: switch it on only for a platform
    whose administrators you trust to set it right."""
    from lti_tool.badges.registry import set_organisation_from_launch

    with _session() as session:
        set_organisation_from_launch(session, issuer, client_id, on)
        awarded = _reevaluate(session) if on else ""
        session.commit()
    click.echo(f"custom parameter sexto_organisation {'honoured' if on else 'ignored'} for "
               f"{issuer} client_id={client_id}{awarded}")


