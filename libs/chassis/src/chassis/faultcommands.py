"""`bazaar faults list | set NAME VALUE | clear`: the operator's switches, from a shell."""

from __future__ import annotations

import getpass

import click

from chassis import faults
from chassis.errors import ProblemError
from chassis.settings import ServiceSettings, UnsafeConfiguration


def _flags() -> faults.Faults:
    # The platform-wide settings (BAZAAR_REDIS_URL, BAZAAR_DATA_DIR, BAZAAR_ENV): the same
    # store every service reads.
    try:
        settings = ServiceSettings()
    except UnsafeConfiguration as exc:
        raise click.ClickException(str(exc)) from exc
    return faults.Faults(faults.store_from_settings(settings), service="cli")


def _fail(exc: ProblemError) -> click.ClickException:
    return click.ClickException(exc.detail or exc.title)


def _show(name: str, value: float) -> str:
    fault = faults.FAULTS[name]
    shown = "off" if not value else "on" if fault.kind == "switch" else f"{value:g}"
    unit = " ms" if fault.kind == "milliseconds" and value else ""
    return f"{name:24} {shown + unit:10} {fault.description}"


@click.group("faults")
def faults_group() -> None:
    """Fault flags: slow or failing dependencies on demand (never in production)."""


@faults_group.command("list")
def list_faults() -> None:
    """Every fault flag and its value."""
    try:
        values = _flags().all()
    except ProblemError as exc:
        raise _fail(exc) from exc
    for name, value in values.items():
        click.echo(_show(name, value))


@faults_group.command("set")
@click.argument("name")
@click.argument("value")
def set_fault(name: str, value: str) -> None:
    """Set fault NAME to VALUE (on/off, a share such as 0.3 or 30%, or milliseconds)."""
    try:
        stored = _flags().set(name, value, by=f"cli:{getpass.getuser()}")
    except ProblemError as exc:
        raise _fail(exc) from exc
    click.echo(_show(name, stored))


@faults_group.command("clear")
def clear_faults() -> None:
    """Turn every fault flag off."""
    try:
        _flags().clear(by=f"cli:{getpass.getuser()}")
    except ProblemError as exc:
        raise _fail(exc) from exc
    click.echo("every fault is off")
