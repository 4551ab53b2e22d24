"""Cached public GET endpoints for Flask services: one decorator, ETag and 304 included.

A view decorated with `public_cache()` answers every caller that may see the public
representation from the service's cache (`chassis.cache`), keyed by path and query, and
invalidated when the service bumps the scope's generation (on its own change events).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, request

from chassis.cache import Cache, StoredResponse, etag_for, etag_matches, shared_backend
from chassis.settings import ServiceSettings

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC_CACHE_CONTROL = "public, max-age=0, must-revalidate"
PRIVATE_CACHE_CONTROL = "private, no-cache"
PUBLIC_SCOPE = "public"
# Headers a stored response keeps; everything else is per-request (ids, timing).
STORED_HEADERS = ("Content-Type", "ETag", "Cache-Control", "Vary")
_EXTENSION = "bazaar_cache"


def cache_for(settings: ServiceSettings, *, owner: str | None = None) -> Cache:
    """A cache of `owner`'s data (default: this service's own) for this process."""
    return Cache(
        shared_backend(settings),
        owner=owner or settings.service_name,
        service=settings.service_name,
        namespace=settings.broker_namespace,
    )


def service_cache() -> Cache:
    """The current app's cache of its own data."""
    cache = current_app.extensions.get(_EXTENSION)
    if cache is None:
        settings = current_app.extensions["bazaar"].settings
        cache = current_app.extensions.setdefault(_EXTENSION, cache_for(settings))
    return cast(Cache, cache)


def request_key() -> str:
    """Path plus the query in a canonical order, so `?a=1&b=2` and `?b=2&a=1` share an entry."""
    query = "&".join(f"{k}={v}" for k, v in sorted(request.args.items(multi=True)))
    return f"{request.path}?{query}"


def _finish(stored: StoredResponse, outcome: str) -> Response:
    etag = stored.header("ETag") or etag_for(stored.body)
    if etag_matches(request.headers.get("If-None-Match"), etag):
        response = Response(status=304)
        for name in ("ETag", "Cache-Control", "Vary"):
            if value := stored.header(name):
                response.headers[name] = value
    else:
        response = Response(stored.body, status=stored.status)
        for name, value in stored.headers:
            response.headers[name] = value
    response.headers["X-Cache"] = outcome
    return response


def _storable(response: Response) -> StoredResponse | None:
    if response.status_code != 200 or response.direct_passthrough or response.is_streamed:
        return None
    body = response.get_data()
    response.headers["Cache-Control"] = PUBLIC_CACHE_CONTROL
    response.headers["Vary"] = "Authorization"
    response.headers["ETag"] = etag_for(body)
    headers = tuple((h, response.headers[h]) for h in STORED_HEADERS if h in response.headers)
    return StoredResponse(200, headers, body)


def public_cache(
    *, ttl: float = 300.0, scope: str = PUBLIC_SCOPE, private_when: Callable[[], bool] | None = None
) -> Callable[[F], F]:
    """Serve a GET view from the cache; callers for whom `private_when()` is true bypass it.

    Put it directly under the route decorator, above apiflask's `input`/`output`, so a hit
    skips parsing and rendering. Only 200 answers are stored; errors are always fresh.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if private_when is not None and private_when():
                response = current_app.make_response(view(*args, **kwargs))
                response.headers["Cache-Control"] = PRIVATE_CACHE_CONTROL
                response.headers["Vary"] = "Authorization"
                return response
            produced: list[Response] = []

            def load() -> bytes | None:
                response = current_app.make_response(view(*args, **kwargs))
                produced.append(response)
                stored = _storable(response)
                return stored.dumps() if stored is not None else None

            cache = service_cache()
            if not cache.enabled:
                fresh = current_app.make_response(view(*args, **kwargs))
                stored = _storable(fresh)
                return fresh if stored is None else _finish(stored, "disabled")
            data, outcome = cache.fetch(scope, request_key(), load, ttl=ttl)
            stored = StoredResponse.loads(data) if data is not None else None
            if stored is not None:
                return _finish(stored, outcome)
            if produced:
                return produced[0]  # not storable (an error answer): as the view made it
            return view(*args, **kwargs)  # the loader we waited on gave nothing to share

        spec = dict(getattr(wrapper, "_spec", None) or {})
        extensions = {**spec.get("extensions", {}), "x-cacheable": True}
        wrapper._spec = {**spec, "extensions": extensions}  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate
