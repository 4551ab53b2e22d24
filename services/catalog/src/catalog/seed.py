"""A deterministic demo catalog: the same 240 products in 10 categories on every machine."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from catalog.images.pictures import picture
from catalog.models import Category, Product
from catalog.settings import CatalogSettings
from chassis.db import Database

CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "kitchen": ("Kitchen", ("Chef's Knife", "Cast Iron Pan", "Pepper Mill", "Cutting Board")),
    "coffee": ("Coffee & Tea", ("Pour-Over Kettle", "Burr Grinder", "Tea Tin", "Espresso Cup")),
    "outdoor": ("Outdoor", ("Trail Backpack", "Camp Lantern", "Water Bottle", "Hammock")),
    "office": ("Office", ("Desk Lamp", "Notebook", "Fountain Pen", "Monitor Stand")),
    "audio": ("Audio", ("Headphones", "Bookshelf Speaker", "Turntable", "Earbuds")),
    "home": ("Home", ("Throw Blanket", "Ceramic Vase", "Wall Clock", "Linen Cushion")),
    "garden": ("Garden", ("Pruning Shears", "Watering Can", "Seed Kit", "Planter")),
    "fitness": ("Fitness", ("Yoga Mat", "Kettlebell", "Jump Rope", "Foam Roller")),
    "toys": ("Toys & Games", ("Wooden Puzzle", "Board Game", "Kite", "Building Blocks")),
    "bags": ("Bags", ("Tote Bag", "Weekender", "Laptop Sleeve", "Crossbody Bag")),
}
ADJECTIVES = ("Classic", "Compact", "Everyday", "Heritage", "Nordic", "Studio")
MATERIALS = {
    "Classic": "oak and brass",
    "Compact": "recycled aluminium",
    "Everyday": "durable canvas",
    "Heritage": "hand-finished walnut",
    "Nordic": "birch and wool",
    "Studio": "matte steel",
}
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def demo_catalog() -> tuple[list[Category], list[Product]]:
    """Build the demo categories and products (not yet stored)."""
    rng = random.Random(20261120)  # noqa: S311 - demo data, not security
    categories = [Category(slug=slug, name=name) for slug, (name, _) in CATEGORIES.items()]
    products: list[Product] = []
    # Arrival order, shuffled apart from prices and stock: the newest products, which the
    # shop shows first, are of every kind and colour rather than six of one.
    arrivals = list(range(1, 1 + len(ADJECTIVES) * sum(len(n) for _, n in CATEGORIES.values())))
    random.Random(17).shuffle(arrivals)  # noqa: S311 - demo data, not security
    index = 0
    for category, (_, nouns) in zip(categories, CATEGORIES.values(), strict=True):
        for noun in nouns:
            for adjective in ADJECTIVES:
                index += 1
                name = f"{adjective} {noun}"
                slug = name.lower().replace("'", "").replace(" ", "-").replace("&", "and")
                drawn = picture(slug)
                stock = 0 if index % 11 == 0 else rng.randint(1, 120)
                products.append(
                    Product(
                        sku=f"BZ-{index:05d}",
                        slug=slug,
                        name=name,
                        description=(
                            f"A {adjective.lower()} {noun.lower()} made of "
                            f"{MATERIALS[adjective]}, for {category.name.lower()} lovers."
                        ),
                        price_amount=rng.randrange(499, 24999, 100) + 99 - 100,
                        currency="EUR",
                        category=category,
                        image_url=drawn.url if drawn else None,
                        stock=stock,
                        active=True,
                        created_at=BASE_TIME + dt.timedelta(hours=arrivals[index - 1]),
                        updated_at=BASE_TIME + dt.timedelta(hours=arrivals[index - 1]),
                    )
                )
    return categories, products


def seed_demo_catalog(settings: CatalogSettings) -> int:
    """Store the demo catalog when there are no products yet; return rows added."""
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            if session.scalar(select(func.count()).select_from(Product)):
                return 0
            categories, products = demo_catalog()
            session.add_all(categories)
            session.add_all(products)
            return len(categories) + len(products)
    finally:
        db.dispose()
