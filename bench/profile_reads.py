"""CPU per request of catalog's uncached reads, in-process: `python -m bench.profile_reads`.

No server and no load generator: a Flask test client calls the catalog app in a loop on a
fresh PostgreSQL database of 1,000 products (caches off), and the process's own CPU time
per request is reported (the best of ten rounds), with the Python function calls one
request makes (cProfile's count: exact, however loaded the machine). `--profile PATH`
keeps a cProfile of the loops for `pstats`.
Quiet enough for a shared machine, where `make bench`'s figures would mean little.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bench.backends import create_database, drop_database
from bench.seed import seed_catalog

PATHS = ("/products?limit=100", "/products?limit=20", "/products/7")


def cpu_per_call(call: Callable[[], object], repeat: int, rounds: int = 10) -> float:
    """CPU milliseconds of `call`: the best round's mean, after a few warm-up calls.

    The best of several rounds, since other processes on a shared machine only ever make
    a round slower (cache misses, frequency), never faster.
    """
    for _ in range(20):
        call()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat // rounds):
            call()
        best = min(best, (time.process_time() - started) * 1000 / (repeat // rounds))
    return best


def _total_calls(profiler: cProfile.Profile) -> int:
    profiler.create_stats()
    if not getattr(profiler, "stats", None):
        return 0
    stats: Any = pstats.Stats(profiler)  # typeshed leaves out `total_calls`
    return int(stats.total_calls)


def main(argv: Sequence[str] | None = None) -> None:
    """Print CPU ms per request for each path."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--profile", help="write a cProfile of every path's loop here")
    args = parser.parse_args(argv)

    from catalog import create_app
    from catalog.service import SERVICE
    from catalog.settings import CatalogSettings
    from chassis import migrations

    name = f"bazaar_profile_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        assert SERVICE.migrations is not None  # noqa: S101
        migrations.upgrade(SERVICE.migrations, url)
        seed_catalog(url, 1000)
        app = create_app(
            CatalogSettings(env="test", database_url=url, cache_enabled=False, log_level="WARNING")
        )
        client = app.test_client()
        profiler = cProfile.Profile() if args.profile else None
        for path in PATHS:

            def call(path: str = path) -> object:
                response = client.get(path)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: {response.status_code}")
                return response

            cpu = cpu_per_call(call, args.repeat)
            counting = profiler or cProfile.Profile()
            before = _total_calls(counting)
            counting.enable()
            for _ in range(100):
                call()
            counting.disable()
            calls = (_total_calls(counting) - before) / 100
            print(f"{path:24} {cpu:6.3f} ms CPU, {calls:7.0f} function calls per request")
        if profiler is not None:
            profiler.dump_stats(args.profile)
        app.extensions["bazaar"].db.dispose()
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
