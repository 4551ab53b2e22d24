"""The deploy files, parsed once per session."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from . import dockerfiles
from .facts import DEPLOY, Service, services
from .kustomize import Resource, render

RENDERINGS = ("base", "overlays/dev", "overlays/prod")


@pytest.fixture(scope="session")
def platform_services() -> dict[str, Service]:
    """Every installed service, from its ServiceSpec."""
    return services()


@pytest.fixture(scope="session")
def dockerfile() -> tuple[list[dockerfiles.Instruction], list[dockerfiles.Stage]]:
    """deploy/docker/Dockerfile: instructions before the first FROM, and the stages."""
    return dockerfiles.parse(DEPLOY / "docker" / "Dockerfile")


@pytest.fixture(scope="session")
def runtime_env(
    dockerfile: tuple[list[dockerfiles.Instruction], list[dockerfiles.Stage]],
) -> dict[str, str]:
    """The ENV of the image's final stage (what every container starts with)."""
    _, stages = dockerfile
    found: dict[str, str] = {}
    for instruction in stages[-1].all("ENV"):
        for pair in instruction.arguments.split():
            name, _, value = pair.partition("=")
            found[name] = value.strip('"')
    return found


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """deploy/compose.yaml, anchors and merge keys resolved."""
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="session", params=RENDERINGS)
def rendering(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    """(name, resources) of the kustomize base and of each overlay."""
    name: str = request.param
    return name, render(DEPLOY / "k8s" / name)
