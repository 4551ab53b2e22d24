"""The shared cache on both backends: generations, single flight, degradation, recovery."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from chassis.breaker import CircuitBreaker
from chassis.cache import (
    CACHE_ERRORS,
    CACHE_LOOKUPS,
    Cache,
    CacheBackend,
    LocalBackend,
    RedisBackend,
    StoredResponse,
    etag_for,
    etag_matches,
)
from chassis.testing import PrivateRedis


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CacheBackend]:
    """Each backend the platform runs on: a diskcache folder, and a real Redis."""
    made: CacheBackend
    if request.param == "local":
        made = LocalBackend(tmp_path / "cache")
    else:
        made = RedisBackend(request.getfixturevalue("redis_url"))
    yield made
    made.close()


def make_cache(backend: CacheBackend | None, **kwargs: object) -> Cache:
    """A cache in a namespace of its own, reading generations afresh on every call."""
    options: dict[str, object] = {"generation_ttl": 0.0001, **kwargs}
    return Cache(
        backend,
        owner="things",
        service="test",
        namespace="t" + uuid.uuid4().hex[:10],
        **options,  # type: ignore[arg-type]
    )


class CountingLoader:
    """A loader that counts its calls and takes a while, as a database query would."""

    def __init__(self, value: bytes | None = b"fresh", delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> bytes | None:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return self.value


def run_concurrently(count: int, work: Callable[[], object]) -> list[object]:
    """Start `count` threads at the same moment; their results in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_miss_loads_and_stores_then_hits(backend: CacheBackend) -> None:
    cache = make_cache(backend)
    load = CountingLoader()
    assert cache.fetch("public", "/things?a=1", load, ttl=60) == (b"fresh", "miss")
    assert cache.fetch("public", "/things?a=1", load, ttl=60) == (b"fresh", "hit")
    assert load.calls == 1


def test_bumping_a_scope_makes_every_entry_of_it_stale(backend: CacheBackend) -> None:
    cache = make_cache(backend)
    load = CountingLoader()
    cache.fetch("public", "/a", load, ttl=60)
    cache.fetch("other", "/a", load, ttl=60)
    cache.bump("public")
    load.value = b"newer"
    assert cache.fetch("public", "/a", load, ttl=60) == (b"newer", "miss")
    assert cache.fetch("other", "/a", load, ttl=60) == (b"fresh", "hit")


def test_a_bump_in_one_process_reaches_another_sharing_the_backend(backend: CacheBackend) -> None:
    writer, reader = make_cache(backend), make_cache(backend)
    reader.prefix = writer.prefix  # two processes, one owner
    reader.fetch("public", "/a", CountingLoader(b"old"), ttl=60)
    writer.bump("public")
    assert reader.fetch("public", "/a", CountingLoader(b"new"), ttl=60) == (b"new", "miss")


def test_generations_are_read_at_most_once_per_ttl(backend: CacheBackend) -> None:
    writer = make_cache(backend)
    reader = make_cache(backend, generation_ttl=0.3)
    reader.prefix = writer.prefix
    reader.fetch("public", "/a", CountingLoader(b"old"), ttl=60)
    writer.bump("public")
    # Within the generation TTL the reader may still answer from the old generation...
    assert reader.fetch("public", "/a", CountingLoader(b"new"), ttl=60)[0] == b"old"
    time.sleep(0.35)
    # ...and never after it.
    assert reader.fetch("public", "/a", CountingLoader(b"new"), ttl=60)[0] == b"new"


def test_an_answer_the_loader_declines_to_share_is_not_stored(backend: CacheBackend) -> None:
    cache = make_cache(backend)
    declined = CountingLoader(value=None)
    assert cache.fetch("public", "/missing", declined, ttl=60) == (None, "miss")
    assert cache.fetch("public", "/missing", declined, ttl=60) == (None, "miss")
    assert declined.calls == 2


def test_64_concurrent_readers_of_a_cold_key_load_it_once(backend: CacheBackend) -> None:
    cache = make_cache(backend)
    load = CountingLoader(delay=0.05)
    results = run_concurrently(64, lambda: cache.fetch("public", "/cold", load, ttl=60)[0])
    assert results == [b"fresh"] * 64
    assert load.calls == 1


def test_readers_in_two_processes_load_a_cold_key_once(backend: CacheBackend) -> None:
    # Two Cache objects share nothing in memory, like two gunicorn workers: only the backend.
    first, second = make_cache(backend), make_cache(backend)
    second.prefix = first.prefix
    load = CountingLoader(delay=0.1)
    caches = [first, second] * 32
    index = iter(range(64))
    lock = threading.Lock()

    def read() -> object:
        with lock:
            cache = caches[next(index)]
        return cache.fetch("public", "/cold", load, ttl=60)[0]

    assert run_concurrently(64, read) == [b"fresh"] * 64
    assert load.calls == 1


def test_a_failing_loader_fails_its_waiters_over_to_their_own_load(backend: CacheBackend) -> None:
    cache = make_cache(backend)
    attempts = 0
    lock = threading.Lock()

    def flaky() -> bytes:
        nonlocal attempts
        with lock:
            attempts += 1
            first = attempts == 1
        time.sleep(0.05)
        if first:
            raise RuntimeError("database hiccup")
        return b"ok"

    def read() -> object:
        try:
            return cache.fetch("public", "/flaky", flaky, ttl=60)[0]
        except RuntimeError:
            return "error"

    results = run_concurrently(8, read)
    assert results.count("error") == 1
    assert results.count(b"ok") == 7


def test_bumps_wait_for_the_commit_and_skip_rollbacks(backend: CacheBackend) -> None:
    cache = make_cache(backend)
    engine = create_engine("sqlite://")
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        cache.bump_after_commit(session, "public")
        cache.bump_after_commit(session, "public")  # one bump per scope per commit
        first = cache.generation("public")
        assert first is not None
        session.commit()
        assert cache.generation("public") == first + 1
        session.execute(text("SELECT 1"))
        cache.bump_after_commit(session, "public")
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()
        assert cache.generation("public") == first + 1


def test_a_disabled_cache_loads_every_time() -> None:
    cache = make_cache(None)
    load = CountingLoader()
    assert not cache.enabled
    assert cache.fetch("public", "/a", load, ttl=60) == (b"fresh", "unavailable")
    assert cache.fetch("public", "/a", load, ttl=60) == (b"fresh", "unavailable")
    assert load.calls == 2


def test_an_unreachable_redis_is_skipped_quickly_and_counted(unused_port: int) -> None:
    cache = make_cache(RedisBackend(f"redis://127.0.0.1:{unused_port}/0", timeout=0.2))
    errors_before = CACHE_ERRORS.labels("test", "things")._value.get()
    load = CountingLoader()
    started = time.monotonic()
    for _ in range(50):
        assert cache.fetch("public", "/a", load, ttl=60) == (b"fresh", "unavailable")
    # The breaker opens after a few failures: fifty reads cost a few timeouts, not fifty.
    assert time.monotonic() - started < 2.0
    assert load.calls == 50
    errors = CACHE_ERRORS.labels("test", "things")._value.get() - errors_before
    assert 1 <= errors <= 5
    cache.backend.close()  # type: ignore[union-attr]


def test_caching_resumes_by_itself_when_redis_returns(unused_port: int) -> None:
    server = PrivateRedis(unused_port)
    server.start()
    try:
        cache = make_cache(
            RedisBackend(server.url, timeout=0.2),
            breaker=CircuitBreaker(fail_max=2, reset_seconds=0.3),
        )
        load = CountingLoader()
        assert cache.fetch("public", "/a", load, ttl=60)[1] == "miss"
        assert cache.fetch("public", "/a", load, ttl=60)[1] == "hit"
        server.stop()
        unavailable_before = CACHE_LOOKUPS.labels("test", "things", "unavailable")._value.get()
        for _ in range(5):
            assert cache.fetch("public", "/a", load, ttl=60) == (b"fresh", "unavailable")
        assert CACHE_LOOKUPS.labels("test", "things", "unavailable")._value.get() == (
            unavailable_before + 5
        )
        server.start()  # an empty Redis: it kept nothing on disk
        deadline = time.monotonic() + 5
        outcomes = []
        while time.monotonic() < deadline and outcomes[-2:] != ["miss", "hit"]:
            outcomes.append(cache.fetch("public", "/a", load, ttl=60)[1])
            time.sleep(0.05)
        assert outcomes[-2:] == ["miss", "hit"]
        cache.backend.close()  # type: ignore[union-attr]
    finally:
        server.stop()


def test_generations_never_go_back_when_redis_loses_its_data(private_redis: PrivateRedis) -> None:
    cache = make_cache(RedisBackend(private_redis.url))
    before = cache.generation("public")
    cache.bump("public")
    cache.bump("public")
    bumped = cache.generation("public")
    assert before is not None and bumped is not None and bumped > before
    redis.Redis.from_url(private_redis.url).flushall()  # the private server, never the shared one
    after_loss = cache.generation("public")
    assert after_loss is not None and after_loss > bumped
    # A bump onto the missing key (the flush came between two reads) moves forward too.
    redis.Redis.from_url(private_redis.url).flushall()
    cache.bump("public")
    after_bump = cache.generation("public")
    assert after_bump is not None and after_bump > after_loss
    cache.backend.close()  # type: ignore[union-attr]


def test_every_reader_agrees_on_the_generation_seeded_for_a_missing_key(
    backend: CacheBackend,
) -> None:
    first, second = make_cache(backend), make_cache(backend)
    second.prefix = first.prefix
    assert first.generation("public") == second.generation("public")


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on."""
    from chassis.registry import free_port

    return free_port()


def test_redis_backend_errors_become_cache_unavailable(unused_port: int) -> None:
    from chassis.cache import CacheUnavailable

    backend = RedisBackend(f"redis://127.0.0.1:{unused_port}/0", timeout=0.1)
    with pytest.raises(CacheUnavailable):
        backend.get("k")
    backend.close()
    assert isinstance(CacheUnavailable("x"), Exception)
    assert redis.RedisError  # the backend wraps redis-py's errors, whatever their class


def test_stored_responses_round_trip_and_reject_garbage() -> None:
    stored = StoredResponse(200, (("Content-Type", "application/json"), ("ETag", '"x"')), b"{}\n")
    again = StoredResponse.loads(stored.dumps())
    assert again == stored
    assert again is not None and again.header("etag") == '"x"'
    assert StoredResponse.loads(b"no newline") is None
    assert StoredResponse.loads(b"{not json}\nbody") is None
    assert StoredResponse.loads(b'{"status": 200}\nbody') is None


def test_etags_name_the_body_and_match_as_rfc_9110_says() -> None:
    tag = etag_for(b"body")
    assert tag == etag_for(b"body") != etag_for(b"other")
    assert tag.startswith('"') and tag.endswith('"')
    assert etag_matches(tag, tag)
    assert etag_matches(f'"nope", {tag}', tag)
    assert etag_matches("W/" + tag, tag)
    assert etag_matches("*", tag)
    assert not etag_matches(None, tag)
    assert not etag_matches("", tag)
    assert not etag_matches('"nope"', tag)
    assert not etag_matches("5" * 5000, tag)
