"""Keyset pagination: cursors that cannot be forged, and pages without gaps or repeats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy import Engine, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from chassis.db import UTCDateTime, create_db_engine, service_metadata
from chassis.errors import InvalidCursor
from chassis.pagination import CursorCodec, SortKey, fetch_page, keyset_page, page_statement

SECRET = "pagination-test-secret"
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = service_metadata()


class Item(Base):
    __tablename__ = "chassis_test_pagination_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    score: Mapped[int]
    name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def make_items() -> list[Item]:
    """31 rows whose sort columns repeat a lot, so ties must be broken by id."""
    return [
        Item(
            id=i,
            score=i % 4,
            name=f"name-{(i * 7) % 5}",
            created_at=BASE_TIME + dt.timedelta(hours=i % 3, microseconds=i % 2),
        )
        for i in range(1, 32)
    ]


class Case:
    """A sort key, the Python types of its values, and how to read them from a row."""

    def __init__(self, sort: SortKey, types: Sequence[type], attrs: Sequence[str]) -> None:
        self.sort = sort
        self.types = types
        self.attrs = attrs

    def key_of(self, item: Any) -> list[Any]:
        return [getattr(item, attr) for attr in self.attrs]

    def expected_order(self, items: Sequence[Any]) -> list[int]:
        """The ids in this key's order, computed in Python (stable sorts, last key first)."""
        ordered = list(items)
        for attr, (_, desc) in reversed(list(zip(self.attrs, self.sort.columns, strict=True))):
            ordered.sort(key=attrgetter(attr), reverse=desc)
        return [item.id for item in ordered]


CASES = {
    "score-asc": Case(
        SortKey("score-asc", ((Item.score, False), (Item.id, False))), (int, int), ("score", "id")
    ),
    "score-desc": Case(
        SortKey("score-desc", ((Item.score, True), (Item.id, True))), (int, int), ("score", "id")
    ),
    "score-desc-id-asc": Case(
        SortKey("score-desc-id-asc", ((Item.score, True), (Item.id, False))),
        (int, int),
        ("score", "id"),
    ),
    "created-desc": Case(
        SortKey("created-desc", ((Item.created_at, True), (Item.id, True))),
        (dt.datetime, int),
        ("created_at", "id"),
    ),
    "name-asc-created-desc": Case(
        SortKey(
            "name-asc-created-desc",
            ((Item.name, False), (Item.created_at, True), (Item.id, False)),
        ),
        (str, dt.datetime, int),
        ("name", "created_at", "id"),
    ),
}


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """The test table on each backend, filled once for the module."""
    engine = create_db_engine(database_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(make_items())
        session.commit()
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET, "items")


# -- CursorCodec ---------------------------------------------------------------------


def test_cursor_round_trips_int_str_and_datetime_keys(codec: CursorCodec) -> None:
    when = dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=dt.UTC)

    token = codec.encode("mixed", [42, "abc", when])

    assert codec.decode(token, "mixed", (int, str, dt.datetime)) == [42, "abc", when]


def test_cursor_keeps_a_non_utc_offset(codec: CursorCodec) -> None:
    when = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    (decoded,) = codec.decode(codec.encode("t", [when]), "t", (dt.datetime,))

    assert decoded == when
    assert decoded.utcoffset() == dt.timedelta(hours=2)


def test_cursor_reads_a_naive_timestamp_as_utc(codec: CursorCodec) -> None:
    token = codec.encode("t", [dt.datetime(2026, 1, 2, 3, 4)])

    assert codec.decode(token, "t", (dt.datetime,)) == [
        dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    ]


def test_cursor_is_opaque(codec: CursorCodec) -> None:
    token = codec.encode("score-asc", [3, 17])

    assert "score" not in token
    assert token.isascii() and " " not in token


def test_tampered_cursor_is_invalid(codec: CursorCodec) -> None:
    token = codec.encode("score-asc", [3, 17])
    _, signature = token.rsplit(".", 1)
    forged = base64_encode(b'{"s":"score-asc","k":[0,1]}').decode() + "." + signature

    with pytest.raises(InvalidCursor, match="tampered"):
        codec.decode(forged, "score-asc", (int, int))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "%%%"])
def test_garbage_cursor_is_invalid(codec: CursorCodec, token: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(token, "score-asc", (int, int))


def test_cursor_for_another_sort_is_invalid(codec: CursorCodec) -> None:
    token = codec.encode("score-asc", [3, 17])

    with pytest.raises(InvalidCursor, match="different sort"):
        codec.decode(token, "score-desc", (int, int))


def test_cursor_for_another_resource_is_invalid(codec: CursorCodec) -> None:
    token = CursorCodec(SECRET, "orders").encode("score-asc", [3, 17])

    with pytest.raises(InvalidCursor):
        codec.decode(token, "score-asc", (int, int))


def test_cursor_signed_with_another_secret_is_invalid(codec: CursorCodec) -> None:
    token = CursorCodec("another-secret", "items").encode("score-asc", [3, 17])

    with pytest.raises(InvalidCursor):
        codec.decode(token, "score-asc", (int, int))


@pytest.mark.parametrize(
    ("values", "types"),
    [
        (["3"], (int,)),
        ([True], (int,)),
        ([3.5], (int,)),
        ([3], (str,)),
        ([None], (str,)),
        ([1700000000], (dt.datetime,)),
        (["yesterday"], (dt.datetime,)),
        ([1, 2], (int,)),
        ([1], (int, int)),
    ],
)
def test_cursor_with_wrong_types_or_length_is_invalid(
    codec: CursorCodec, values: list[Any], types: tuple[type, ...]
) -> None:
    token = codec.encode("s", values)

    with pytest.raises(InvalidCursor, match="malformed"):
        codec.decode(token, "s", types)


@pytest.mark.parametrize("payload", [[1, 2], {"s": "s"}, {"s": "s", "k": "1"}, "s"])
def test_signed_cursor_with_an_unexpected_shape_is_invalid(
    codec: CursorCodec, payload: Any
) -> None:
    # Signed with the codec's own key and salt, as an older release might have done.
    token = URLSafeSerializer(SECRET, salt="bazaar.cursor.items").dumps(payload)

    with pytest.raises(InvalidCursor):
        codec.decode(token, "s", (int,))


def test_invalid_cursor_is_a_400(codec: CursorCodec) -> None:
    with pytest.raises(InvalidCursor) as caught:
        codec.decode("garbage", "s", (int,))

    assert caught.value.status == 400
    assert caught.value.to_problem()["type"] == "/problems/invalid-cursor"


# -- SortKey -------------------------------------------------------------------------


def test_order_by_follows_each_columns_direction() -> None:
    clauses = CASES["score-desc-id-asc"].sort.order_by()

    assert [str(c) for c in clauses] == [
        "chassis_test_pagination_items.score DESC",
        "chassis_test_pagination_items.id ASC",
    ]


@pytest.mark.parametrize("case_name", list(CASES))
def test_after_returns_exactly_the_rows_that_follow_each_row(
    session: Session, case_name: str
) -> None:
    case = CASES[case_name]
    items = list(session.scalars(select(Item)))
    order = case.expected_order(items)
    by_id = {item.id: item for item in items}

    for position, item_id in enumerate(order):
        stmt = (
            select(Item.id)
            .where(case.sort.after(case.key_of(by_id[item_id])))
            .order_by(*case.sort.order_by())
        )
        assert list(session.scalars(stmt)) == order[position + 1 :], f"after row {item_id}"


def test_after_uses_one_row_value_comparison_for_a_uniform_direction() -> None:
    clause = CASES["score-desc"].sort.after([2, 9])

    assert " OR " not in str(clause)
    assert "<" in str(clause)


# -- keyset_page ---------------------------------------------------------------------


def walk(
    session: Session, codec: CursorCodec, case: Case, limit: int
) -> tuple[list[int], list[int]]:
    """Every page from the first; returns all ids seen and each page's size."""
    seen: list[int] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(100):
        page = keyset_page(
            session,
            select(Item),
            sort=case.sort,
            codec=codec,
            cursor=cursor,
            limit=limit,
            key_of=case.key_of,
            types=case.types,
        )
        seen.extend(item.id for item in page.items)
        sizes.append(len(page.items))
        cursor = page.next_cursor
        if cursor is None:
            return seen, sizes
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("case_name", list(CASES))
def test_keyset_page_walks_duplicate_sort_values_without_gaps_or_repeats(
    session: Session, codec: CursorCodec, case_name: str
) -> None:
    case = CASES[case_name]
    expected = case.expected_order(list(session.scalars(select(Item))))

    seen, sizes = walk(session, codec, case, limit=4)

    assert seen == expected
    assert sizes == [4] * 7 + [3]


def test_last_full_page_has_no_next_cursor(session: Session, codec: CursorCodec) -> None:
    extra = Item(id=32, score=0, name="name-0", created_at=BASE_TIME)
    session.add(extra)
    session.flush()  # 32 rows in 4 pages of 8; the session is never committed

    seen, sizes = walk(session, codec, CASES["score-asc"], limit=8)

    assert sizes == [8, 8, 8, 8]
    assert len(set(seen)) == 32


def test_keyset_page_refuses_a_cursor_of_another_sort(session: Session, codec: CursorCodec) -> None:
    first = keyset_page(
        session,
        select(Item),
        sort=CASES["score-asc"].sort,
        codec=codec,
        cursor=None,
        limit=5,
        key_of=CASES["score-asc"].key_of,
        types=(int, int),
    )
    assert first.next_cursor is not None

    with pytest.raises(InvalidCursor):
        keyset_page(
            session,
            select(Item),
            sort=CASES["score-desc"].sort,
            codec=codec,
            cursor=first.next_cursor,
            limit=5,
            key_of=CASES["score-desc"].key_of,
            types=(int, int),
        )


def test_keyset_page_of_an_empty_selection_is_empty(session: Session, codec: CursorCodec) -> None:
    case = CASES["score-asc"]

    page = keyset_page(
        session,
        select(Item).where(Item.score > 100),
        sort=case.sort,
        codec=codec,
        cursor=None,
        limit=10,
        key_of=case.key_of,
        types=case.types,
    )

    assert page.items == []
    assert page.next_cursor is None


@pytest.mark.parametrize("case_name", list(CASES))
def test_statements_built_once_serve_every_page(
    session: Session, codec: CursorCodec, case_name: str
) -> None:
    case = CASES[case_name]
    first = page_statement(select(Item).where(Item.id < 31), case.sort, after_cursor=False)
    later = page_statement(select(Item).where(Item.id < 31), case.sort, after_cursor=True)
    expected = [i for i in case.expected_order(list(session.scalars(select(Item)))) if i < 31]

    seen: list[int] = []
    cursor = None
    for _ in range(100):
        page = fetch_page(
            session,
            later if cursor else first,
            params={},
            sort=case.sort,
            codec=codec,
            cursor=cursor,
            limit=7,
            key_of=case.key_of,
            types=case.types,
        )
        seen.extend(item.id for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == expected


def test_page_statement_leaves_values_to_parameters() -> None:
    stmt = page_statement(select(Item), CASES["score-desc-id-asc"].sort, after_cursor=True)

    assert {"keyset_limit", "keyset_after_0", "keyset_after_1"} <= set(stmt.compile().params)
