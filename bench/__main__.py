"""`python -m bench`: start the platform, measure each scenario with wrk, print one table."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as host
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench import wrk
from chassis.registry import isolated_env

RESULTS = Path(__file__).parent / "results"
POSTGRES = os.environ.get(
    "BAZAAR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    """Poll `url` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a process under test exited early (code {process.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def postgres_database() -> str | None:
    """A fresh PostgreSQL database for the catalog, or None when PostgreSQL is not reachable."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = "bazaar_bench_" + uuid.uuid4().hex[:8]
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        return None
    finally:
        admin.dispose()
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    """Drop a database made by `postgres_database`."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C a process group and wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def table(results: list[wrk.Result], ceiling: float) -> str:
    """The report as markdown."""
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | errors | vs ceiling |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} | {r.requests_per_second / ceiling:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run every scenario and write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)))
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    args = parser.parse_args()
    wrk_bin = wrk.ensure_wrk()

    work = Path(tempfile.mkdtemp(prefix="bazaar-bench-"))
    hello_port = free_port()
    env = {
        **os.environ,
        **isolated_env(work / "var"),
        "BAZAAR_LOG_LEVEL": "WARNING",
        # wrk is one client on one IP: measure the platform, not its rate limiter.
        "BAZAAR_GATEWAY_RATE_LIMIT_ANONYMOUS": "1000000000/minute",
    }
    database = None if args.backend == "sqlite" else postgres_database()
    if args.backend == "postgres" and database is None:
        raise SystemExit("PostgreSQL is not reachable at " + POSTGRES)
    if database:
        env["BAZAAR_CATALOG_DATABASE_URL"] = database
    backend = "PostgreSQL" if database else "SQLite"

    processes: list[subprocess.Popen[bytes]] = []
    log = (work / "platform.log").open("wb")
    try:
        up = subprocess.Popen(
            [sys.executable, "-m", "chassis.cli", "up"], env=env, cwd=work,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        processes.append(up)
        hello = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "bench.hello:app", "--bind",
             f"127.0.0.1:{hello_port}", "--worker-class", "gthread", "--workers", "2",
             "--threads", "8", "--keep-alive", "75"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        processes.append(hello)
        gateway, catalog = env["BAZAAR_GATEWAY_URL"], env["BAZAAR_CATALOG_URL"]
        wait_for(f"http://127.0.0.1:{hello_port}/", hello)
        wait_for(gateway + "/readyz", up)
        wait_for(catalog + "/readyz", up)

        scenarios = [
            (
                "hello-world ceiling (Flask, gunicorn gthread 2x8)",
                f"http://127.0.0.1:{hello_port}/",
            ),
            ("product list, direct to catalog", catalog + "/products"),
            ("product list, through gateway", gateway + "/api/catalog/products"),
            ("product detail, direct to catalog", catalog + "/products/1"),
            ("product detail, through gateway", gateway + "/api/catalog/products/1"),
            ("search q=walnut, through gateway", gateway + "/api/catalog/products?q=walnut"),
        ]
        results = []
        for name, url in scenarios:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            results.append(
                wrk.run(wrk_bin, name, url, duration=args.duration, connections=args.connections)
            )
    finally:
        for process in reversed(processes):
            stop(process)
        log.close()
        if database:
            drop_database(database)

    ceiling = results[0].requests_per_second
    by_name = {r.name: r for r in results}
    gateway_cost = (
        by_name["product list, through gateway"].requests_per_second
        / by_name["product list, direct to catalog"].requests_per_second
    )
    report = (
        f"# Bazaar benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"Machine: {os.cpu_count()} cores, {host.machine()}, Python {host.python_version()}; "
        f"catalog on {backend} with the 240-product demo catalog; "
        f"wrk -t2 -c{args.connections} -d{args.duration}s on the same machine.\n\n"
        + table(results, ceiling)
        + f"\n\nGateway throughput relative to calling the catalog directly: {gateway_cost:.2f}\n"
    )
    print(report)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{backend.lower()}.md"
    out.write_text(report)
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
