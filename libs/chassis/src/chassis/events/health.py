"""An events worker's health: heartbeats from its loops and the age of its running handlers.

The worker serves no API, so a hung consumer (a handler blocked for good, a loop stuck in a
call without a timeout) would stop the saga without a sign. Each loop beats on every round
and each handler run is timed; `/livez` fails once a loop has not beaten, or a handler has
run, for longer than `worker_stall_seconds`, and the orchestrator restarts the worker.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Heartbeats:
    """Last beat of each loop and start of each running task, read by the liveness probe."""

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}
        self._running: dict[int, tuple[str, float]] = {}
        self._tokens = itertools.count()

    def beat(self, loop: str) -> None:
        """`loop` made progress (a round done, or a wait that will end)."""
        now = self._clock()
        with self._lock:
            self._beats[loop] = now

    @contextmanager
    def running(self, task: str) -> Iterator[None]:
        """Time one run of `task` (a handler) while it lasts."""
        token = next(self._tokens)
        with self._lock:
            self._running[token] = (task, self._clock())
        try:
            yield
        finally:
            with self._lock:
                del self._running[token]

    def stalled(self) -> list[str]:
        """What has made no progress for longer than `stall_seconds`, as readable lines."""
        now = self._clock()
        with self._lock:
            beats = sorted(self._beats.items())
            running = sorted(self._running.values(), key=lambda run: run[1])
        found = [
            f"{loop}: no progress for {now - last:.0f} s"
            for loop, last in beats
            if now - last > self.stall_seconds
        ]
        found += [
            f"{task}: running for {now - started:.0f} s"
            for task, started in running
            if now - started > self.stall_seconds
        ]
        return found
