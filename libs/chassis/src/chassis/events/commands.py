"""`bazaar events ...`: run a service's worker, inspect and replay its dead letters."""

from __future__ import annotations

import click

from chassis.events.broker import connect, topology_of
from chassis.events.deadletters import list_dead_letters, replay_dead_letters
from chassis.registry import ServiceSpec, discover


def _spec(service: str) -> ServiceSpec:
    try:
        (spec,) = discover((service,)).values()
    except LookupError as exc:
        raise click.BadParameter(str(exc)) from exc
    if spec.events is None:
        raise click.BadParameter(f"{service} has no events")
    return spec


@click.group()
def events() -> None:
    """Event backbone: workers, dead letters."""


@events.command()
@click.argument("service")
def worker(service: str) -> None:
    """Relay SERVICE's outbox, run its handlers and periodic tasks."""
    from chassis.events.worker import run_worker

    spec = _spec(service)
    assert spec.events is not None  # noqa: S101 - checked by _spec
    run_worker(spec.settings_class(), spec.events)


@events.command()
@click.argument("service")
def dlq(service: str) -> None:
    """List SERVICE's dead-lettered events (they stay queued)."""
    settings = _spec(service).settings_class()
    with connect(settings) as connection:
        letters = list_dead_letters(connection, service, topology_of(settings))
    for letter in letters:
        click.echo(
            f"{letter.event_id}  {letter.type}  attempts={letter.attempts}  "
            f"at={letter.dead_lettered_at}  error={letter.error}"
        )
    click.echo(f"{len(letters)} dead-lettered event(s) for {service}")


@events.command()
@click.argument("service")
@click.option("--id", "event_ids", multiple=True, help="Only these event ids (default: all).")
def replay(service: str, event_ids: tuple[str, ...]) -> None:
    """Send SERVICE's dead-lettered events through its handlers again."""
    settings = _spec(service).settings_class()
    with connect(settings) as connection:
        replayed = replay_dead_letters(
            connection, service, set(event_ids) or None, topology_of(settings)
        )
    for letter in replayed:
        click.echo(f"replayed {letter.event_id}  {letter.type}")
    click.echo(f"{len(replayed)} event(s) replayed for {service}")
