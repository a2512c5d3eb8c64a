"""The `lti-tool` command (a Flask CLI group): serve, set up, keys, registrations, content.

Everything with side effects (migrations, key generation, network) lives here, not in create_app.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from flask import current_app, g
from flask.cli import FlaskGroup, with_appcontext

from lti_tool import create_app
from lti_tool.badges.cli_awards import awards as awards_commands
from lti_tool.badges.cli_territories import allow_organisation_param, organisation, territory
from lti_tool.badges.embedded.cli import awards_show
from lti_tool.config import PROJECT_ROOT, dev_secret_path, load_settings
from lti_tool.privacy_cli import learner as learner_commands

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _create(*_args: Any) -> Any:
    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Sexto Architect LTI 1.3 tool."""


def _settings() -> Any:
    return current_app.extensions["settings"]


@contextmanager
def _db() -> Iterator[Session]:
    """The command's database session, closed at the end: a command has no request whose teardown
    would close it, and a read left open holds its locks (PostgreSQL: a TRUNCATE or migration
    waits on it forever)."""
    from lti_tool.db import get_session

    session = get_session()
    try:
        yield session
    finally:
        session.close()
        g.pop("db_session", None)


# -- database -----------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema (Alembic)."""


def alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_database(database_url: str) -> None:
    from alembic import command

    from lti_tool.private_files import prepare_sqlite

    prepare_sqlite(database_url)  # learner data: folder 0700, file 0600 when created here
    command.upgrade(alembic_config(database_url), "head")


@db.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Migrate the database to the latest schema."""
    upgrade_database(_settings().database_url)
    click.echo("database is at the latest revision")


# -- keys ---------------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """The tool's signing keys (RFC 7638 kid; JWKS at /.well-known/jwks.json)."""


@keys.command("generate")
@with_appcontext
def keys_generate() -> None:
    """Create the first key (does nothing if one exists)."""
    from lti_tool.launch.wiring import tool_keys

    kid, created = tool_keys().generate()
    click.echo(f"{'created' if created else 'kept existing'} key {kid}")


@keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """New current key; the previous one stays published until the next rotation."""
    from lti_tool.keys import KeysMissing
    from lti_tool.launch.wiring import tool_keys

    try:
        kid, old = tool_keys().rotate()
    except KeysMissing as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"current key {kid}; previous key {old} stays published")


@keys.command("list")
@with_appcontext
def keys_list() -> None:
    """Keys and their status; then each registration's own key set and who uses it."""
    from sqlalchemy import select

    from lti_tool.keys import registration_key_sets, registration_keys
    from lti_tool.launch.wiring import tool_keys
    from lti_tool.models import Platform

    entries = tool_keys().listing()
    if not entries:
        click.echo("no keys: run `lti-tool keys generate`")
    for entry in entries:
        click.echo(f"{entry['kid']}  {entry['status']:<8}  created {entry['created_at']}")
    keys_dir = _settings().keys_dir
    with _db() as session:
        users = {key_set: f"{issuer} client_id={client_id}" for key_set, issuer, client_id in session
                 .execute(select(Platform.key_set, Platform.issuer, Platform.client_id)
                          .where(Platform.key_set.is_not(None))) if key_set}
    on_disk = registration_key_sets(keys_dir)
    for key_set in on_disk:
        kids = ", ".join(k.kid for k in registration_keys(keys_dir, key_set).keys())
        # A key set no registration names is left by a removed or failed registration.
        click.echo(f"registration key set {key_set}  kid {kids}  "
                   f"used by: {users.get(key_set, '(none)')}")
    for key_set in sorted(set(users) - set(on_disk)):
        click.echo(f"registration key set {key_set}  MISSING (used by: {users[key_set]}): restore "
                   f"{keys_dir / 'registrations' / key_set} from a backup")


# -- platforms ----------------------------------------------------------------------------------
@main.group()
def platform() -> None:
    """Platform registrations, looked up by (issuer, client_id)."""


@platform.command("add")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--auth-url", required=True, help="OIDC authorization endpoint")
@click.option("--token-url", required=True, help="OAuth2 token endpoint")
@click.option("--jwks-url", required=True, help="platform public key set")
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True)
@click.option("--organisation", default=None, help="school board / organisation code")
@click.option("--family", type=click.Choice(["moodle", "canvas", "generic"]), default=None)
@click.option("--name", default="")
@with_appcontext
def platform_add(
    issuer: str,
    client_id: str,
    auth_url: str,
    token_url: str,
    jwks_url: str,
    deployment_ids: tuple[str, ...],
    organisation: str | None,
    family: str | None,
    name: str,
) -> None:
    """Register a platform (or add deployments to its registration)."""
    from lti_tool.launch.registry import RegistrationConflict, add_platform

    if _settings().is_production:
        # The browser is sent to auth_url and assertions to token_url: never over plain http.
        insecure = [
            f"--{flag}" for flag, url in (("auth-url", auth_url), ("token-url", token_url),
                                          ("jwks-url", jwks_url)) if not url.startswith("https://")
        ]
        if insecure:
            raise click.ClickException(f"{', '.join(insecure)} must be https:// URLs in production")
    with _db() as session:
        try:
            reg = add_platform(
                session,
                issuer=issuer,
                client_id=client_id,
                auth_url=auth_url,
                token_url=token_url,
                jwks_url=jwks_url,
                deployment_ids=list(deployment_ids),
                organisation=organisation,
                family=family,
                name=name,
                origin="cli",
            )
        except RegistrationConflict as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
        click.echo(
            f"registered {reg.issuer} client_id={reg.client_id} family={reg.family} "
            f"deployments={','.join(d.deployment_id for d in reg.deployments)}"
        )


@platform.command("add-deployment")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True)
@click.option("--organisation", default=None, help="school board / organisation code of the new "
              "deployment (default: the registration's)")
@with_appcontext
def platform_add_deployment(issuer: str, client_id: str, deployment_ids: tuple[str, ...],
                            organisation: str | None) -> None:
    """Add deployments to an existing registration (its endpoints stay as they are)."""
    from sqlalchemy import select

    from lti_tool.launch.registry import add_platform
    from lti_tool.models import Platform

    with _db() as session:
        reg = session.scalars(select(Platform).where(
            Platform.issuer == issuer, Platform.client_id == client_id)).first()
        if reg is None:
            raise click.ClickException(
                f"{issuer} / {client_id} is not registered: see `lti-tool platform list`, or "
                "register it with `lti-tool platform add`")
        known = {d.deployment_id for d in reg.deployments}
        # The registration's own endpoints: add_platform then only appends the deployments.
        add_platform(session, issuer=issuer, client_id=client_id, auth_url=reg.auth_url,
                     token_url=reg.token_url, jwks_url=reg.jwks_url,
                     deployment_ids=list(deployment_ids), organisation=organisation)
        session.commit()
        added = [d for d in dict.fromkeys(deployment_ids) if d not in known]
        click.echo(
            f"{issuer} client_id={client_id}: "
            + (f"added {', '.join(added)}" if added else "nothing to add")
            + f"; deployments={','.join(d.deployment_id for d in reg.deployments)}"
        )


@platform.command("list")
@with_appcontext
def platform_list() -> None:
    """Registrations: status, origin, organisation, deployments, and where client assertions go
    (token endpoint, authorization server)."""
    from lti_tool.launch.registry import list_platforms

    with _db() as session:
        platforms = list_platforms(session)
    if not platforms:
        click.echo("no platform registered")
    for p in platforms:
        deployments = ", ".join(d.deployment_id for d in p.deployments) or "(none)"
        approved = f" approved {p.approved_at:%Y-%m-%d}" if p.approved_at else ""
        click.echo(
            f"{p.issuer}  client_id={p.client_id}  status={p.status}{approved}  origin={p.origin}  "
            f"organisation={p.organisation_code or '-'}  family={p.family}  "
            f"deployments: {deployments}\n"
            f"    token endpoint: {p.token_url}\n"
            f"    authorization_server (assertion aud): {p.auth_audience or p.token_url}\n"
            f"    signing keys: {'own key set ' + p.key_set if p.key_set else 'shared'}"
        )


@platform.command("approve")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--organisation", default=None, help="school board / organisation code")
@with_appcontext
def platform_approve(issuer: str, client_id: str, organisation: str | None) -> None:
    """Approve a pending (or legacy) registration: it launches and may call services."""
    from lti_tool.launch.registry import approve_platform

    with _db() as session:
        reg = approve_platform(session, issuer, client_id, organisation=organisation)
        if reg is None:
            raise click.ClickException("nothing matched: see `lti-tool platform list`")
        session.commit()
        click.echo(
            f"approved {reg.issuer} client_id={reg.client_id} origin={reg.origin} "
            f"organisation={reg.organisation_code or '-'}; token endpoint {reg.token_url}"
        )


@platform.command("invite")
@click.option("--organisation", default=None, help="school board / organisation code recorded "
              "on the registration")
@click.option("--expires", default=None, help="lifetime, e.g. 7d, 12h, 30m (default: 7d)")
@click.option("--note", default="", help="who it is for (shown by nothing but the database)")
@with_appcontext
def platform_invite(organisation: str | None, expires: str | None, note: str) -> None:
    """Print a one-time dynamic registration URL for an LMS administrator."""
    from lti_tool.launch.invitations import create_invitation, invitation_url, parse_duration

    settings = _settings()
    try:
        ttl = parse_duration(expires) if expires else settings.invitation_ttl
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from exc
    with _db() as session:
        invitation, secret = create_invitation(session, ttl=ttl, organisation=organisation,
                                               note=note)
        session.commit()
    click.echo(invitation_url(settings.base_url, secret))
    click.echo(
        f"one use, expires {invitation.expires_at:%Y-%m-%d %H:%M} UTC"
        f"{', organisation ' + organisation if organisation else ''}: paste it as the tool URL "
        "of a dynamic registration (Moodle: Tool URL → Add LTI Advantage; Canvas: LTI Registration)",
        err=True,
    )


@platform.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", default=None, help="remove only this deployment")
@click.option("--yes", is_flag=True, help="do not ask for confirmation (scripts)")
@with_appcontext
def platform_remove(issuer: str, client_id: str, deployment_id: str | None, yes: bool) -> None:
    """Remove a registration (and its learners' data), or one of its deployments.

    Asks for confirmation first (nothing can bring the data back); `--yes` for scripts. Without a
    terminal to ask on and without `--yes`, nothing is removed."""
    from lti_tool.launch.registry import remove_platform

    what = (f"deployment {deployment_id} of {issuer} / {client_id}" if deployment_id
            else f"the registration {issuer} / {client_id} and its learners' data")
    try:
        confirmed = yes or click.confirm(f"Remove {what}?", default=False, err=True)
    except click.Abort:  # no answer (no terminal, end of input)
        confirmed = False
    if not confirmed:
        raise click.ClickException("nothing removed (confirm, or pass --yes)")
    with _db() as session:
        if not remove_platform(session, issuer, client_id, deployment_id):
            raise click.ClickException("nothing matched: see `lti-tool platform list`")
        session.commit()
    click.echo("removed")


@main.group()
def deployment() -> None:
    """Per-deployment settings."""


def _deployment(session: Any, issuer: str, client_id: str, deployment_id: str) -> Any:
    """The deployment row, or a clear error naming where to look."""
    from sqlalchemy import select

    from lti_tool.models import Deployment, Platform

    row = session.scalars(
        select(Deployment).join(Platform, Platform.id == Deployment.platform_id).where(
            Platform.issuer == issuer, Platform.client_id == client_id,
            Deployment.deployment_id == deployment_id)).first()
    if row is None:
        raise click.ClickException("no such deployment: see `lti-tool platform list`")
    return row


@deployment.command("review")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", required=True)
@click.option("--on/--off", "on", required=True,
              help="instructors accept or return reflections before they count (PendingManual)")
@with_appcontext
def deployment_review(issuer: str, client_id: str, deployment_id: str, on: bool) -> None:
    """Switch reflection review on or off for one deployment."""
    with _db() as session:
        row = _deployment(session, issuer, client_id, deployment_id)
        row.reflection_review = on
        session.commit()
    click.echo(f"reflection review {'on' if on else 'off'} for {issuer} / {client_id} / {deployment_id}")


@deployment.command("explorer")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", required=True)
@click.option("--on/--off", "on", required=True,
              help="the badge also requires the Explorer level, recorded by the instructor or "
              "sent by the LMS (custom parameter sexto_explorer_completed)")
@with_appcontext
def deployment_explorer(issuer: str, client_id: str, deployment_id: str, on: bool) -> None:
    """Require the Explorer level (the program's first) for the badge, or not, on one deployment."""
    with _db() as session:
        row = _deployment(session, issuer, client_id, deployment_id)
        row.require_explorer = on
        awarded = ""
        if not on:  # learners who waited only for the Explorer level are awarded now
            from lti_tool.badges.cli_territories import _reevaluate

            awarded = _reevaluate(session)
        session.commit()
    click.echo(f"Explorer level {'required' if on else 'not required'} for {issuer} / {client_id} / "
               f"{deployment_id}{awarded}")


# -- content ------------------------------------------------------------------------------------
@main.group()
def cases() -> None:
    """Case content."""


@cases.command("validate")
@click.argument("path", required=False)
def cases_validate(path: str | None) -> None:
    """Validate content (schema + graph checks); exit status 1 on errors."""
    from lti_tool.cases.loader import validate_command

    sys.exit(validate_command(path))


# -- grades: the outbox ---------------------------------------------------------------------------
@main.command("worker")
@click.option("--once", is_flag=True, help="deliver what is due now, then exit")
@click.option("--batch", default=20, type=click.IntRange(1, 1000), help="rows leased per claim")
@click.option("--lease", default=60.0, type=click.FloatRange(5, 3600),
              help="seconds a claimed row stays with this worker (a dead worker's rows are "
              "taken over after it)")
@click.option("--poll", default=0.5, type=click.FloatRange(0.05, 60),
              help="seconds between looks for due rows when idle (one indexed query)")
@click.option("--concurrency", default=8, type=click.IntRange(1, 64),
              help="scores of a batch posted in parallel (threads)")
@with_appcontext
def worker(once: bool, batch: int, lease: float, poll: float, concurrency: int) -> None:
    """Deliver scores to the LMS (AGS) until stopped (SIGTERM finishes the current rows)."""
    from lti_tool.grading.worker import Drainer

    drainer = Drainer(current_app._get_current_object(), batch=batch,  # type: ignore[attr-defined]
                      lease=lease, poll=poll, listen=not once, concurrency=concurrency)
    drainer.stop_on_signals()
    handled = drainer.drain(once=once)
    click.echo(f"worker stopped: {handled} deliveries handled, {drainer.delivered} delivered",
               err=True)


@main.group()
def scores() -> None:
    """Scores waiting for, sent to or refused by the LMS (the outbox)."""


def _lag_line(lag: dict[str, Any]) -> str:
    age = lag["oldest_pending_age_seconds"]
    return (f"pending {lag['pending']} (due now {lag['due']})  sent {lag['sent']}  "
            f"failed {lag['failed']}  oldest waiting score: "
            f"{'-' if age is None else f'{age:.0f} s'}")


@scores.command("list")
@click.option("--failed", "status", flag_value="failed", help="only refused or given up")
@click.option("--pending", "status", flag_value="pending", help="only waiting")
@click.option("--limit", default=100, type=click.IntRange(1, 100000))
@with_appcontext
def scores_list(status: str | None, limit: int) -> None:
    """Deliveries, newest first, with the LMS's answer; the delivery lag first."""
    from lti_tool.grading.outbox import lag, list_messages

    with _db() as session:
        click.echo(_lag_line(lag(session)))
        rows = list_messages(session, status=status, limit=limit)
    for m in rows:
        s = m.score
        given = "-" if s is None or s.score_given is None else f"{s.score_given:g}"
        what = (f"{s.activity_progress}/{s.grading_progress} {given}"
                f" ({s.reason}, {s.timestamp:%Y-%m-%d %H:%M:%S})" if s else "(score gone)")
        when = f"next try {m.available_at:%Y-%m-%d %H:%M:%S}" if m.status == "pending" else \
            f"{m.updated_at:%Y-%m-%d %H:%M:%S}"
        click.echo(f"#{m.id}  {m.status:<7}  learner {m.learner or '?'}  link {m.link or '?'}  {what}  "
                   f"attempts {m.attempts}  {when}")
        if m.last_error or m.last_status:
            click.echo(f"    LMS: {m.last_status or '-'} {m.last_error or ''}")


@scores.command("retry")
@click.option("--id", "ids", type=int, multiple=True, help="an outbox row (see `scores list`)")
@click.option("--failed", is_flag=True, help="every failed row")
@with_appcontext
def scores_retry(ids: tuple[int, ...], failed: bool) -> None:
    """Try again now, with a fresh retry budget."""
    from lti_tool.grading.outbox import retry

    if not ids and not failed:
        raise click.UsageError("give --id N (repeatable) or --failed")
    with _db() as session:
        count = retry(session, ids=ids, failed=failed)
        session.commit()
    click.echo(f"{count} deliveries due again")


@scores.command("lag")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
@with_appcontext
def scores_lag(as_json: bool) -> None:
    """Delivery lag: rows per status, the oldest score still waiting."""
    import json

    from lti_tool.grading.outbox import lag

    with _db() as session:
        figures = lag(session)
    click.echo(json.dumps(figures) if as_json else _lag_line(figures))


# -- set-up and serving -------------------------------------------------------------------------
def ensure_dev_secret() -> None:
    """Dev/demo: write instance/secret_key before the app reads its settings. Written after (as
    `setup` once did), the app had already warned that the file was missing and taken a key for
    the process only; now the first run says "created" and later runs say nothing."""
    import os
    import secrets as _secrets

    from lti_tool.private_files import create_private, private_dir

    # Only the environment and the folders are read: a placeholder keeps load_settings from
    # looking for the file this function is about to write.
    paths = load_settings(secret_key="-")  # noqa: S106 (a placeholder, never used to sign)
    if paths.is_production or os.environ.get("SECRET_KEY"):
        return
    private_dir(paths.instance_dir)
    path = dev_secret_path(paths.instance_dir)
    if create_private(path, _secrets.token_urlsafe(48)):
        click.echo(f"created {path} (development secret key, kept for later runs)")


# with_appcontext=False: FlaskGroup would build the app (reading the secret) before the body.
@main.command("setup", with_appcontext=False)
def setup() -> None:
    """Dev/demo set-up: instance folder, development secret, keys, database."""
    from lti_tool.launch.wiring import tool_keys
    from lti_tool.private_files import private_dir

    ensure_dev_secret()  # before create_app, which reads it
    app = create_app()
    with app.app_context():
        settings = _settings()
        private_dir(settings.instance_dir)
        kid, created = tool_keys().generate()
        upgrade_database(settings.database_url)
    click.echo(f"set up: signing key {kid} ({'created' if created else 'kept'}), database migrated")


@main.command("run", with_appcontext=False)  # it builds its own app, once
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--server", type=click.Choice(["werkzeug", "granian"]), default="werkzeug",
              help="werkzeug: development server, delivers its own scores; granian: production "
              "server (run `lti-tool worker` beside it)")
@click.option("--workers", default=1, type=int, help="granian: worker processes (one per core)")
def run(host: str, port: int, server: str, workers: int) -> None:
    """Serve the tool (development server, or granian in production; see README)."""
    if server == "granian":
        # The cheaper server per request in bench/launch.py (issue 11). Its access log is off:
        # URLs carry page tokens, which only the gunicorn logger redacts (lti_tool/logs.py).
        from granian import Granian
        from granian.constants import Interfaces

        Granian("lti_tool:create_app", factory=True, interface=Interfaces.WSGI, address=host,
                port=port, workers=workers, log_access=False).serve()
        return
    from werkzeug.serving import run_simple

    from lti_tool.grading.worker import start_in_process

    app = create_app()
    start_in_process(app)  # single-process mode: the server delivers its own scores
    run_simple(host, port, app, threaded=True)


@main.command("demo", with_appcontext=False)  # it builds its own app, once
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int, help="the tool's port")
@click.option("--lms-port", default=5001, type=int, help="the demo LMS's port")
def demo(host: str, port: int, lms_port: int) -> None:
    """Serve the tool and, beside it, the embedded demo LMS (DEMO ONLY)."""
    import os

    from werkzeug.serving import make_server

    from lti_tool.db import get_session, utcnow
    from lti_tool.demo import DemoSettings, create_demo_lms
    from lti_tool.demo.seed import DEMO_USER_ORGANISATIONS, badge_lister, seed_demo
    from lti_tool.launch.wiring import tool_keys

    tool_url = f"http://{host}:{port}"
    lms_url = f"http://{host}:{lms_port}"
    os.environ.setdefault("LTI_TOOL_ENV", "demo")
    os.environ.setdefault("LTI_TOOL_BASE_URL", tool_url)
    # The demo LMS answers on loopback: the guarded outbound client must be allowed to call it.
    os.environ.setdefault("LTI_TOOL_OUTBOUND_PRIVATE_NETWORKS", "any")
    ensure_dev_secret()  # `lti-tool demo` without `setup` first keeps its pages across restarts
    settings = load_settings()
    app = create_app(settings)
    demo_settings = DemoSettings(
        base_url=lms_url,
        tool_base_url=settings.base_url,
        keys_dir=settings.keys_dir / "demo-platform",
        state_file=settings.instance_dir / "demo-lms.json",
        user_organisations=DEMO_USER_ORGANISATIONS,
    )
    with app.app_context():
        tool_keys().generate()
        upgrade_database(settings.database_url)
        session = get_session()
        # The registration, a territory with a concluded agreement and one without (issue 8).
        seeded = seed_demo(session, demo_settings, now=utcnow())
        session.commit()
        for change in seeded.changes:
            click.echo(f"demo: {change}", err=True)
    lms = create_demo_lms(demo_settings, badges=badge_lister(app, demo_settings))
    servers = [
        make_server(host, port, app, threaded=True),
        make_server(host, lms_port, lms, threaded=True),
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    from lti_tool.grading.worker import start_in_process

    start_in_process(app)  # grades reach the demo LMS without a separate worker
    click.echo(demo_banner(lms_url, tool_url))
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers[1:]:
            server.shutdown()  # its loop runs in the thread above; servers[0]'s has ended
        for server in servers:
            server.server_close()
    click.echo("demo stopped", err=True)


def demo_banner(lms_url: str, tool_url: str) -> str:
    """What `lti-tool demo` prints once both servers listen: the one URL to open, and how to stop."""
    return (
        f"\n  Open the demo LMS in your browser:  {lms_url}/\n"
        f"  The tool (its LTI configuration):   {tool_url}/lti/config\n"
        f"  Ctrl+C to stop.\n"
    )


main.add_command(learner_commands)  # lti-tool learner export|delete (Law 25)
main.add_command(awards_commands)  # lti-tool awards list|revoke|retry (badges)
awards_commands.add_command(awards_show)  # lti-tool awards show ID --credential (embedded)
main.add_command(territory)  # lti-tool territory add|set-agreement|list|seed (badges)
main.add_command(organisation)  # lti-tool organisation add|list|map (badges)
platform.add_command(allow_organisation_param)  # the launch's sexto_organisation parameter

if __name__ == "__main__":
    main()
