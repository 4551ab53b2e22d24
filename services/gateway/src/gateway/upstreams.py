"""The services behind the gateway: one pooled client each, open for the app's lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from chassis.http import AsyncServiceClient, ClientPolicy
from gateway.settings import GatewaySettings

# Readiness probes and document fetches must answer fast, whatever the proxy timeouts are.
PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class Upstream:
    """One service: its name, its base URL and its client."""

    name: str
    base_url: httpx.URL
    client: AsyncServiceClient

    def url_for(self, raw_path: bytes) -> httpx.URL:
        """The absolute upstream URL of a raw path and query, kept byte for byte."""
        # An absolute URL is never merged with the client's base URL, so a path such
        # as `//other-host/x` stays a path on this upstream.
        return self.base_url.copy_with(raw_path=self.base_url.raw_path.rstrip(b"/") + raw_path)


class Upstreams:
    """Every configured upstream; clients exist between `open()` and `aclose()`."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.urls = dict(settings.upstreams)
        self._settings = settings
        self._open: dict[str, Upstream] = {}

    @property
    def names(self) -> list[str]:
        """The configured upstream names, in configuration order."""
        return list(self.urls)

    async def open(self) -> None:
        """Create one pooled client per upstream (called in the app's lifespan)."""
        for name, url in self.urls.items():
            policy = ClientPolicy(
                name=name,
                connect_timeout=self._settings.upstream_connect_timeout,
                read_timeout=self._settings.upstream_read_timeout,
            )
            self._open[name] = Upstream(name, httpx.URL(url), AsyncServiceClient(url, policy))

    async def aclose(self) -> None:
        """Close every client's connections."""
        opened, self._open = self._open, {}
        for upstream in opened.values():
            await upstream.client.aclose()

    def __getitem__(self, name: str) -> Upstream:
        try:
            return self._open[name]
        except KeyError:
            raise RuntimeError(f"upstream {name!r} is not open; run the app's lifespan") from None

    def liveness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """A readiness check per upstream: its `/livez` answers 200 within PROBE_TIMEOUT."""

        def check_for(name: str) -> Callable[[], Awaitable[None]]:
            async def check() -> None:
                response = await self[name].client.send(
                    "GET", "/livez", retry=False, timeout=PROBE_TIMEOUT
                )
                response.raise_for_status()

            return check

        return {f"upstream:{name}": check_for(name) for name in self.urls}
