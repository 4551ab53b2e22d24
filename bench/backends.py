"""The real backends a run borrows: fresh PostgreSQL databases, a Redis key prefix and a
RabbitMQ namespace of its own, all removed again at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import redis
from kombu.connection import Connection
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from chassis.events.broker import Topology
from chassis.registry import discover
from chassis.settings import ServiceSettings

POSTGRES = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
SERVICES_WITH_DATABASES = ("catalog", "auth", "users", "orders", "payments")


@dataclass
class RealBackends:
    """Where one run's databases, Redis keys and broker names live."""

    namespace: str
    databases: dict[str, str] = field(default_factory=dict)
    redis_url: str = REDIS
    broker_url: str = RABBITMQ

    def env(self) -> dict[str, str]:
        """The platform's settings for these backends."""
        env = {
            "BAZAAR_REDIS_URL": self.redis_url,
            "BAZAAR_BROKER_URL": self.broker_url,
            "BAZAAR_BROKER_NAMESPACE": self.namespace,
            # Our own prefix, so the keys can be found and removed afterwards.
            "BAZAAR_GATEWAY_RATE_LIMIT_KEY_PREFIX": f"{self.namespace}:ratelimit",
            # The production server model (the settings' default workers), not `bazaar up`'s
            # laptop default of one: this run is what a pod serves. BAZAAR_WORKERS overrides it.
            "BAZAAR_WORKERS": os.environ.get(
                "BAZAAR_WORKERS", str(ServiceSettings.model_fields["workers"].default)
            ),
        }
        for service, url in self.databases.items():
            env[f"BAZAAR_{service.upper()}_DATABASE_URL"] = url
        return env


def _as_admin(statement: str) -> None:
    """Run one statement outside a transaction (CREATE and DROP DATABASE need that)."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


def create_database(name: str) -> str:
    """Create an empty database; its SQLAlchemy URL."""
    _as_admin(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    """Drop a database, disconnecting whoever still uses it."""
    _as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_keys(url: str, pattern: str) -> int:
    """Delete the keys matching `pattern`; how many there were."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 500:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
        return deleted
    finally:
        client.close()


def delete_broker_namespace(url: str, namespace: str) -> None:
    """Remove a namespace's exchanges and queues from RabbitMQ."""
    topology = Topology(namespace)
    # kombu ships type hints for part of its API only, hence the ignores.
    with Connection(url, connect_timeout=5) as connection:  # type: ignore[no-untyped-call]
        channel = connection.default_channel
        for name in discover():
            for queue in (topology.service_queue(name, ()), topology.dead_queue(name)):
                queue.bind(channel).delete()  # type: ignore[no-untyped-call]
        for exchange in (topology.events_exchange, topology.dead_exchange):
            exchange.bind(channel).delete()  # type: ignore[no-untyped-call]


@contextmanager
def real_backends() -> Iterator[RealBackends]:
    """Fresh databases (one per service), a Redis prefix and a broker namespace; all removed
    when the block ends, however it ends."""
    suffix = uuid.uuid4().hex[:10]
    backends = RealBackends(namespace=f"bench-{suffix}")
    with ExitStack() as stack:
        stack.callback(delete_redis_keys, backends.redis_url, f"{backends.namespace}:*")
        stack.callback(delete_broker_namespace, backends.broker_url, backends.namespace)
        for service in SERVICES_WITH_DATABASES:
            name = f"bazaar_bench_{service}_{suffix}"
            backends.databases[service] = create_database(name)
            stack.callback(drop_database, name)
        yield backends


def versions(backends: RealBackends) -> dict[str, str]:
    """Server versions of PostgreSQL, Redis and RabbitMQ, for the report."""
    found: dict[str, str] = {}
    engine = create_engine(POSTGRES)
    try:
        with engine.connect() as connection:
            found["PostgreSQL"] = str(connection.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()
    client = redis.Redis.from_url(backends.redis_url, socket_timeout=5)
    try:
        found["Redis"] = str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()
    with Connection(backends.broker_url, connect_timeout=5) as connection:  # type: ignore[no-untyped-call]
        connection.connect()
        properties = connection.connection.server_properties
        found["RabbitMQ"] = str(properties.get("version", "?"))
    return found
