"""The machine-wide bench lock: measurements from different people never overlap.

The same file as `flock /tmp/bazaar-bench.lock <command>`, so a bench started by hand under
flock(1) and this one exclude each other. A run that is itself under such a flock (its
parent holds the lock) measures without taking it again, which would wait forever.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_PATH = Path("/tmp/bazaar-bench.lock")  # noqa: S108 - shared on purpose


def _ancestors() -> set[int]:
    pids: set[int] = set()
    pid = os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def holders(path: Path) -> set[int]:
    """Process ids holding a flock on `path`, from /proc/locks."""
    try:
        info = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return set()
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    found = set()
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; blocked waiters have "->".
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            found.add(int(fields[4]))
    return found


@contextmanager
def measuring(path: Path | None) -> Iterator[None]:
    """Hold the bench lock for the block (no lock when `path` is None)."""
    if path is None:
        yield
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if holders(path) & _ancestors():
                yield  # our own `flock ... make bench` holds it
                return
            print(f"waiting for {path} (another benchmark is measuring) ...", file=sys.stderr)
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            print(f"got {path} after {time.monotonic() - started:.0f} s", file=sys.stderr)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
