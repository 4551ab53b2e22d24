"""`bazaar`: migrate, seed, serve one service, or bring the whole platform up."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from chassis import faults, migrations
from chassis.events.commands import events
from chassis.faultcommands import faults_group
from chassis.registry import ServiceSpec, discover
from chassis.settings import ServiceSettings, environment
from chassis.supervisor import Supervisor, preload
from chassis.tracecommands import trace_command, traces_command


def _specs(names: tuple[str, ...]) -> list[ServiceSpec]:
    try:
        return list(discover(names).values())
    except LookupError as exc:
        raise click.BadParameter(str(exc)) from exc


def migrate_service(spec: ServiceSpec, settings: ServiceSettings) -> bool:
    """Upgrade one service's database to head; False when it has no migrations."""
    if spec.migrations is None:
        return False
    migrations.upgrade(spec.migrations, settings.database_url)
    return True


class BazaarGroup(click.Group):
    """The built-in commands plus each installed service's own group, loaded on demand."""

    def _service_groups(self) -> dict[str, click.Command]:
        try:
            specs = discover()
        except Exception:  # a broken service must not take `bazaar migrate` down with it
            return {}
        return {
            group.name or spec.name: group for spec in specs.values() for group in spec.commands
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in commands, then service groups."""
        return [*super().list_commands(ctx), *sorted(self._service_groups())]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in command, or a service's group of that name."""
        return super().get_command(ctx, cmd_name) or self._service_groups().get(cmd_name)


@click.group(cls=BazaarGroup)
def main() -> None:
    """Bazaar platform commands."""


@main.command()
@click.argument("services", nargs=-1)
def migrate(services: tuple[str, ...]) -> None:
    """Run each service's migrations to head."""
    for spec in _specs(services):
        if migrate_service(spec, spec.settings_class()):
            click.echo(f"{spec.name}: migrated")


@main.command()
@click.argument("services", nargs=-1)
@click.option("--no-migrate", is_flag=True, help="The databases are migrated already.")
def seed(services: tuple[str, ...], no_migrate: bool) -> None:
    """Load demo data into services whose data is empty."""
    for spec in _specs(services):
        if spec.seed is not None:
            settings = spec.settings_class()
            if not no_migrate:
                migrate_service(spec, settings)
            count = spec.seed(settings)
            click.echo(f"{spec.name}: " + (f"seeded {count} rows" if count else "data kept"))


@main.command()
@click.argument("service")
@click.option("--no-migrate", is_flag=True, help="Skip migrations at start.")
def serve(service: str, no_migrate: bool) -> None:
    """Migrate, then replace this process with the service's production server."""
    (spec,) = _specs((service,))
    settings = spec.settings_class()
    if not no_migrate:
        migrate_service(spec, settings)
    os.execvp(sys.executable, [sys.executable, "-m", *server_argv(spec, settings)])  # noqa: S606


def server_argv(spec: ServiceSpec, settings: ServiceSettings) -> list[str]:
    """The server command line (after `python -m`) for one service."""
    bind = f"{settings.host}:{settings.port}"
    if spec.kind == "asgi":
        return [
            "uvicorn", spec.app_factory, "--factory",
            "--host", settings.host, "--port", str(settings.port),
            "--loop", "uvloop", "--http", "httptools",
            "--workers", str(settings.workers),
            "--no-access-log", "--timeout-keep-alive", "75",
        ]  # fmt: skip
    if settings.threads > 1:
        # For requests that wait on more than the service's database (streams, calls to
        # other services). Keep-alive longer than the callers' pool idle time, so the
        # server never closes first.
        model = ["--worker-class", "gthread", "--threads", str(settings.threads),
                 "--keep-alive", "75"]  # fmt: skip
    else:
        # A sync worker accepts a connection only when it is free, so the kernel spreads
        # requests over the workers. gthread workers accept eagerly and keep their
        # keep-alive connections, which can pile onto one worker and idle a core (ADR 0010).
        model = ["--worker-class", "sync"]
    return [
        "gunicorn", f"{spec.app_factory}()",
        "--bind", bind,
        "--workers", str(settings.workers),
        *model,
        "--graceful-timeout", "10",
        "--error-logfile", "-",
        # gunicorn 24+ opens a control socket under $HOME, one path shared by every
        # service on the host (and unwritable on a read-only root filesystem): not used.
        "--no-control-socket",
    ]  # fmt: skip


# Server modules every child needs; imported once by `up` when it forks its children.
_SERVER_MODULES = (
    "gunicorn.app.wsgiapp",
    "gunicorn.workers.gthread",
    "gunicorn.workers.sync",
    "uvicorn.main",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "chassis.events.worker",
)


@main.command()
@click.option("--seed/--no-seed", "do_seed", default=True, help="Load demo data when empty.")
@click.option(
    "--fork/--no-fork",
    default=sys.platform == "linux",
    show_default="on Linux",
    help="Fork every process from one that has imported everything (less memory, faster "
    "start), or start each as a new interpreter.",
)
def up(do_seed: bool, fork: bool) -> None:
    """Start every service on embedded defaults, seed, print the URL; Ctrl-C stops all."""
    specs = _specs(())
    supervisor = Supervisor(fork=fork)
    for spec in specs:
        if spec.platform_env is not None:
            for key, value in spec.platform_env(spec.settings_class()).items():
                os.environ.setdefault(key, value)
    # One server process per service is plenty for one person on a laptop, and keeps the
    # whole platform near 400 MB; production sizes its workers per pod (operations.md).
    os.environ.setdefault("BAZAAR_WORKERS", "1")
    if sys.stdout.isatty() and os.environ.get("BAZAAR_ENV") != "production":
        # The children write into pipes, so they cannot see the terminal themselves.
        os.environ.setdefault("BAZAAR_LOG_FORMAT", "console")
        os.environ.setdefault("FORCE_COLOR", "1")
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    for spec in specs:
        settings = spec.settings_class()
        migrate_service(spec, settings)
        if not settings.redis_url:
            # The local cache is disposable, and data may have changed while we were down.
            shutil.rmtree(settings.data_dir / "cache", ignore_errors=True)
    # Faults are off in a platform that starts, whatever an earlier run left on.
    fault_store = faults.store_from_settings(ServiceSettings())
    if fault_store is not None:
        with contextlib.suppress(faults.FaultStoreUnavailable):
            fault_store.clear()
    if fork:
        preload([*_SERVER_MODULES, *(spec.app_factory.partition(":")[0] for spec in specs)])
    metrics_root = Path(env.get("BAZAAR_DATA_DIR", "var")) / "metrics"
    code = 1
    try:
        # Workers first: they boot while the services do, and are consuming by the time
        # the platform is announced.
        for spec in specs:
            if spec.events is not None:
                supervisor.start(
                    f"{spec.name}-worker",
                    [sys.executable, "-m", "chassis", "events", "worker", spec.name],
                    env,
                    restart=True,  # as an orchestrator would: a worker holds no state
                )
        for spec in specs:
            _start(supervisor, spec, env, metrics_root / spec.name)
        for spec in specs:
            if not supervisor.wait_ready(f"{spec.settings_class().base_url}/livez"):
                supervisor.say(f"{spec.name} did not start")
                raise SystemExit(1)
        # Seeds run once every service answers: one service's demo data may need another.
        # In a child of their own, so this long-lived parent stays small.
        if do_seed:
            seeded = supervisor.run(
                "seed", [sys.executable, "-m", "chassis", "seed", "--no-migrate"], env
            )
            if seeded != 0:
                supervisor.say(f"seeding failed (exit code {seeded})")
                raise SystemExit(1)
        lines: list[str] = []
        for spec in specs:
            if spec.announce is not None:
                lines += spec.announce(spec.settings_class())
        for line in lines:
            supervisor.say(line)
        gateway = next((s for s in specs if s.kind == "asgi"), None)
        if gateway is not None:
            url = gateway.settings_class().base_url
            supervisor.say(
                f"Bazaar is up: {url}/  (API: {url}/api/catalog/products, docs: {url}/api/docs)."
                " Ctrl-C stops it."
            )
        code = supervisor.wait()
    finally:
        supervisor.stop()
    raise SystemExit(code)


def _start(supervisor: Supervisor, spec: ServiceSpec, env: dict[str, str], metrics: Path) -> None:
    """Start one service's server under the supervisor (already migrated)."""
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True, exist_ok=True)
    child_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics.resolve())}
    # Settings as the child will read them, from its own environment.
    with environment(child_env):
        argv = server_argv(spec, spec.settings_class())
    supervisor.start(spec.name, [sys.executable, "-m", *argv], child_env)


@main.command()
def status() -> None:
    """Ask each service's /readyz and print what it says."""
    import httpx

    failing = False
    for spec in _specs(()):
        settings = spec.settings_class()
        try:
            response = httpx.get(f"{settings.base_url}/readyz", timeout=2.0)
            state = "ready" if response.status_code == 200 else f"not ready ({response.text})"
            failing |= response.status_code != 200
        except httpx.HTTPError as exc:
            state, failing = f"down ({type(exc).__name__})", True
        click.echo(f"{spec.name:10} {settings.base_url:28} {state}")
    raise SystemExit(1 if failing else 0)


@main.command()
@click.argument("service")
def openapi(service: str) -> None:
    """Print a service's OpenAPI document (JSON), built in-process: no server, no network."""
    (spec,) = _specs((service,))
    click.echo(json.dumps(openapi_document(spec), indent=2, ensure_ascii=False))


def openapi_document(spec: ServiceSpec) -> dict[str, Any]:
    """Build the service's app with default settings in a throwaway folder; its document."""
    if spec.kind != "wsgi":
        raise click.UsageError(
            f"{spec.name} has no document of its own: it serves /api/openapi.json, "
            "merged from the running services' documents"
        )
    module, _, factory = spec.app_factory.partition(":")
    # Logs go to stdout, which carries the document; the environment may point at real
    # databases or brokers, which must not be touched: defaults only, in a temporary folder.
    with (
        contextlib.redirect_stdout(sys.stderr),
        environment({k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}),
        tempfile.TemporaryDirectory(prefix=f"bazaar-openapi-{spec.name}-") as data_dir,
    ):
        settings = spec.settings_class(data_dir=Path(data_dir), log_format="console")
        # Some factories read their database at start (auth loads its signing key).
        migrate_service(spec, settings)
        app = getattr(importlib.import_module(module), factory)(settings)
        document = app.spec
    if not isinstance(document, dict):
        raise click.UsageError(f"{spec.name} does not build an OpenAPI document")
    return document


main.add_command(events)
main.add_command(faults_group)
main.add_command(trace_command)
main.add_command(traces_command)

if __name__ == "__main__":
    main()
