"""How the `bazaar` command finds services: each declares a ServiceSpec entry point."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

import click

from chassis.events.spec import EventsSpec
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
    # Hooks take the service's own settings class (built from `settings_class`), so they are
    # typed `Callable[..., X]`: a subclass parameter cannot satisfy `[ServiceSettings]`.
    seed: Callable[..., int] | None = None
    start_order: int = 50  # lower starts first; the gateway starts last
    commands: tuple[click.Group, ...] = ()  # extra `bazaar <group> ...` commands
    # Environment the other services get from `bazaar up` (e.g. where to find the JWKS).
    platform_env: Callable[..., dict[str, str]] | None = None
    # Lines `bazaar up` prints once everything runs (e.g. the demo accounts).
    announce: Callable[..., list[str]] | None = None
    # Handlers and periodic tasks `bazaar events worker <name>` runs; None: no events.
    events: EventsSpec | None = None
    # "module:function" adding the service's gRPC servicers to a server: called as
    # `register(server, app)`, it returns their full names. None: no gRPC API.
    rpc: str | None = None


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


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A port nothing listens on, below the ephemeral range (for a platform's extra processes).

    A port the kernel hands out for `bind(0)` comes from the ephemeral range, where any
    outgoing connection may take it as its local port before our server binds it.
    """
    low, _ = _ephemeral_range()
    candidates = random.sample(range(max(1024, low - 12000), low), k=64)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(data_dir: Path) -> dict[str, str]:
    """Environment for a whole platform on free ports with its own data folder.

    Each service gets `BAZAAR_<NAME>_PORT` and `BAZAAR_<NAME>_URL` (how its callers find
    it), and the gateway routes to every WSGI service. Used by system tests and benchmarks.
    """
    env = {"BAZAAR_DATA_DIR": str(data_dir)}
    upstreams = {}
    for spec in discover().values():
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env[f"BAZAAR_{spec.name.upper()}_PORT"] = str(port)
        env[f"BAZAAR_{spec.name.upper()}_URL"] = url
        if spec.rpc is not None:
            grpc_port = free_port()
            env[f"BAZAAR_{spec.name.upper()}_GRPC_PORT"] = str(grpc_port)
            env[f"BAZAAR_{spec.name.upper()}_GRPC_TARGET"] = f"127.0.0.1:{grpc_port}"
        if spec.kind == "wsgi":
            upstreams[spec.name] = url
    env["BAZAAR_GATEWAY_UPSTREAMS"] = json.dumps(upstreams)
    if "BAZAAR_GATEWAY_URL" in env:
        # Where browsers reach the platform (auth's issuer and redirect URIs derive from it).
        env["BAZAAR_PUBLIC_ORIGIN"] = env["BAZAAR_GATEWAY_URL"]
    return env
