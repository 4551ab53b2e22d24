"""A stand-in for the users service: a real HTTP server in a thread, `POST /` and `DELETE /{id}`.

The real users service is being built alongside auth; registration only needs these two
calls, so tests run against this stand-in and switch it off (`available = False`: every
call answers 503), slow it down (`delay`) or make it refuse (`refuse_with`) to see what
auth does when users fails. `on_request`, when set, runs as each call arrives.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from chassis.testing import JsonHandler, ThreadedServer


class UsersStandIn:
    """Records the profiles auth creates and deletes, and the Authorization it sends."""

    def __init__(self) -> None:
        self.available = True
        self.delay = 0.0
        self.refuse_with: int | None = None  # answer POST with this status (409, 422 ...)
        self.profiles: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.authorizations: list[str] = []
        self.on_request: Callable[[], None] | None = None
        standin = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not standin._admit(self):
                    return
                if self.path != "/":
                    self.reply(404, {"title": "Not Found"})
                    return
                if standin.refuse_with:
                    self.reply(standin.refuse_with, {"detail": "refused by the stand-in"})
                    return
                profile = json.loads(body)
                created = profile["id"] not in standin.profiles
                standin.profiles.setdefault(profile["id"], profile)
                self.reply(201 if created else 200, standin.profiles[profile["id"]])

            def do_DELETE(self) -> None:
                if not standin._admit(self):
                    return
                user_id = self.path.removeprefix("/")
                standin.deleted.append(user_id)
                found = standin.profiles.pop(user_id, None) is not None
                self.reply(204 if found else 404, None)

        self._server = ThreadedServer(Handler)

    def _admit(self, handler: JsonHandler) -> bool:
        self.authorizations.append(handler.headers.get("Authorization", ""))
        if self.on_request is not None:
            self.on_request()
        if self.delay:
            time.sleep(self.delay)
        if not self.available:
            handler.reply(503, {"title": "Service Unavailable"})
            return False
        return True

    @property
    def url(self) -> str:
        """Where auth should find users."""
        return self._server.url

    def reset(self) -> None:
        """Available, fast, and with no profiles."""
        self.available, self.delay, self.refuse_with = True, 0.0, None
        self.on_request = None
        self.profiles.clear()
        self.deleted.clear()
        self.authorizations.clear()

    def close(self) -> None:
        """Stop serving."""
        self._server.close()
