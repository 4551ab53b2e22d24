"""The gateway's response cache: anonymous GETs of cacheable services answered at the edge.

Two levels. Entries live in the shared cache (Redis, or the local diskcache folder) under the
upstream service's own generation, which that service bumps on its change events; each
gateway process also keeps recently used entries in memory for at most `cache_local_ttl`,
keyed by that generation, so a hit costs no network round trip at all. Only answers the
service marked `public` are kept, and only for requests without credentials: nothing that
depends on who asks is ever stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import anyio
from cachetools import TTLCache
from prometheus_client import Counter

from chassis.cache import CACHE_LOOKUPS, Cache, StoredResponse, shared_backend
from chassis.httpcache import PUBLIC_SCOPE, STORED_HEADERS
from gateway.settings import GatewaySettings

# A body larger than this is streamed through and never stored.
MAX_ENTRY_BYTES = 1024 * 1024


# Clients ask for the same few pages again and again; parsing a query costs ~10 µs.
@functools.lru_cache(maxsize=4096)
def canonical_target(target: bytes) -> str:
    """Path plus the query in a canonical order (the same entry for any parameter order)."""
    path, _, query = target.decode("latin-1").partition("?")
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return f"{path}?{urlencode(pairs)}"


def storable(status: int, headers: list[tuple[bytes, bytes]], size: int | None) -> bool:
    """Whether an upstream answer may be shared: a complete 200 the service marked public."""
    if status != 200 or size is None or size > MAX_ENTRY_BYTES:
        return False
    cache_control, cookie = b"", False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"cache-control":
            cache_control = value.lower()
        elif lowered == b"set-cookie":
            cookie = True
    directives = {d.strip().split(b"=")[0] for d in cache_control.split(b",")}
    return b"public" in directives and not (directives & {b"private", b"no-store"}) and not cookie


def stored_from(headers: list[tuple[bytes, bytes]], body: bytes) -> StoredResponse:
    """The response as kept: the representation headers and the body."""
    wanted = {h.lower(): h for h in STORED_HEADERS}
    kept = tuple(
        (wanted[name.decode("latin-1").lower()], value.decode("latin-1"))
        for name, value in headers
        if name.decode("latin-1").lower() in wanted
    )
    return StoredResponse(200, kept, body)


@dataclass(frozen=True, eq=False)
class Answer:
    """A stored response ready to send: its ASGI headers encoded once, not on every hit."""

    stored: StoredResponse
    headers: tuple[tuple[bytes, bytes], ...]  # as stored, lower-case names
    validators: tuple[tuple[bytes, bytes], ...]  # the same without Content-Type, for a 304
    length: tuple[bytes, bytes]  # Content-Length of the body
    etag: str | None

    @classmethod
    def of(cls, stored: StoredResponse) -> Answer:
        """Prepare a stored response for sending."""
        headers = tuple(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in stored.headers
        )
        return cls(
            stored,
            headers,
            tuple(h for h in headers if h[0] != b"content-type"),
            (b"content-length", str(len(stored.body)).encode()),
            stored.header("ETag"),
        )

    @property
    def status(self) -> int:
        """The stored status."""
        return self.stored.status

    @property
    def body(self) -> bytes:
        """The stored body."""
        return self.stored.body


class ResponseCache:
    """Per gateway process: one `Cache` per cached service, plus the in-memory level."""

    def __init__(self, settings: GatewaySettings, services: Iterable[str]) -> None:
        backend = shared_backend(settings)
        self.ttl = settings.cache_ttl
        self.caches = {
            name: Cache(backend, owner=name, service="gateway", namespace=settings.broker_namespace)
            for name in services
        }
        # Bounded in age as well as size: the generation alone cannot tell a page is stale
        # when the shared store lost its data, so no page outlives `cache_local_ttl`.
        self._local: TTLCache[tuple[str, int, str], Answer] = TTLCache(
            maxsize=settings.cache_local_bytes,
            ttl=settings.cache_local_ttl,
            getsizeof=lambda answer: len(answer.body) + 512,
        )
        self._inflight: dict[str, asyncio.Future[Answer | None]] = {}
        # One read of a service's generation at a time: when the memo expires, every
        # request in flight would otherwise start a thread of its own to read it.
        self._reading: dict[str, asyncio.Future[int | None]] = {}
        self._lookups: dict[tuple[str, str], Counter] = {}

    def serves(self, service: str) -> bool:
        """Whether answers of `service` may be cached here."""
        cache = self.caches.get(service)
        return cache is not None and cache.enabled

    async def _generation(self, cache: Cache) -> int | None:
        memo = cache.memoized_generation(PUBLIC_SCOPE)
        if memo is not None:
            return memo
        reading = self._reading.get(cache.owner)
        if reading is None:
            # Reading the shared store blocks: never on the event loop.
            reading = asyncio.ensure_future(
                anyio.to_thread.run_sync(cache.generation, PUBLIC_SCOPE)
            )
            self._reading[cache.owner] = reading
            reading.add_done_callback(lambda _: self._reading.pop(cache.owner, None))
        # Shielded: one caller going away must not cancel the read the others wait for.
        return await asyncio.shield(reading)

    async def lookup(self, service: str, key: str) -> tuple[Answer | None, str | None]:
        """The stored answer, else the full key to store under (None: the store is unreachable).

        A hit from memory needs no full key, and none is computed for it.
        """
        cache = self.caches[service]
        answer, full = await self._lookup(cache, service, key)
        outcome = "hit" if answer is not None else "miss" if full is not None else "unavailable"
        counter = self._lookups.get((service, outcome))
        if counter is None:  # labels() validates and locks: once per outcome, not per request
            counter = self._lookups[service, outcome] = CACHE_LOOKUPS.labels(
                "gateway", service, outcome
            )
        counter.inc()
        return answer, full

    async def _lookup(
        self, cache: Cache, service: str, key: str
    ) -> tuple[Answer | None, str | None]:
        generation = await self._generation(cache)
        if generation is None:
            return None, None
        local_key = (service, generation, key)
        answer = self._local.get(local_key)
        if answer is not None:
            return answer, None
        data, full = await anyio.to_thread.run_sync(cache.peek, PUBLIC_SCOPE, key)
        entry = StoredResponse.loads(data) if data is not None else None
        if entry is None:
            return None, full
        answer = Answer.of(entry)
        self._remember(local_key, answer)
        return answer, full

    async def store(self, service: str, key: str, full: str, answer: Answer) -> None:
        """Keep an answer in memory and in the shared store."""
        cache = self.caches[service]
        generation = cache.memoized_generation(PUBLIC_SCOPE)
        if generation is not None and full == cache.key(PUBLIC_SCOPE, generation, key):
            self._remember((service, generation, key), answer)
        await anyio.to_thread.run_sync(cache.store, full, answer.stored.dumps(), self.ttl)

    def _remember(self, local_key: tuple[str, int, str], answer: Answer) -> None:
        # ValueError: larger than the whole in-memory level (or that level is switched off).
        with contextlib.suppress(ValueError):
            self._local[local_key] = answer

    def follow(self, full: str) -> asyncio.Future[Answer | None] | None:
        """The pending load of `full` in this process, or None after registering ours."""
        pending = self._inflight.get(full)
        if pending is not None:
            return pending
        self._inflight[full] = asyncio.get_running_loop().create_future()
        return None

    def settle(self, full: str, answer: Answer | None) -> None:
        """Hand our load's result to the requests that waited for it."""
        pending = self._inflight.pop(full, None)
        if pending is not None and not pending.done():
            pending.set_result(answer)
