"""What the deploy files must agree with, read from the code: each service's spec and settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from chassis.registry import ServiceSpec, discover
from chassis.settings import ServiceSettings, UnsafeConfiguration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Settings fields that name infrastructure, not another service.
INFRASTRUCTURE_URLS = frozenset({"database_url", "redis_url", "broker_url", "jwks_url"})
# The image's writable places, inside the container (HOME and BAZAAR_DATA_DIR live in /tmp).
CONTAINER_TMP = "/tmp"  # noqa: S108 - a path in the container, not a temporary file here
# A secret key production accepts (the validator wants 32 characters at least).
FAKE_SECRET = "s" * 48


@dataclass(frozen=True)
class Service:
    """One service as the deploy files must run it."""

    spec: ServiceSpec

    @property
    def name(self) -> str:
        """The service's name (image, container, Service and env prefix)."""
        return self.spec.name

    @property
    def settings_class(self) -> type[ServiceSettings]:
        """The service's settings class."""
        return self.spec.settings_class

    @property
    def port(self) -> int:
        """The port the service listens on when nothing overrides it."""
        return self.spec.settings_class.default_port

    @property
    def has_database(self) -> bool:
        """Whether it keeps data (and so has migrations, a database, a migrate step)."""
        return self.spec.migrations is not None

    @property
    def has_events(self) -> bool:
        """Whether it runs an events worker (and so needs the broker)."""
        return self.spec.events is not None

    def calls(self) -> dict[str, str]:
        """Other services it calls, by name -> the settings field that holds the URL.

        `<service>_url` fields, and the gateway's `upstreams` (every name in its default).
        """
        fields = self.settings_class.model_fields
        found = {
            name.removesuffix("_url"): name
            for name in fields
            if name.endswith("_url") and name not in INFRASTRUCTURE_URLS
        }
        if "upstreams" in fields:
            found.update(dict.fromkeys(fields["upstreams"].default, "upstreams"))
        return found


def services() -> dict[str, Service]:
    """Every installed service, in start order."""
    return {name: Service(spec) for name, spec in discover().items()}


def production_requirements(service: Service) -> set[str]:
    """Settings production refuses to start without, read from the validators.

    Settings are built with BAZAAR_ENV=production and nothing else; the refusal names what
    is missing ("set BAZAAR_JWKS_URL or BAZAAR_JWT_PUBLIC_KEY": the first is the one we use).
    Required fields (no default) are added too. Returns field names (`secret_key`).
    """
    needed = {
        name for name, field in service.settings_class.model_fields.items() if field.is_required()
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BAZAAR_ENV", "production")
        try:
            service.settings_class()
        except UnsafeConfiguration as refusal:
            for problem in str(refusal).split(":", 1)[1].split(";"):
                variable = re.findall(r"BAZAAR_([A-Z0-9_]+)", problem)[0]
                needed.add(variable.lower())
    return needed


def deployment_requirements(service: Service) -> set[str]:
    """Beyond the validators: settings a multi-replica deployment must set (field names).

    A database (the default is a SQLite file in the container), Redis (the revocation list
    every replica must share), the broker where there is an events worker, and where to
    find each service it calls.
    """
    needed = {"redis_url", *service.calls().values()}
    if service.has_database:
        needed.add("database_url")
    if service.has_events:
        needed.add("broker_url")
    return needed


def missing_settings(service: Service, environment: Mapping[str, str]) -> set[str]:
    """Required settings (production's and the deployment's) this environment does not set.

    A field is set by `BAZAAR_<SERVICE>_<FIELD>` or `BAZAAR_<FIELD>`, as the settings read it.
    """
    prefixes = (f"BAZAAR_{service.name.upper()}_", "BAZAAR_")
    return {
        field
        for field in production_requirements(service) | deployment_requirements(service)
        if not any(prefix + field.upper() in environment for prefix in prefixes)
    }


def settings_from(service: Service, environment: Mapping[str, str]) -> ServiceSettings:
    """The service's settings as a container with exactly this environment would build them."""
    with pytest.MonkeyPatch.context() as env:
        for name in environment:
            env.setenv(name, environment[name])
        return service.settings_class()
