"""The ledger is append-only in the database itself: UPDATE and DELETE are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from payments.models import LedgerEntry, Payment, has_id_shape, new_id

from .conftest import deliver, make_method, payment_requested


@pytest.fixture
def entry(session: Session, processor: object) -> LedgerEntry:
    """One authorization's ledger entry."""
    event = payment_requested(make_method(session))
    deliver(session, processor, event)  # type: ignore[arg-type]
    found = session.scalar(select(LedgerEntry))
    assert found is not None
    return found


@pytest.mark.parametrize(
    "statement",
    [
        update(LedgerEntry).values(amount=1),
        update(LedgerEntry).values(kind="void"),
        delete(LedgerEntry),
    ],
    ids=["update-amount", "update-kind", "delete"],
)
def test_ledger_rows_cannot_be_changed_or_deleted(
    session: Session, entry: LedgerEntry, statement: object
) -> None:
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(statement)  # type: ignore[call-overload]
    session.expire_all()
    assert session.scalar(select(LedgerEntry.amount).where(LedgerEntry.id == entry.id)) == 1999


def test_the_whole_ledger_cannot_be_wiped(session: Session, entry: LedgerEntry) -> None:
    # TRUNCATE skips row triggers on PostgreSQL, so it has its own; SQLite has no TRUNCATE.
    postgres = session.get_bind().dialect.name == "postgresql"
    wipe = "TRUNCATE ledger_entries CASCADE" if postgres else "DELETE FROM ledger_entries"
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(wipe))


def test_ledger_still_takes_new_rows(session: Session, entry: LedgerEntry) -> None:
    payment = session.get(Payment, entry.payment_id)
    assert payment is not None
    session.add(LedgerEntry(id=new_id("le"), payment_id=payment.id, kind="void", amount=1999,
                            currency="EUR", operation_key="extra:void"))  # fmt: skip
    session.commit()
    assert session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "void")) is not None


@pytest.mark.parametrize(
    ("value", "prefix", "expected"),
    [
        (new_id("pm"), "pm", True),
        (new_id("pay"), "pm", False),
        ("pm_" + "A" * 24, "pm", False),
        ("pm_" + "a" * 23, "pm", False),
        ("pm_" + "a" * 24 + "\x00", "pm", False),
    ],
)
def test_id_shape(value: str, prefix: str, expected: bool) -> None:
    assert has_id_shape(value, prefix) is expected
