"""A large, varied catalog written straight into the catalog's database.

Rows go in with COPY on PostgreSQL (the generated `search_vector` column and its GIN index
fill themselves) and with batched inserts on SQLite. Names, descriptions, prices, stock and
dates vary the way a real shop's do, so search, filters and sorts meet realistic data.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import ColumnElement, func, insert, literal_column, or_, select, update
from sqlalchemy.engine import make_url

from catalog.models import Base, Category, Product
from chassis.db import create_db_engine

CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "kitchen": ("Kitchen", ("Chef's Knife", "Skillet", "Pepper Mill", "Cutting Board",
                            "Saucepan", "Mixing Bowl", "Colander", "Spatula")),
    "coffee": ("Coffee & Tea", ("Kettle", "Burr Grinder", "Tea Tin", "Espresso Cup",
                                "French Press", "Dripper", "Teapot", "Milk Jug")),
    "outdoor": ("Outdoor", ("Backpack", "Lantern", "Water Bottle", "Hammock", "Tent",
                            "Sleeping Bag", "Camp Stove", "Folding Chair")),
    "office": ("Office", ("Desk Lamp", "Notebook", "Fountain Pen", "Monitor Stand",
                          "Desk Organizer", "Letter Tray", "Bookend", "Desk Mat")),
    "audio": ("Audio", ("Headphones", "Speaker", "Turntable", "Earbuds", "Amplifier",
                        "Radio", "Soundbar", "Microphone")),
    "home": ("Home", ("Throw Blanket", "Vase", "Wall Clock", "Cushion", "Rug", "Mirror",
                      "Candle Holder", "Picture Frame")),
    "garden": ("Garden", ("Pruning Shears", "Watering Can", "Seed Kit", "Planter", "Trowel",
                          "Garden Hose", "Bird Feeder", "Wheelbarrow")),
    "fitness": ("Fitness", ("Yoga Mat", "Kettlebell", "Jump Rope", "Foam Roller", "Dumbbell",
                            "Resistance Band", "Pull-Up Bar", "Gym Bag")),
    "toys": ("Toys & Games", ("Puzzle", "Board Game", "Kite", "Building Blocks", "Yo-Yo",
                              "Spinning Top", "Train Set", "Dollhouse")),
    "bags": ("Bags", ("Tote Bag", "Weekender", "Laptop Sleeve", "Crossbody Bag", "Wallet",
                      "Duffel", "Card Holder", "Messenger Bag")),
    "lighting": ("Lighting", ("Floor Lamp", "Pendant Light", "Table Lamp", "Wall Sconce",
                              "String Lights", "Night Light", "Reading Light", "Lamp Shade")),
    "bath": ("Bath", ("Towel Set", "Bath Mat", "Soap Dish", "Shower Caddy", "Bathrobe",
                      "Toothbrush Holder", "Laundry Basket", "Wash Bag")),
    "furniture": ("Furniture", ("Side Table", "Bookshelf", "Stool", "Armchair", "Bench",
                                "Coffee Table", "Shoe Rack", "Coat Stand")),
    "tableware": ("Tableware", ("Dinner Plate", "Bowl", "Wine Glass", "Tumbler", "Serving Tray",
                                "Cutlery Set", "Salad Bowl", "Carafe")),
    "stationery": ("Stationery", ("Sketchbook", "Pencil Case", "Planner", "Envelope Set",
                                  "Washi Tape", "Ink Bottle", "Ruler", "Stamp Set")),
    "pets": ("Pets", ("Dog Bed", "Cat Tree", "Leash", "Food Bowl", "Pet Carrier", "Chew Toy",
                      "Grooming Brush", "Scratching Post")),
}  # fmt: skip
ADJECTIVES = (
    "Classic", "Compact", "Everyday", "Heritage", "Nordic", "Studio", "Rustic", "Modern",
    "Vintage", "Urban", "Coastal", "Alpine", "Essential", "Deluxe", "Minimal", "Artisan",
    "Travel", "Premium", "Handmade", "Folding", "Tall", "Mini", "Large", "Round",
)  # fmt: skip
# One material in forty: a search for "walnut" finds about 2.5% of the catalog.
MATERIALS = (
    "Oak", "Walnut", "Birch", "Bamboo", "Teak", "Pine", "Cherry", "Maple", "Ash", "Cedar",
    "Steel", "Brass", "Copper", "Aluminium", "Cast Iron", "Titanium", "Chrome", "Pewter",
    "Ceramic", "Stoneware", "Porcelain", "Glass", "Marble", "Slate", "Concrete", "Terracotta",
    "Linen", "Cotton", "Wool", "Canvas", "Leather", "Felt", "Jute", "Velvet", "Denim",
    "Cork", "Rattan", "Wicker", "Silicone", "Recycled Plastic",
)  # fmt: skip
COLOURS = (
    "black", "white", "natural", "sage green", "navy", "terracotta", "charcoal", "sand",
    "ochre", "slate blue", "forest green", "burgundy", "cream", "grey", "mustard", "rose",
)  # fmt: skip
FEATURES = (
    "dishwasher safe", "built to last a lifetime", "easy to clean", "lightweight and sturdy",
    "made in small batches", "backed by a five-year warranty", "sustainably sourced",
    "water resistant", "stackable for easy storage", "finished by hand",
    "designed in Lisbon", "tested by our team for a year", "certified food safe",
    "packed without plastic", "repairable, with spare parts available",
)  # fmt: skip
USES = (
    "for everyday use", "for small apartments", "as a thoughtful gift", "for weekend trips",
    "for busy mornings", "for slow Sunday afternoons", "for the whole family",
    "for first homes", "for people who love good design", "for long evenings",
)  # fmt: skip
# Price bands in cents by category, lowest and highest; prices spread log-uniformly.
PRICE_BANDS = {
    "kitchen": (899, 24_999), "coffee": (599, 39_999), "outdoor": (999, 49_999),
    "office": (299, 29_999), "audio": (1_999, 149_999), "home": (799, 59_999),
    "garden": (499, 34_999), "fitness": (699, 29_999), "toys": (399, 14_999),
    "bags": (1_499, 39_999), "lighting": (1_299, 44_999), "bath": (499, 12_999),
    "furniture": (4_999, 199_999), "tableware": (399, 19_999), "stationery": (199, 4_999),
    "pets": (599, 24_999),
}  # fmt: skip
BASE_TIME = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
STAPLE_STOCK = 1_000_000  # the products checkout buys: they never run out during a run
PRODUCTS = Base.metadata.tables["products"]
CATEGORY_TABLE = Base.metadata.tables["categories"]
COLUMNS = (
    "sku", "slug", "name", "description", "price_amount", "currency", "category_id",
    "image_url", "stock", "active", "created_at", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class Seeded:
    """What a seeding run did."""

    products: int
    categories: int
    seconds: float


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower().replace("'", ""))
    return "-".join(part for part in out.split("-") if part)


def product_rows(
    count: int, category_ids: dict[str, int], *, seed: int = 20261121
) -> Iterator[tuple[Any, ...]]:
    """`count` deterministic product rows in `COLUMNS` order, oldest first."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    slugs = list(CATEGORIES)
    for index in range(1, count + 1):
        category = slugs[rng.randrange(len(slugs))]
        noun = rng.choice(CATEGORIES[category][1])
        adjective, material, colour = (
            rng.choice(ADJECTIVES),
            rng.choice(MATERIALS),
            rng.choice(COLOURS),
        )
        name = f"{adjective} {material} {noun}"
        features = rng.sample(FEATURES, 2)
        description = (
            f"A {adjective.lower()} {noun.lower()} in {colour} {material.lower()}, "
            f"{rng.choice(USES)}. It is {features[0]} and {features[1]}."
        )
        if rng.random() < 0.3:
            description += f" Pairs well with our {rng.choice(MATERIALS).lower()} range."
        low, high = PRICE_BANDS[category]
        # Log-uniform between the band's ends, ending in 99 cents like shop prices do.
        price = int(low * (high / low) ** rng.random()) // 100 * 100 + 99
        # About 8% sold out; most have a little stock, a few have a lot.
        stock = 0 if rng.random() < 0.08 else int(rng.paretovariate(1.2) * 5)
        created = BASE_TIME + dt.timedelta(seconds=index * 300 + rng.randrange(300))
        updated = created + dt.timedelta(days=rng.randrange(30))
        yield (
            f"BN-{index:07d}",
            f"{_slug(name)}-{index}",
            name,
            description,
            price,
            "EUR",
            category_ids[category],
            f"https://images.bazaar.test/products/{index}.jpg" if rng.random() < 0.9 else None,
            min(stock, 10_000),
            rng.random() >= 0.01,  # about 1% hidden by an admin
            created,
            updated,
        )


def _insert_categories(url: str) -> dict[str, int]:
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.begin() as connection:
            existing = {
                slug: id_ for slug, id_ in connection.execute(select(Category.slug, Category.id))
            }
            now = dt.datetime.now(dt.UTC)
            missing = [
                {"slug": slug, "name": name, "created_at": now, "updated_at": now}
                for slug, (name, _) in CATEGORIES.items()
                if slug not in existing
            ]
            if missing:
                connection.execute(insert(CATEGORY_TABLE), missing)
            return {
                slug: id_ for slug, id_ in connection.execute(select(Category.slug, Category.id))
            }
    finally:
        engine.dispose()


def _product_count(url: str) -> int:
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Product)) or 0)
    finally:
        engine.dispose()


# Indexes not backing a constraint, with their exact definitions (storage options included).
_PLAIN_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = 'products'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def _copy_postgres(url: str, rows: Iterator[tuple[Any, ...]]) -> None:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        # Bulk-load practice: drop the secondary indexes, COPY, build them again from their
        # own definitions, all in one transaction. Sorted builds take seconds where updating
        # the GIN and listing indexes row by row takes half a minute.
        indexes = connection.execute(_PLAIN_INDEXES).fetchall()
        for name, _ in indexes:
            connection.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        statement = sql.SQL("COPY products ({}) FROM STDIN").format(columns)
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        connection.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            connection.execute(definition)
    # As autovacuum would leave a catalog that has been live for a while: statistics for the
    # planner, and a visibility map so index-only scans need not visit the table.
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) products")


def _insert_batches(url: str, rows: Iterator[tuple[Any, ...]], batch: int = 5000) -> None:
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.begin() as connection:
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(dict(zip(COLUMNS, row, strict=True)))
                if len(chunk) == batch:
                    connection.execute(insert(PRODUCTS), chunk)
                    chunk = []
            if chunk:
                connection.execute(insert(PRODUCTS), chunk)
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE products")
    finally:
        engine.dispose()


def seed_catalog(url: str, count: int) -> Seeded:
    """Fill an empty, migrated catalog database with `count` products in every category."""
    started = time.monotonic()
    category_ids = _insert_categories(url)
    if _product_count(url):
        raise SystemExit("the catalog database already has products; the bench wants it empty")
    rows = product_rows(count, category_ids)
    if make_url(url).get_backend_name() == "postgresql":
        _copy_postgres(url, rows)
    else:
        _insert_batches(url, rows)
    return Seeded(count, len(category_ids), time.monotonic() - started)


def stock_up(url: str, count: int) -> list[int]:
    """Give `count` active products (the oldest) stock that no benchmark run can exhaust."""
    engine = create_db_engine(url, pooled=False)
    try:
        with engine.begin() as connection:
            ids = list(
                connection.scalars(
                    select(Product.id).where(Product.active.is_(True)).order_by(Product.id)
                    .limit(count)
                )
            )  # fmt: skip
            connection.execute(
                update(Product).where(Product.id.in_(ids)).values(stock=STAPLE_STOCK)
            )
            return ids
    finally:
        engine.dispose()


def count_matching(url: str, q: str) -> int:
    """How many active products a search for the word `q` finds, matched as the catalog
    matches: the full-text column on PostgreSQL, the name or description on SQLite."""
    engine = create_db_engine(url, pooled=False)
    found: ColumnElement[bool]
    if engine.dialect.name == "postgresql":
        found = literal_column("search_vector").op("@@")(func.websearch_to_tsquery("english", q))
    else:
        found = or_(Product.name.icontains(q), Product.description.icontains(q))
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    select(func.count()).select_from(Product).where(Product.active, found)
                )
                or 0
            )
    finally:
        engine.dispose()
