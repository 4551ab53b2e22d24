"""Cache invalidation by the catalog's own change events.

Every `product.changed` and `stock.changed` moves the catalog's public cache scope to a new
generation, which the catalog's response cache and the gateway's response cache both read.
Whatever made the change (an admin request, a reservation in the worker, another instance),
readers see it within the relay's delay plus the generation TTL: well under a second.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from catalog.settings import CatalogSettings
from chassis.cache import Cache
from chassis.events import Event, Handler
from chassis.httpcache import PUBLIC_SCOPE, cache_for

INVALIDATING_EVENTS = ("product.changed", "stock.changed")


def invalidation_handlers(settings: CatalogSettings) -> dict[str, Handler]:
    """Handlers that bump the public scope once the inbox transaction commits."""
    cache: Cache = cache_for(settings)

    def invalidate(session: Session, _event: Event) -> None:
        cache.bump_after_commit(session, PUBLIC_SCOPE)

    return dict.fromkeys(INVALIDATING_EVENTS, invalidate)
