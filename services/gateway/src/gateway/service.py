"""How the `bazaar` command runs the gateway."""

from __future__ import annotations

from chassis.registry import ServiceSpec
from gateway.settings import GatewaySettings

SERVICE = ServiceSpec(
    name="gateway",
    kind="asgi",
    app_factory="gateway:create_app",
    settings_class=GatewaySettings,
    start_order=90,
)
