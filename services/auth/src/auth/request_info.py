"""What auth needs to know about the caller of the current request."""

from __future__ import annotations

from flask import request


def client_ip() -> str:
    """The client's address (X-Forwarded-For of trusted proxies is applied by ProxyFix)."""
    return request.remote_addr or "unknown"
