"""The embedded broker: kombu's filesystem transport, made safe for several processes.

`make run` needs a broker that carries events between separate processes without a
server. kombu's filesystem transport does (its exchange bindings live in files), but a
reader can pick up a message file while the writer is still writing it, and two readers
can take the same file when the temporary folder is on another filesystem. Here a message
is written under a hidden name and renamed into place, and a reader claims it by renaming
it within the same folder, so each message is read whole and by exactly one consumer.

Exchange bindings (which queues an exchange routes to) live in one file per exchange. kombu
updates it in place, so a process starting beside another can read it empty or half
written, and two can both create it and lose one's binding. Here the file is only ever
replaced whole, under a lock file held for the read-modify-write.

A claimed file stays until the message is acked. A claim whose process has died (killed
mid-handler, say) is put back for the next reader: delivery is at least once, as on
RabbitMQ, and the consumers' inbox makes it exactly-once in effect.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from queue import Empty
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

CLAIM_PREFIX = ".claimed-"
CLAIM_PROPERTY = "bazaar_claim"


def _claim_owner_alive(name: str) -> bool:
    """Whether the process that claimed this file still runs."""
    pid_text = name[len(CLAIM_PREFIX) :].partition("-")[0]
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class Channel(filesystem.Channel):
    """Atomic put, claim and binding on top of kombu's filesystem channel."""

    def get_table(self, exchange: Any) -> list[Any]:
        """The exchange's bindings; none while its file does not exist yet."""
        try:
            text = self._exchange_file(exchange).read_bytes()
        except FileNotFoundError:
            return []
        return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(text))]

    def _queue_bind(self, exchange: Any, routing_key: Any, pattern: Any, queue: Any) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with open(file.with_name(f".{file.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            bindings = self.get_table(exchange)
            if binding in bindings:
                return
            partial = file.with_name(f".{file.name}.{os.getpid()}.partial")
            partial.write_bytes(str_to_bytes(dumps([binding, *bindings])))
            os.replace(partial, file)

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
        names = sorted(os.listdir(self.data_folder_in))
        orphans = [n for n in names if n.startswith(CLAIM_PREFIX) and not _claim_owner_alive(n)]
        if orphans:
            for name in orphans:
                self._return_orphan(name)
            names = sorted(os.listdir(self.data_folder_in))
        for name in names:
            if name.startswith(".") or name.partition(".")[2] != wanted:
                continue
            source = os.path.join(self.data_folder_in, name)
            claimed = os.path.join(self.data_folder_in, f"{CLAIM_PREFIX}{os.getpid()}-{name}")
            try:
                os.rename(source, claimed)  # atomic: one reader wins
            except FileNotFoundError:
                continue
            with open(claimed, "rb") as f:
                payload = loads(bytes_to_str(f.read()))
            payload.setdefault("properties", {})[CLAIM_PROPERTY] = claimed
            return payload
        raise Empty()

    def _return_orphan(self, name: str) -> None:
        original = name[len(CLAIM_PREFIX) :].partition("-")[2]
        with contextlib.suppress(FileNotFoundError):
            os.rename(
                os.path.join(self.data_folder_in, name),
                os.path.join(self.data_folder_in, original),
            )

    def _release_claim(self, message: Any) -> None:
        claimed = (getattr(message, "properties", None) or {}).get(CLAIM_PROPERTY)
        if claimed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(claimed)

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """Acknowledge: only now is the message's file removed."""
        message = self.qos._delivered.get(delivery_tag)
        super().basic_ack(delivery_tag, multiple)
        self._release_claim(message)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Reject: requeued messages are written anew by `_restore`; drop the claim."""
        message = self.qos._delivered.get(delivery_tag)
        super().basic_reject(delivery_tag, requeue)
        self._release_claim(message)

    def _restore(self, message: Any) -> None:
        claimed = message.properties.pop(CLAIM_PROPERTY, None)
        super()._restore(message)
        if claimed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(claimed)

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
                payload = self._get(queue)
            except Empty:
                return count
            with contextlib.suppress(FileNotFoundError):
                os.unlink(payload["properties"][CLAIM_PROPERTY])
            count += 1


class Transport(filesystem.Transport):
    """kombu transport class for `Connection(transport=Transport)`."""

    Channel = Channel
    driver_type = "bazaar-filesystem"
    driver_name = "bazaar-filesystem"
