"""Run wrk (installing Debian's package when missing) and read its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

# wrk prints durations with these suffixes (src/units.c); values in milliseconds.
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class Load:
    """How hard wrk drives a URL."""

    threads: int = 2
    connections: int = 64
    duration: int = 10
    warmup: int = 2
    timeout: int = 2  # seconds; a slower answer counts as a timeout error


@dataclass(frozen=True)
class Result:
    """One scenario's figures, as wrk reports them."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    error_kinds: dict[str, int] = field(default_factory=dict)  # "non-2xx", "timeout", ...

    def error_summary(self) -> str:
        """The errors by kind, e.g. "timeout 7, non-2xx 5"; empty when there were none."""
        return ", ".join(f"{kind} {count:,}" for kind, count in self.error_kinds.items())


def ensure_wrk() -> str:
    """The wrk binary, installing Debian's package with apt-get when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt:
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=False)  # noqa: S603
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: install it with `apt-get install wrk`.")
    return found


def duration_ms(text: str) -> float:
    """A wrk duration ("812.00us", "1.20ms", "2.01s", "1.00m") in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _required(pattern: str, output: str) -> str:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise ValueError(f"wrk output has no match for {pattern!r}:\n{output}")
    return match.group(1)


def parse(output: str) -> Result:
    """Figures from `wrk --latency` output."""
    kinds: dict[str, int] = {}
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        kinds["non-2xx"] = int(match.group(1))
    if match := _SOCKET_ERRORS.search(output):
        for kind, count in zip(
            ("connect", "read", "write", "timeout"), match.groups(), strict=True
        ):
            kinds[kind] = int(count)
    kinds = {kind: count for kind, count in kinds.items() if count}
    return Result(
        requests_per_second=float(_required(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=duration_ms(_required(r"^\s+50%\s+(\S+)", output)),
        p99_ms=duration_ms(_required(r"^\s+99%\s+(\S+)", output)),
        errors=sum(kinds.values()),
        requests=int(_required(r"(\d+) requests in", output)),
        error_kinds=kinds,
    )


def command(
    wrk: str, url: str, load: Load, *, seconds: int, headers: Mapping[str, str] | None = None
) -> list[str]:
    """The wrk command line for one run of `seconds`."""
    argv = [
        wrk,
        f"-t{min(load.threads, load.connections)}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        f"--timeout={load.timeout}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    return [*argv, url]


def run(wrk: str, url: str, load: Load, *, headers: Mapping[str, str] | None = None) -> Result:
    """A warm-up run (discarded), then the measured one; the caller holds the bench lock."""
    if load.warmup > 0:
        subprocess.run(  # noqa: S603
            command(wrk, url, load, seconds=load.warmup, headers=headers),
            capture_output=True,
            check=True,
        )
    completed = subprocess.run(  # noqa: S603
        command(wrk, url, load, seconds=load.duration, headers=headers),
        capture_output=True,
        text=True,
        check=True,
    )
    return parse(completed.stdout)
