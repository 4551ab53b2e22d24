"""A stand-in for the users service: a real HTTP server in a thread, `POST /` and `DELETE /{id}`.

The real users service is being built alongside auth; registration only needs these two
calls, so tests run against this stand-in and switch it off (`available = False`: every
call answers 503), slow it down (`delay`) or make it refuse (`refuse_with`) to see what
auth does when users fails.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class UsersStandIn:
    """Records the profiles auth creates and deletes, and the Authorization it sends."""

    def __init__(self) -> None:
        self.available = True
        self.delay = 0.0
        self.refuse_with: int | None = None  # answer POST with this status (409, 422 ...)
        self.profiles: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.authorizations: list[str] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not standin._admit(self):
                    return
                if self.path != "/":
                    self._reply(404, {"title": "Not Found"})
                    return
                if standin.refuse_with:
                    self._reply(standin.refuse_with, {"detail": "refused by the stand-in"})
                    return
                profile = json.loads(body)
                created = profile["id"] not in standin.profiles
                standin.profiles.setdefault(profile["id"], profile)
                self._reply(201 if created else 200, standin.profiles[profile["id"]])

            def do_DELETE(self) -> None:
                if not standin._admit(self):
                    return
                user_id = self.path.removeprefix("/")
                standin.deleted.append(user_id)
                found = standin.profiles.pop(user_id, None) is not None
                self._reply(204 if found else 404, None)

            def _reply(self, status: int, body: Any) -> None:
                payload = b"" if body is None else json.dumps(body).encode()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _admit(self, handler: BaseHTTPRequestHandler) -> bool:
        self.authorizations.append(handler.headers.get("Authorization", ""))
        if self.delay:
            time.sleep(self.delay)
        if not self.available:
            handler._reply(503, {"title": "Service Unavailable"})  # type: ignore[attr-defined]
            return False
        return True

    @property
    def url(self) -> str:
        """Where auth should find users."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        """Available, fast, and with no profiles."""
        self.available, self.delay, self.refuse_with = True, 0.0, None
        self.profiles.clear()
        self.deleted.clear()
        self.authorizations.clear()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
