"""How the `bazaar` command finds services: each declares a ServiceSpec entry point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

import click

from chassis.settings import ServiceSettings

ENTRY_POINT_GROUP = "bazaar.services"


@dataclass(frozen=True)
class ServiceSpec:
    """What the CLI needs to migrate, seed and serve one service."""

    name: str
    kind: Literal["wsgi", "asgi"]
    app_factory: str  # "module:function", called with no arguments by the server
    settings_class: type[ServiceSettings]
    migrations: Path | None = None
    seed: Callable[[ServiceSettings], int] | None = None
    start_order: int = 50  # lower starts first; the gateway starts last
    commands: tuple[click.Group, ...] = ()  # extra `bazaar <group> ...` commands
    # Environment the other services get from `bazaar up` (e.g. where to find the JWKS).
    platform_env: Callable[[ServiceSettings], dict[str, str]] | None = None
    # Lines `bazaar up` prints once everything runs (e.g. the demo accounts).
    announce: Callable[[ServiceSettings], list[str]] | None = None


def discover(names: tuple[str, ...] = ()) -> dict[str, ServiceSpec]:
    """The named installed services (all when none are named), in start order."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise LookupError(f"unknown service(s): {', '.join(unknown)}; know {', '.join(found)}")
    specs = [found[n].load() for n in (names or tuple(found))]
    for spec in specs:
        if not isinstance(spec, ServiceSpec):
            raise TypeError(f"{spec!r} is not a ServiceSpec")
    return {spec.name: spec for spec in sorted(specs, key=lambda s: (s.start_order, s.name))}
