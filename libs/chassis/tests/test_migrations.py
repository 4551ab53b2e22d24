"""Alembic run programmatically: upgrade, downgrade and offline SQL with our env.py body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from chassis.migrations import alembic_config, downgrade, upgrade
from chassis.testing import fresh_postgres_database

ENV_PY = """
from sqlalchemy import MetaData

from chassis.migrations import run_env

run_env(MetaData())
"""

FIRST = '''
"""Create widgets."""
import sqlalchemy as sa
from alembic import op

revision, down_revision, branch_labels, depends_on = "0001", None, None, None


def upgrade() -> None:
    op.create_table(
        "chassis_test_widgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chassis_test_widgets")
'''

SECOND = '''
"""Add a colour, in batch mode so SQLite can follow."""
import sqlalchemy as sa
from alembic import op

revision, down_revision, branch_labels, depends_on = "0002", "0001", None, None


def upgrade() -> None:
    with op.batch_alter_table("chassis_test_widgets") as batch:
        batch.add_column(sa.Column("colour", sa.String(10)))


def downgrade() -> None:
    with op.batch_alter_table("chassis_test_widgets") as batch:
        batch.drop_column("colour")
'''


@pytest.fixture
def script_location(tmp_path: Path) -> Path:
    """A migrations folder laid out like a service's."""
    folder = tmp_path / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(dedent(ENV_PY))
    (folder / "versions" / "0001_widgets.py").write_text(FIRST)
    (folder / "versions" / "0002_colour.py").write_text(SECOND)
    return folder


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    with fresh_postgres_database("chassis_migrations") as url:
        yield url


def columns(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        return {
            t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def test_upgrade_to_head_then_downgrade_step_by_step(
    script_location: Path, empty_database: str
) -> None:
    upgrade(script_location, empty_database)
    assert columns(empty_database)["chassis_test_widgets"] == {"id", "name", "colour"}

    downgrade(script_location, empty_database, "0001")
    assert columns(empty_database)["chassis_test_widgets"] == {"id", "name"}

    downgrade(script_location, empty_database, "base")
    assert "chassis_test_widgets" not in columns(empty_database)


def test_upgrade_to_a_named_revision(script_location: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'partial.db'}"

    upgrade(script_location, url, "0001")

    assert columns(url)["chassis_test_widgets"] == {"id", "name"}


def test_offline_mode_prints_the_sql(
    script_location: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = alembic_config(script_location, "postgresql+psycopg://nobody@127.0.0.1:1/none")

    command.upgrade(config, "head", sql=True)

    sql = capsys.readouterr().out
    assert "CREATE TABLE chassis_test_widgets" in sql
    assert "ALTER TABLE chassis_test_widgets ADD COLUMN colour" in sql


def test_config_keeps_percent_signs_in_the_url(script_location: Path) -> None:
    url = "postgresql+psycopg://user:p%40ss%25word@db/app"

    config = alembic_config(script_location, url)

    assert config.get_main_option("sqlalchemy.url") == url
    assert config.attributes["database_url"] == url
