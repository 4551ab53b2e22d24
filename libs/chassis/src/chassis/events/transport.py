"""The embedded broker: kombu's filesystem transport, made safe for several processes.

`make run` needs a broker that carries events between separate processes without a
server. kombu's filesystem transport does (its exchange bindings live in files), but a
reader can pick up a message file while the writer is still writing it, and two readers
can take the same file when the temporary folder is on another filesystem. Here a message
is written under a hidden name and renamed into place, and a reader claims it by renaming
it within the same folder, so each message is read whole and by exactly one consumer.
"""

from __future__ import annotations

import os
import time
import uuid
from queue import Empty
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
    """Atomic put and claim on top of kombu's filesystem channel."""

    # kombu's own base classes disagree on this signature; this matches the filesystem one.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # Nanosecond names keep one publisher's messages in order.
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        with open(partial, "wb") as f:
            f.write(str_to_bytes(dumps(payload)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, final)

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.startswith(".") or name.partition(".")[2] != wanted:
                continue
            source = os.path.join(self.data_folder_in, name)
            claimed = os.path.join(self.data_folder_in, f".claimed-{os.getpid()}-{name}")
            try:
                os.rename(source, claimed)  # atomic: one reader wins
            except FileNotFoundError:
                continue
            with open(claimed, "rb") as f:
                payload = f.read()
            os.unlink(claimed)
            return loads(bytes_to_str(payload))
        raise Empty()

    def _size(self, queue: str) -> int:
        wanted = f"{queue}.msg"
        return sum(
            1
            for name in os.listdir(self.data_folder_in)
            if not name.startswith(".") and name.partition(".")[2] == wanted
        )

    def _purge(self, queue: str) -> int:
        count = 0
        while True:
            try:
                self._get(queue)
            except Empty:
                return count
            count += 1


class Transport(filesystem.Transport):
    """kombu transport class for `Connection(transport=Transport)`."""

    Channel = Channel
    driver_type = "bazaar-filesystem"
    driver_name = "bazaar-filesystem"
