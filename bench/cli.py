"""`python -m bench`: start the platform on real backends (and/or embedded), seed 100,000
products, measure every scenario with wrk, print one table with the targets, write it to
bench/results/."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform as host
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from bench import checkout, report, scenarios, wrk
from bench.backends import real_backends, versions
from bench.cursor import deep_cursor, row_key
from bench.lock import DEFAULT_PATH, measuring
from bench.platform import (
    Memory,
    bench_env,
    memory,
    memory_by_part,
    migrate,
    settings_of,
    start,
    start_hello,
    stop,
    stop_hello,
    wait_announced,
    wait_ready,
    worker_count,
)
from bench.report import Row, Target
from bench.seed import Seeded, count_matching, seed_catalog, stock_up
from catalog.settings import CatalogSettings
from orders.settings import OrdersSettings

RESULTS = Path(__file__).parent / "results"
SEARCH_WORD = "walnut"  # one material in forty: about 2.5% of the products
STAPLES = 64  # products with endless stock, for checkout
IDLE_SECONDS = 5.0  # after start-up, before memory is read
SETTLE_SECONDS = 90.0  # how long placed orders may take to leave PENDING after the load


@dataclass(frozen=True)
class Options:
    """The command line."""

    load: wrk.Load
    products: int
    depth: int
    shoppers: int
    checkout_seconds: int
    backends: tuple[str, ...]
    lock: Path | None
    log_level: str
    keep: bool


@dataclass
class Run:
    """Everything one backend's run measured."""

    backend: str
    label: str
    rows: list[Row] = field(default_factory=list)
    seeded: Seeded | None = None
    ready_seconds: float | None = None
    memory: Memory | None = None
    memory_parts: dict[str, Memory] = field(default_factory=dict)
    checkout: checkout.CheckoutResult | None = None
    facts: dict[str, str] = field(default_factory=dict)

    def row(self, key: str, cache: str) -> Row | None:
        """The row of a scenario in one phase, if it ran."""
        return next((r for r in self.rows if r.key == key and r.cache == cache), None)


def parse_args(argv: Sequence[str] | None) -> Options:
    """Options from the command line and BENCH_* variables."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--duration",
        type=int,
        default=int(os.environ.get("BENCH_DURATION", "10")),
        help="seconds per measured scenario (env BENCH_DURATION; default 10)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=90_000, help="row of the deep keyset page")
    parser.add_argument("--shoppers", type=int, default=32, help="concurrent checkout loops")
    parser.add_argument(
        "--embedded",
        nargs="?",
        const="also",
        choices=["also", "only"],
        help="also (or only) measure on embedded defaults: SQLite, file broker, no Redis",
    )
    parser.add_argument(
        "--lock",
        default=os.environ.get("BENCH_LOCK", str(DEFAULT_PATH)),
        help="the flock file held while measuring; '' for none",
    )
    parser.add_argument("--log-level", default="WARNING", help="the platform's BAZAAR_LOG_LEVEL")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    args = parser.parse_args(argv)
    if args.depth >= args.products:
        parser.error("--depth must be below --products")
    backends = {None: ("postgresql",), "also": ("postgresql", "embedded"), "only": ("embedded",)}
    return Options(
        load=wrk.Load(args.threads, args.connections, args.duration, args.warmup),
        products=args.products,
        depth=args.depth,
        shoppers=args.shoppers,
        checkout_seconds=args.duration,
        backends=backends[args.embedded],
        lock=Path(args.lock) if args.lock else None,
        log_level=args.log_level,
        keep=args.keep,
    )


def say(text: str) -> None:
    """Progress, on stderr: stdout carries the report."""
    print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """Facts about this machine for the report."""
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    wrk_version = subprocess.run(  # noqa: S603 - a fixed command line
        [shutil.which("wrk") or "wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.split(" [")[0]
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": f"{host.system()} {host.release()}",
        "python": host.python_version(),
        "wrk": wrk_version.strip() or "?",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


async def _reader_token(gateway: str, auth: str) -> str:
    """A new customer's access token from the OAuth2 token endpoint, through the gateway."""
    async with httpx.AsyncClient(timeout=30) as client:
        email, password = await checkout.register(client, auth)
        return await checkout.login(client, gateway + "/api/auth", email, password)


def run_backend(kind: str, options: Options, wrk_bin: str) -> Run:
    """Seed, then measure both phases on one set of backends; resources are always released."""
    real = kind == "postgresql"
    label = "PostgreSQL + Redis + RabbitMQ" if real else "embedded (SQLite, file broker)"
    run = Run(kind, label)
    run.facts = machine()
    work = Path(tempfile.mkdtemp(prefix=f"bazaar-bench-{kind}-"))
    say(f"== {run.label}: work folder {work}")
    failed = True
    try:
        _measure(kind, run, options, wrk_bin, work)
        failed = False
    finally:
        if failed or options.keep:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return run


def _measure(kind: str, run: Run, options: Options, wrk_bin: str, work: Path) -> None:
    real = kind == "postgresql"
    with ExitStack() as stack:
        backend_env: dict[str, str] = {}
        if real:
            backends = stack.enter_context(real_backends())
            backend_env = backends.env()
            run.facts.update(versions(backends))
        env = bench_env(work / "var", backend_env, options.log_level)
        catalog_settings = settings_of(CatalogSettings, env)
        catalog_db = catalog_settings.database_url
        say("migrating ...")
        migrate(env, work)
        say(f"seeding {options.products:,} products ...")
        run.seeded = seed_catalog(catalog_db, options.products)
        say(f"  done in {run.seeded.seconds:.1f} s")
        staples = stock_up(catalog_db, STAPLES)
        secret = catalog_settings.secret_key.get_secret_value()
        cursor = deep_cursor(catalog_db, secret, options.depth)
        run.facts["matches"] = f"{count_matching(catalog_db, SEARCH_WORD):,} active products"
        detail_id = row_key(catalog_db, options.products // 2)[1]
        log = work / "platform.log"
        urls = scenarios.Urls(
            gateway=env["BAZAAR_GATEWAY_URL"],
            catalog=env["BAZAAR_CATALOG_URL"],
            hello="",  # started in phase 2, shaped like the services then running
            detail_id=detail_id,
            deep_cursor=cursor,
            depth=options.depth,
            search=SEARCH_WORD,
        )

        say("-- phase 1: caches off (BAZAAR_CACHE_ENABLED=false)")
        platform = start({**env, "BAZAAR_CACHE_ENABLED": "false"}, work, log)
        stack.callback(stop, platform)
        wait_ready(platform)
        wait_announced(platform)
        token = asyncio.run(_reader_token(platform.gateway, platform.url("auth")))
        for scenario in scenarios.uncached(urls, token):
            run.rows.append(scenarios.measure(wrk_bin, scenario, options.load, "off", options.lock))
        stop(platform)

        say("-- phase 2: caches on (the default); a second start on the same data")
        with measuring(options.lock):
            platform = start({**env, "BAZAAR_CACHE_ENABLED": "true"}, work, log)
            stack.callback(stop, platform)
            run.ready_seconds = wait_ready(platform)
        say(f"  ready in {run.ready_seconds:.2f} s")
        wait_announced(platform)
        time.sleep(IDLE_SECONDS)
        run.memory = memory(list(platform.remember_processes()))
        run.memory_parts = memory_by_part(platform.process.pid)
        urls = replace(urls, hello=_start_ceiling(run, platform.process.pid, env, work, stack))
        for scenario in scenarios.cached(urls):
            run.rows.append(scenarios.measure(wrk_bin, scenario, options.load, "on", options.lock))
        run.checkout = _checkout(platform.gateway, platform.url("auth"), env, staples, options)
        run.rows.append(_checkout_row(run.checkout, options.shoppers, real))
        stop(platform)


def _start_ceiling(run: Run, root: int, env: dict[str, str], work: Path, stack: ExitStack) -> str:
    """Start the hello-world with as many workers as the running catalog has (`bazaar up`
    picks its own default) and the same threads; its URL."""
    settings = settings_of(CatalogSettings, env)
    counted = worker_count(root, "catalog:create_app")
    workers = counted or settings.workers
    shape = {"BAZAAR_WORKERS": str(workers), "BAZAAR_THREADS": str(settings.threads)}
    hello, url = start_hello({**env, **shape}, work / "hello.log")
    stack.callback(stop_hello, hello)
    source = "counted on the running catalog" if counted else "from the settings"
    run.facts["server"] = (
        f"gunicorn gthread, {workers} worker(s) ({source}) x {settings.threads} threads, "
        "keep-alive 75 s, for the services and the hello-world alike"
    )
    return url


def _checkout(
    gateway: str, auth: str, env: dict[str, str], staples: list[int], options: Options
) -> checkout.CheckoutResult:
    say(f"  checkout: preparing {options.shoppers} shoppers ...")
    shoppers = asyncio.run(checkout.prepare(auth, gateway, staples, options.shoppers))
    orders_db = settings_of(OrdersSettings, env).database_url
    say(f"  checkout: {options.shoppers} shoppers for {options.checkout_seconds} s ...")
    with measuring(options.lock):
        if options.load.warmup > 0:
            # Warm-up orders are left to settle first: they must not queue ahead of the run's.
            warmup = asyncio.run(checkout.shop(gateway, shoppers, options.load.warmup))
            checkout.wait_settled(orders_db, {p.order_id for p in warmup.placed}, SETTLE_SECONDS)
        load = asyncio.run(checkout.shop(gateway, shoppers, options.checkout_seconds))
        placed = {p.order_id for p in load.placed}
        statuses = checkout.wait_settled(orders_db, placed, SETTLE_SECONDS)
    result = checkout.summarize(load, checkout.confirmation_times(orders_db), statuses)
    say(
        f"    {result.confirmed:,} of {result.placed:,} confirmed, "
        f"{result.orders_per_second:.1f} orders/s, p50 {result.p50_ms:.0f} ms, "
        f"p99 {result.p99_ms:.0f} ms, {result.errors} errors {result.failures or ''}"
    )
    return result


def _checkout_row(result: checkout.CheckoutResult, shoppers: int, real: bool) -> Row:
    broker = "RabbitMQ" if real else "file broker"
    return Row(
        key="checkout",
        name=f"checkout → CONFIRMED, {shoppers} shoppers through gateway, {broker}",
        cache="on",
        rate=result.orders_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        unit="orders/s",
        error_kinds=", ".join(f"{kind} {count:,}" for kind, count in result.failures.items()),
    )


def targets(run: Run, options: Options) -> list[Target]:
    """Each target, judged on this run's figures side by side."""
    row = run.row
    connections = options.load.connections
    found = [
        report.throughput_ratio(
            "cached product list through gateway ≥ 1.0 x hello-world ceiling",
            row("list_gateway", "on"),
            row("hello", "on"),
            1.0,
        ),
        report.throughput_ratio(
            "uncached product list through gateway ≥ 0.8 x the same endpoint direct",
            row("list_gateway", "off"),
            row("list_direct", "off"),
            0.8,
        ),
        report.latency_difference(
            "gateway overhead at 1 connection ≤ 0.5 ms p50 (product detail, uncached)",
            row("one_gateway", "off"),
            row("one_direct", "off"),
            0.5,
        ),
        report.latency_ratio(
            f"keyset page at depth {options.depth:,} ≤ 1.2 x latency of page 1",
            row("keyset_deep", "off"),
            row("list_direct", "off"),
            1.2,
        ),
        report.p99_bound(
            f"p99 of the cached product list (gateway) at {connections} connections ≤ 25 ms",
            row("list_gateway", "on"),
            25.0,
        ),
        report.no_errors("zero errors in every scenario", run.rows),
    ]
    if run.backend == "postgresql":
        found.append(
            report.checkout_target(
                "checkout ≥ 100 orders/s to CONFIRMED on RabbitMQ, "
                "p99 request → confirmed ≤ 500 ms",
                row("checkout", "on"),
                100.0,
                500.0,
            )
        )
    else:
        mem = run.memory
        found += [
            report.upper_bound(
                "embedded: whole platform idle ≤ 400 MB (taken as MiB; sum of PSS)",
                mem.pss_kib / 1024 if mem else None,
                400.0,
                f"{mem.pss_kib / 1024:,.0f} MiB PSS (RSS {mem.rss_kib / 1024:,.0f} MiB, "
                f"{mem.processes} processes)"
                if mem
                else "",
            ),
            report.upper_bound(
                "embedded: second start ready ≤ 5 s",
                run.ready_seconds,
                5.0,
                f"{run.ready_seconds:.2f} s" if run.ready_seconds is not None else "",
            ),
        ]
    return found


def render(run: Run, options: Options, seconds: float) -> str:
    """The report of one backend's run as markdown."""
    facts, load = run.facts, options.load
    servers = ", ".join(
        f"{k} {facts[k]}" for k in ("PostgreSQL", "Redis", "RabbitMQ") if k in facts
    )
    seeded = run.seeded
    ceiling = run.row("hello", "on")
    lines = [
        f"# Bazaar benchmark: {run.label}",
        "",
        f"- When: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; the whole run took "
        f"{seconds / 60:.1f} min; command: `{' '.join(['python -m bench', *sys.argv[1:]])}`.",
        f"- Machine: {facts['cores']} cores ({facts['cpu']}), {facts['memory']}, {facts['os']}; "
        f"Python {facts['python']}" + (f"; {servers}" if servers else "") + ".",
        f"- Load: {facts['wrk']} -t{load.threads} -c{load.connections} --latency on the same "
        f"machine, {load.duration} s per scenario after a {load.warmup} s warm-up; "
        f"load average (1, 5, 15 min) at start {facts['load']}, at the end "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (a high figure at the start means other work shared the machine: the results "
        "are then indicative only).",
        f"- Platform: `bazaar up` with its defaults; {facts.get('server', '?')}; logs at "
        f"{options.log_level}; gateway rate limits raised out of reach (still counted on every "
        "call).",
    ]
    if seeded is not None:
        lines.append(
            f"- Data: {seeded.products:,} products in {seeded.categories} categories, seeded in "
            f"{seeded.seconds:.1f} s; `q={SEARCH_WORD}` matches {facts.get('matches', '?')}."
        )
    if run.ready_seconds is not None:
        mem = run.memory
        lines.append(
            f"- Second start (caches on, data kept): every /readyz 200 after "
            f"{run.ready_seconds:.2f} s"
            + (
                f"; idle {mem.pss_kib / 1024:,.0f} MiB PSS, {mem.rss_kib / 1024:,.0f} MiB RSS "
                f"over {mem.processes} processes."
                if mem
                else "."
            )
        )
        parts = sorted(run.memory_parts.items(), key=lambda item: -item[1].pss_kib)
        if parts:
            lines.append(
                "- Idle memory by part, MiB PSS (processes): "
                + ", ".join(f"{n} {m.pss_kib / 1024:,.0f} ({m.processes})" for n, m in parts)
                + "."
            )
    lines += ["", report.table(run.rows, ceiling.rate if ceiling else None), ""]
    if run.checkout is not None:
        c = run.checkout
        lines.append(
            f"Checkout: {c.placed:,} orders placed (202) in {options.checkout_seconds} s, "
            f"{c.confirmed:,} confirmed; throughput counts confirmations over {c.seconds:.1f} s "
            f"(first request to last confirmation); the 202 answer itself: p50 "
            f"{report.ms(c.answer_p50_ms)} ms, p99 {report.ms(c.answer_p99_ms)} ms"
            + (f"; failures: {c.failures}" if c.failures else "")
            + "."
        )
        lines.append("")
    lines += ["## Targets", "", report.targets_table(targets(run, options)), ""]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Run the bench for each backend asked for; print and write each report."""
    options = parse_args(argv)
    # `kill` (SIGTERM) must clean up like Ctrl-C: stop the platform, drop the databases.
    signal.signal(signal.SIGTERM, _interrupt)
    wrk_bin = wrk.ensure_wrk()
    for kind in options.backends:
        started = time.monotonic()
        run = run_backend(kind, options, wrk_bin)
        text = render(run, options, time.monotonic() - started)
        print(text, flush=True)
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{kind}.md"
        out.write_text(text)
        say(f"written to {out}")
