"""The headers every response carries, set by one after-request hook in one go.

Security headers: the API only ever returns JSON, so its responses forbid everything a browser
could do with them (no sniffing, no framing, no scripts, no referrer). ``/docs`` is the one
HTML page: it may load its own scripts and styles, from this server only.

The other modules' per-response headers (the request id from :mod:`mongo_todos.web.logs`, the
``X-RateLimit-*`` headers from :mod:`mongo_todos.web.ratelimit_check`) come from the
*providers* they register with :func:`add_headers_from`: each is a function of the response
returning the pairs to add, whose values must be safe as they are (no line break: they are
not checked again). One hook instead of one per module: Flask looks each hook up,
checks whether it is a coroutine and calls it, and each hook then reached for ``request`` or
``g`` and added its headers one by one; that was a few percent of a GET.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, request

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI sets inline styles and needs data: images; its scripts come from /docs/static
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'"
)


_API_HEADERS = (*_COMMON.items(), ("Content-Security-Policy", _API_CSP))
_DOCS_HEADERS = (*_COMMON.items(), ("Content-Security-Policy", _DOCS_CSP))
#: app.extensions key: the providers registered for the app.
_PROVIDERS = "mongo_todos_header_providers"

HeaderProvider = Callable[[object], Iterable[tuple[str, str]]]


def add_headers_from(app: Flask, provider: HeaderProvider) -> None:
    """Add what ``provider(response)`` returns to every response of ``app`` (after the
    providers registered before it)."""
    app.extensions.setdefault(_PROVIDERS, []).append(provider)


def init_app(app: Flask) -> None:
    """The one hook. Register it after :mod:`mongo_todos.web.errors` (Flask runs hooks in
    reverse): the 429's detail reads the Retry-After a provider sets."""
    providers = app.extensions.setdefault(_PROVIDERS, [])

    @app.after_request
    def _response_headers(response):
        path = request.path
        docs = path == "/docs" or path.startswith("/docs/")
        pairs = list(_DOCS_HEADERS if docs else _API_HEADERS)
        for provider in providers:
            pairs.extend(provider(response))
        # appended as they are: Headers.extend would check every value for line breaks, and
        # none can hold one (constants, a request id of [A-Za-z0-9._:-], numbers)
        response.headers._list.extend(pairs)
        return response
