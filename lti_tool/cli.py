"""The `lti-tool` command (a Flask CLI group): serve, set up, keys, registrations, content.

Everything with side effects (migrations, key generation, network) lives here, not in create_app.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from lti_tool import create_app
from lti_tool.config import PROJECT_ROOT, dev_secret_path, load_settings


def _create(*_args: Any) -> Any:
    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Sexto Architect LTI 1.3 tool."""


def _settings() -> Any:
    return current_app.extensions["settings"]


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
    """Keys and their status."""
    from lti_tool.launch.wiring import tool_keys

    entries = tool_keys().listing()
    if not entries:
        click.echo("no keys: run `lti-tool keys generate`")
    for entry in entries:
        click.echo(f"{entry['kid']}  {entry['status']:<8}  created {entry['created_at']}")


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
    from lti_tool.db import get_session
    from lti_tool.launch.registry import RegistrationConflict, add_platform

    session = get_session()
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
        )
    except RegistrationConflict as exc:
        raise click.ClickException(str(exc)) from exc
    session.commit()
    click.echo(
        f"registered {reg.issuer} client_id={reg.client_id} family={reg.family} "
        f"deployments={','.join(d.deployment_id for d in reg.deployments)}"
    )


@platform.command("list")
@with_appcontext
def platform_list() -> None:
    """Registered platforms and their deployments."""
    from lti_tool.db import get_session
    from lti_tool.launch.registry import list_platforms

    platforms = list_platforms(get_session())
    if not platforms:
        click.echo("no platform registered")
    for p in platforms:
        deployments = ", ".join(d.deployment_id for d in p.deployments) or "(none)"
        click.echo(
            f"{p.issuer}  client_id={p.client_id}  family={p.family}  deployments: {deployments}"
        )


@platform.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", default=None, help="remove only this deployment")
@with_appcontext
def platform_remove(issuer: str, client_id: str, deployment_id: str | None) -> None:
    """Remove a registration (and its learners' data), or one of its deployments."""
    from lti_tool.db import get_session
    from lti_tool.launch.registry import remove_platform

    session = get_session()
    if not remove_platform(session, issuer, client_id, deployment_id):
        raise click.ClickException("nothing matched: see `lti-tool platform list`")
    session.commit()
    click.echo("removed")


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


# -- set-up and serving -------------------------------------------------------------------------
@main.command("setup")
@with_appcontext
def setup() -> None:
    """Dev/demo set-up: instance folder, development secret, keys, database."""
    settings = _settings()
    import secrets as _secrets

    from lti_tool.private_files import create_private, private_dir

    private_dir(settings.instance_dir)
    if not settings.is_production:
        create_private(dev_secret_path(settings.instance_dir), _secrets.token_urlsafe(48))
    from lti_tool.launch.wiring import tool_keys

    tool_keys().generate()
    upgrade_database(settings.database_url)
    click.echo("set up: keys, database")


@main.command("run")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def run(host: str, port: int) -> None:
    """Serve the tool (development server; use gunicorn in production, see README)."""
    from werkzeug.serving import run_simple

    run_simple(host, port, create_app(), threaded=True)


@main.command("demo")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int, help="the tool's port")
@click.option("--lms-port", default=5001, type=int, help="the demo LMS's port")
def demo(host: str, port: int, lms_port: int) -> None:
    """Serve the tool and, beside it, the embedded demo LMS (DEMO ONLY)."""
    import os

    from werkzeug.serving import make_server

    from lti_tool.db import get_session
    from lti_tool.demo import DemoSettings, create_demo_lms, register_demo_lms
    from lti_tool.launch.wiring import tool_keys

    tool_url = f"http://{host}:{port}"
    lms_url = f"http://{host}:{lms_port}"
    os.environ.setdefault("LTI_TOOL_ENV", "demo")
    os.environ.setdefault("LTI_TOOL_BASE_URL", tool_url)
    settings = load_settings()
    app = create_app(settings)
    demo_settings = DemoSettings(
        base_url=lms_url,
        tool_base_url=settings.base_url,
        keys_dir=settings.keys_dir / "demo-platform",
        state_file=settings.instance_dir / "demo-lms.json",
    )
    with app.app_context():
        tool_keys().generate()
        upgrade_database(settings.database_url)
        session = get_session()
        register_demo_lms(session, demo_settings)
        session.commit()
    lms = create_demo_lms(demo_settings)
    servers = [
        make_server(host, port, app, threaded=True),
        make_server(host, lms_port, lms, threaded=True),
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    click.echo(
        f"\n  Demo LMS (open this):  {lms_url}/\n  Tool:                  {tool_url}/lti/config\n"
    )
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
