"""Database helpers on SQLite and PostgreSQL: UTC timestamps, units of work, engine tuning."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import String, inspect, select, text
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from chassis.db import (
    PLAN_WITH_VALUES,
    Database,
    ReadOnlySession,
    TimestampMixin,
    UTCDateTime,
    create_db_engine,
    service_metadata,
    utcnow,
)
from chassis.testing import count_queries


class Base(DeclarativeBase):
    metadata = service_metadata()


class Event(TimestampMixin, Base):
    __tablename__ = "chassis_test_db_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    happened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    Base.metadata.create_all(database.engine)
    yield database
    Base.metadata.drop_all(database.engine)
    database.dispose()


def names(db: Database) -> list[str]:
    with Session(db.engine) as session:
        return list(session.scalars(select(Event.name).order_by(Event.id)))


def test_utcnow_is_timezone_aware() -> None:
    assert utcnow().utcoffset() == dt.timedelta(0)


def test_timestamps_come_back_aware_and_in_utc(db: Database) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    when = dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=paris)
    with db.session() as session:
        session.add(Event(name="launch", happened_at=when))

    with Session(db.engine) as session:
        event = session.scalars(select(Event)).one()

    assert event.happened_at == when
    assert event.happened_at is not None
    assert event.happened_at.utcoffset() == dt.timedelta(0)
    assert event.created_at.tzinfo is not None


def test_naive_timestamps_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.session() as session:
        session.add(Event(name="naive", happened_at=dt.datetime(2026, 5, 1)))
        session.flush()


def test_updated_at_moves_on_update(db: Database) -> None:
    with db.session() as session:
        event = Event(name="first")
        session.add(event)
    created = event.updated_at

    with db.session() as session:
        session.get_one(Event, event.id).name = "renamed"

    with Session(db.engine) as session:
        stored = session.get_one(Event, event.id)
    assert stored.updated_at > created
    assert stored.created_at == event.created_at


def test_unit_of_work_commits_on_success(db: Database) -> None:
    with db.session() as session:
        session.add(Event(name="kept"))

    assert names(db) == ["kept"]


def test_unit_of_work_rolls_back_and_reraises_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.session() as session:
        session.add(Event(name="discarded"))
        session.flush()
        raise RuntimeError("boom")

    assert names(db) == []


def test_bind_to_joins_an_outer_transaction_that_can_be_rolled_back(db: Database) -> None:
    connection = db.engine.connect()
    outer = connection.begin()
    db.bind_to(connection)
    with db.session() as session:
        session.add(Event(name="inside"))  # committed as a savepoint only
    with db.session() as session:
        assert list(session.scalars(select(Event.name))) == ["inside"]

    outer.rollback()
    connection.close()

    assert names(db) == []


def test_a_read_session_reads_without_a_transaction_on_postgresql(db: Database) -> None:
    with db.session() as session:
        session.add(Event(name="seen"))
    with count_queries(db.read_engine) as queries, db.read_session_factory() as session:
        assert list(session.scalars(select(Event.name))) == ["seen"]
        driver = session.connection().connection.driver_connection
        # SQLite keeps its deferred BEGIN: in-process, it costs no round trip.
        if db.dialect == "postgresql":
            assert driver.autocommit is True
            # Idle after the query: no BEGIN was sent, so no COMMIT is owed either.
            assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        session.commit()
    assert queries.count == 1


def test_reads_and_writes_share_one_pool_and_writes_stay_transactional(db: Database) -> None:
    with db.read_session_factory() as session:
        session.scalars(select(Event.name)).all()
    with db.session() as session:
        session.add(Event(name="written"))
        session.flush()
        driver = session.connection().connection.driver_connection
        if db.dialect == "postgresql":
            assert driver.autocommit is False
            assert driver.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert db.read_engine.pool is db.engine.pool


def test_a_read_session_refuses_orm_writes(db: Database) -> None:
    with db.read_session_factory() as session:
        session.add(Event(name="refused"))
        with pytest.raises(ReadOnlySession):
            session.flush()
        session.rollback()

    assert names(db) == []


def test_constraint_names_follow_the_convention(db: Database) -> None:
    inspector = inspect(db.engine)

    assert inspector.get_pk_constraint("chassis_test_db_events")["name"] in (
        "pk_chassis_test_db_events",
        None,  # SQLite does not keep primary key names
    )
    if db.dialect == "postgresql":
        unique = inspector.get_unique_constraints("chassis_test_db_events")
        assert [u["name"] for u in unique] == ["uq_chassis_test_db_events_name"]


def test_dialect_names_the_backend(db: Database, database_url: str) -> None:
    assert db.dialect == ("sqlite" if database_url.startswith("sqlite") else "postgresql")


def test_ping_succeeds_on_a_live_database(db: Database) -> None:
    db.ping()


def test_ping_fails_when_postgresql_is_unreachable(unused_port: int) -> None:
    database = Database(f"postgresql+psycopg://postgres@127.0.0.1:{unused_port}/x")
    try:
        with pytest.raises(OperationalError):
            database.ping()
    finally:
        database.dispose()


def test_sqlite_engine_creates_the_folder_and_tunes_the_connection(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "service.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            foreign_keys = connection.execute(text("PRAGMA foreign_keys")).scalar()
            journal = connection.execute(text("PRAGMA journal_mode")).scalar()
    finally:
        engine.dispose()

    assert path.exists()
    assert foreign_keys == 1
    assert journal == "wal"


def test_sqlite_savepoints_work(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'sp.db'}")
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            session.add(Event(name="outer"))
            nested = session.begin_nested()
            session.add(Event(name="inner"))
            nested.rollback()
            session.commit()
            stored = list(session.scalars(select(Event.name)))
    finally:
        engine.dispose()

    assert stored == ["outer"]


def backend_pid(db: Database) -> int:
    """The PostgreSQL server process behind the pooled connection a session gets."""
    with db.session() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_pooled_connection_the_server_closed_is_replaced_unnoticed(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to close connections")
    db = Database(database_url, pool_size=1)
    try:
        first = backend_pid(db)
        with Session(create_db_engine(database_url, pooled=False)) as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        # The terminated backend's goodbye reaches the idle pooled socket.
        time.sleep(0.2)

        assert backend_pid(db) != first
    finally:
        db.dispose()


def test_a_healthy_pooled_connection_is_kept(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the socket check is for PostgreSQL")
    db = Database(database_url, pool_size=1)
    try:
        assert backend_pid(db) == backend_pid(db)
    finally:
        db.dispose()


def test_statements_asked_to_plan_with_values_are_never_prepared(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("prepared statements and generic plans are PostgreSQL's")
    engine = create_db_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            for _ in range(8):  # psycopg prepares a statement on its fifth run
                connection.execute(
                    text("SELECT 1 + :x").execution_options(**{PLAN_WITH_VALUES: True}), {"x": 1}
                )
                connection.execute(text("SELECT 2 + :x"), {"x": 1})
            prepared = connection.scalars(text("SELECT statement FROM pg_prepared_statements"))
            statements = list(prepared)
    finally:
        engine.dispose()

    assert any("SELECT 2 +" in statement for statement in statements)
    assert not any("SELECT 1 +" in statement for statement in statements)
