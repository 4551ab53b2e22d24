"""Typed settings shared by every service: environment variables only, `BAZAAR_` prefix."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Only usable in development and tests; production refuses to start with it.
DEVELOPMENT_SECRET = "bazaar-development-secret-do-not-use-in-production"  # noqa: S105


class UnsafeConfiguration(Exception):
    """Raised when production settings keep a development default.

    Not a ValueError: pydantic would wrap that in a ValidationError and hide this class.
    """


# A service's gRPC port is its HTTP port plus this, unless set (catalog 8001 -> 9001).
GRPC_PORT_OFFSET = 1000


class ServiceSettings(BaseSettings):
    """Base settings; a service subclasses it and sets `service_name`.

    Each field reads `BAZAAR_<SERVICE>_<FIELD>` first, then `BAZAAR_<FIELD>`, so
    `BAZAAR_CATALOG_DATABASE_URL` targets one service and `BAZAAR_ENV` all of them.
    """

    model_config = SettingsConfigDict(env_prefix="BAZAAR_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "service"
    default_port: ClassVar[int] = 8000

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 0
    # gRPC: the service's port + 1000 unless set, for a service with a gRPC API (catalog so
    # far; docs/status.md says what is not wired yet).
    grpc_port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Path("var")
    log_level: str = "INFO"
    # auto: JSON lines, except readable lines on a terminal outside production.
    log_format: Literal["auto", "console", "json"] = "auto"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    database_url: str = ""
    redis_url: str | None = None
    # Response caches (Redis when redis_url is set, else a folder under data_dir); false: none.
    cache_enabled: bool = True
    broker_url: str | None = None
    # Prefix of exchange and queue names, so platforms can share one broker.
    broker_namespace: str = Field(default="bazaar", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str = "bazaar-auth"
    jwt_audience: str = "bazaar"
    max_body_bytes: int = 1024 * 1024
    workers: int = 2
    threads: int = 8
    # Handler threads of `bazaar events worker` (1 on SQLite); its pool holds two more
    # connections, for the relay and the periodic tasks.
    events_concurrency: int = Field(default=8, ge=1, le=64)
    # Port on which `bazaar events worker` serves /metrics, /livez and /readyz; 0: none.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    # A worker loop without a round, or a handler running, for longer than this fails /livez.
    worker_stall_seconds: float = Field(default=60.0, gt=0)
    # Traces (ADR 0024): OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set, else a span file
    # under data_dir for `bazaar trace`; false sets nothing up.
    otel_enabled: bool = True
    # Share of new traces kept; a request carrying a traceparent follows its caller's choice.
    otel_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Bounds of the span file used without a collector.
    otel_store_max_mb: int = Field(default=64, ge=1)
    otel_store_max_age_hours: float = Field(default=24.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read the service-specific prefix before the shared one."""
        service_env = EnvSettingsSource(
            settings_cls, env_prefix=f"BAZAAR_{cls.service_name.upper()}_"
        )
        return (init_settings, service_env, env_settings, file_secret_settings)

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data.get("port"):
                data["port"] = cls.default_port
            if not data.get("grpc_port"):
                data["grpc_port"] = cls.default_port + GRPC_PORT_OFFSET
            if not data.get("database_url"):
                data_dir = Path(data.get("data_dir") or "var")
                data["database_url"] = f"sqlite:///{data_dir / cls.service_name}.db"
        return data

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> ServiceSettings:
        if self.env == "production":
            problems = []
            if self.secret_key.get_secret_value() == DEVELOPMENT_SECRET:
                problems.append("BAZAAR_SECRET_KEY is the development default")
            if len(self.secret_key.get_secret_value()) < 32:
                problems.append("BAZAAR_SECRET_KEY must be at least 32 characters")
            if not (self.jwt_public_key or self.jwks_url):
                problems.append("set BAZAAR_JWKS_URL or BAZAAR_JWT_PUBLIC_KEY")
            problems += self.production_problems()
            if problems:
                raise UnsafeConfiguration(
                    f"refusing to start {self.service_name} in production: " + "; ".join(problems)
                )
        return self

    def production_problems(self) -> list[str]:
        """What a service's own settings lack for production; one refusal names them all."""
        return []

    @property
    def base_url(self) -> str:
        """The URL this service listens on."""
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Make `env` the whole process environment for the block (settings classes read it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
