"""Operator commands: `bazaar auth create-client`, `keys rotate`, `users create-admin`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import click

from auth.clients.service import create_client
from auth.components import AuthComponents
from auth.keys.service import ALGORITHMS, DEFAULT_ID_TOKEN_ALGORITHM, KeysManagedOutside
from auth.registration import register
from auth.settings import AuthSettings
from chassis.db import Database
from chassis.errors import ProblemError


@contextmanager
def _components() -> Iterator[AuthComponents]:
    settings = AuthSettings()
    db = Database(settings.database_url)
    parts = AuthComponents.build(settings, db)
    try:
        yield parts
    finally:
        parts.close()
        db.dispose()


def _fail(error: ProblemError) -> click.ClickException:
    return click.ClickException(error.detail or error.title)


@click.group("auth")
def auth_group() -> None:
    """OAuth clients of the auth service."""


@auth_group.command("create-client")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A scope the client may obtain (repeat, or separate with spaces).",
)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    help="A redirect URI for the code flow (repeat); matched exactly. None: no code flow.",
)
@click.option(
    "--id-token-alg",
    type=click.Choice(ALGORITHMS),
    default=DEFAULT_ID_TOKEN_ALGORITHM,
    show_default=True,
    help="How its ID tokens are signed (id_token_signed_response_alg).",
)
def create_client_command(
    name: str, scopes: tuple[str, ...], redirect_uris: tuple[str, ...], id_token_alg: str
) -> None:
    """Create a client (client_credentials; the code flow with --redirect-uri), secret once."""
    wanted = [scope for option in scopes for scope in option.split()]
    with _components() as parts:
        try:
            with parts.db.session() as session:
                secret = create_client(
                    session=session,
                    passwords=parts.passwords,
                    client_id=name,
                    scopes=wanted,
                    redirect_uris=redirect_uris,
                    id_token_alg=id_token_alg,
                )
        except ProblemError as exc:
            raise _fail(exc) from exc
    click.echo(f"client_id: {name}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"scope: {' '.join(dict.fromkeys(wanted))}")
    for uri in redirect_uris:
        click.echo(f"redirect_uri: {uri}")
    if redirect_uris:
        click.echo(f"id_token_signed_response_alg: {id_token_alg}")
    click.echo("Store the secret now: only its hash is kept, it cannot be shown again.")


@click.group("keys")
def keys_group() -> None:
    """Token signing keys of the auth service."""


@keys_group.command("rotate")
@click.option(
    "--alg",
    "algs",
    type=click.Choice(ALGORITHMS),
    multiple=True,
    help="The line to rotate (repeat). Default: every line whose key is stored here.",
)
def rotate_command(algs: tuple[str, ...]) -> None:
    """Add a signing key per line (it signs after a short lead) and retire the current one."""
    with _components() as parts:
        chosen = algs or tuple(a for a in ALGORITHMS if not parts.keys.managed_outside(a))
        if not chosen:
            raise click.ClickException("every signing key comes from the environment")
        report: list[str] = []
        try:
            with parts.db.session() as session:
                for alg in chosen:
                    new, retiring = parts.keys.rotate(session, alg)
                    report.append(f"new {alg} signing key: {new.kid} (published now)")
                    report += [
                        f"retired: {key.kid} (signs until {_when(key.retired_at)})"
                        for key in retiring
                    ]
        except KeysManagedOutside as exc:
            raise click.ClickException(str(exc)) from exc
    for line in report:
        click.echo(line)


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


@keys_group.command("list")
def list_command() -> None:
    """The published keys: kid, when created, until when it signs."""
    with _components() as parts, parts.db.session() as session:
        for key in parts.keys.published(session):
            until = f"signs until {_when(key.retired_at)}" if key.retired_at else "active"
            click.echo(f"{key.kid}  {key.alg}  created {_when(key.created_at)}  {until}")


@click.group("users")
def users_group() -> None:
    """Accounts (auth's part: credentials and roles)."""


@users_group.command("create-admin")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--display-name", default="Administrator", show_default=True)
def create_admin_command(email: str, password: str, display_name: str) -> None:
    """Create an admin account (credentials here, the profile in users: it must be running)."""
    with _components() as parts:
        parts.ensure_signing_keys()
        try:
            with parts.db.session() as session:
                credential = register(
                    session=session,
                    passwords=parts.passwords,
                    profiles=parts.profiles,
                    email=email,
                    password=password,
                    display_name=display_name,
                    roles=("admin",),
                )
        except ProblemError as exc:
            raise _fail(exc) from exc
    click.echo(f"admin {credential.email} created (id {credential.id})")
