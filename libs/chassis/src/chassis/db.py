"""SQLAlchemy 2: one engine per service, a session per request, commit only on success."""

from __future__ import annotations

import datetime as dt
import os
import select
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from chassis import tracing
from chassis.errors import ServiceUnavailable

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


WRITE_OPTION = "bazaar_writes"
# Execution option: plan this statement for the values it runs with, every time.
PLAN_WITH_VALUES = "bazaar_plan_with_values"


# How long a client should wait before retrying while the database is unreachable: a
# restart or a failover takes a few seconds, and the pool reconnects on the next checkout.
DATABASE_RETRY_AFTER = "1"
# SQLite's errors are all OperationalError; only these say "not now" rather than "a bug".
_SQLITE_BUSY = ("database is locked", "database table is locked", "disk i/o error")


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached or used right now; retrying later may work."""

    slug, title = "database-unavailable", "Database unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "The database is unavailable; retry shortly.",
            headers={"Retry-After": DATABASE_RETRY_AFTER},
        )


def database_unavailable(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, means the database is out of reach.

    Lost or refused connections, a server shutting down, an exhausted pool or a busy SQLite
    file: a 503 to retry, where a bad statement or a broken constraint stays a bug (500).
    """
    seen: BaseException | None = error
    for _ in range(8):  # the rollback of a failed request raises from the first failure
        if seen is None:
            return False
        if _out_of_reach(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _out_of_reach(error: BaseException) -> bool:
    if isinstance(error, DisconnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        if isinstance(original, sqlite3.OperationalError):
            return str(original).lower().startswith(_SQLITE_BUSY)
        # psycopg's OperationalError covers lost connections, shutdowns, too many clients,
        # cancelled statements and serialization failures: all worth a retry.
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    return False


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC; always returns aware datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def service_metadata() -> MetaData:
    """Fresh metadata with our constraint naming convention, for one service's models."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """created_at / updated_at maintained by the ORM."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


def create_db_engine(url: str, *, pool_size: int = 10, pooled: bool = True) -> Engine:
    """An engine tuned for the dialect: SQLite gets WAL, FKs and real transactions."""
    parsed = make_url(url)
    extra: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
            pool_pre_ping=True,
            **extra,
        )
        _make_sqlite_transactional(engine)
        if tracing.enabled():
            tracing.instrument_engine(engine)
        return engine
    if pooled:
        extra.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_engine(url, **extra)
    _discard_connections_closed_by_the_server(engine)
    if parsed.get_driver_name() == "psycopg":
        _plan_with_values_when_asked(engine)
    if tracing.enabled():
        tracing.instrument_engine(engine)
    return engine


def _plan_with_values_when_asked(engine: Engine) -> None:
    # psycopg prepares a statement run five times on a connection, and PostgreSQL may then
    # keep one generic plan for every value. Where the best plan depends on the values (a
    # rare search word wants the GIN index, a common one the sort order's index; one generic
    # plan took 235 ms for a common word), an unnamed statement is planned with them each time.
    @event.listens_for(engine, "do_execute")
    def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        if context is not None and context.execution_options.get(PLAN_WITH_VALUES):
            cursor.execute(statement, parameters, prepare=False)
            return True
        return False


def _discard_connections_closed_by_the_server(engine: Engine) -> None:
    # `pool_pre_ping` spends a round trip on every checkout: a quarter of a one-query request's
    # round trips. An idle pooled connection has nothing to read unless the server closed it
    # (restart, idle timeout, pg_terminate_backend) or sent an error while it waited, so a
    # zero-timeout poll of its socket finds those without asking the server anything.
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _: Any, __: Any) -> None:
        if dbapi_connection.closed or _has_input(dbapi_connection.fileno()):
            # The pool replaces it with a new connection and checks that one out.
            raise DisconnectionError("the server closed this pooled connection")


def _has_input(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _make_sqlite_transactional(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN oddly;
    # SQLAlchemy's documented recipe hands transaction control to SQLAlchemy.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads, then writes after another writer committed,
        # fails at once with SQLITE_BUSY (busy_timeout does not apply); a unit of work that
        # will write takes the write lock up front instead and waits its turn.
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _forget_connections_in_forked_children(db: Database) -> None:
    """A forked child (gunicorn --preload, `bazaar up`) opens connections of its own.

    Sharing the parent's sockets would interleave two processes' protocol streams;
    `dispose(close=False)` drops the pool without closing what the parent still uses.
    """
    ref = weakref.ref(db)

    def forget() -> None:
        alive = ref()
        if alive is not None:
            alive.engine.dispose(close=False)

    os.register_at_fork(after_in_child=forget)


class ReadOnlySession(RuntimeError):
    """Something tried to write through a session that is meant for reads only."""


def _refuse_writes(session: Session, _: Any, __: Any) -> None:
    raise ReadOnlySession(
        "this session only reads (a GET request's); write in a unit of work of its own"
    )


def _reads_only(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    event.listen(factory, "before_flush", _refuse_writes)
    return factory


def _reading_engine(engine: Engine) -> Engine:
    """`engine` (the same pool) whose connections autocommit while a read session holds them.

    One pool for reads and writes: a second pool would keep up to twice the connections
    open per process, and PostgreSQL's connection limit is shared by every process. The
    driver's autocommit switch is an attribute set, no round trip (SQLAlchemy's own
    isolation-level option measured ~170 Python calls a checkout); commit and rollback of
    an idle autocommit connection send nothing.
    """
    reading = engine.execution_options()

    @event.listens_for(reading, "engine_connect")
    def autocommit(connection: Connection) -> None:
        connection.connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]

    @event.listens_for(engine.pool, "checkin")
    def transactions_again(dbapi_connection: Any, _record: Any) -> None:
        # Back in the pool, every connection is a transactional one again.
        if dbapi_connection is not None and getattr(dbapi_connection, "autocommit", False):
            dbapi_connection.autocommit = False

    return reading


class Database:
    """An engine and its session factories."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool_size=pool_size)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        # For requests that only read (GET, HEAD): on PostgreSQL a pool of autocommit
        # connections, so a read costs its queries' round trips and no BEGIN or COMMIT
        # around them (at READ COMMITTED each statement sees its own snapshot either way).
        # SQLite keeps its deferred BEGIN: in-process, it costs no round trip. ORM writes
        # are refused.
        self.read_engine = self.engine
        if self.engine.dialect.name != "sqlite":
            self.read_engine = _reading_engine(self.engine)
        self.read_session_factory = _reads_only(
            sessionmaker(self.read_engine, expire_on_commit=False)
        )
        # For units of work that will write (unsafe requests, event handlers): on SQLite they
        # begin IMMEDIATE; elsewhere they are the same as `session_factory`.
        self.write_session_factory = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        _forget_connections_in_forked_children(self)

    @property
    def dialect(self) -> str:
        """The backend's name: 'postgresql' or 'sqlite'."""
        return self.engine.dialect.name

    def bind_to(self, connection: Connection) -> None:
        """Make every session join `connection`'s transaction (tests roll it back)."""
        self.session_factory = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        self.write_session_factory = self.session_factory
        self.read_session_factory = _reads_only(
            sessionmaker(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
        )

    @contextmanager
    def session(self, *, writes: bool = True) -> Iterator[Session]:
        """A unit of work outside a request: commit on success, rollback on error.

        With `writes=False` the session reads only (no BEGIN/COMMIT where the engine allows).
        """
        session = self.write_session_factory() if writes else self.read_session_factory()
        try:
            yield session
            if writes:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        """Readiness check."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
