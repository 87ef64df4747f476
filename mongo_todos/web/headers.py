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

The app's :class:`Response` is Werkzeug's with one change on the way out: ``get_wsgi_headers``
copies the response's headers before fixing them up for the request, and Werkzeug's copy checks
every value again for line breaks (5.7 us for an answer's 15 headers, on every response). The
values were checked when they were set (``Headers.set``/``add``), or are the constants and safe
values above, so here the copy is of the pairs. The rest is Werkzeug 3.1's method as it is;
tests/web/test_headers.py compares the two on the answers that matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urljoin

from flask import Flask, request
from flask import Response as FlaskResponse
from werkzeug.datastructures import Headers
from werkzeug.http import remove_entity_headers
from werkzeug.urls import iri_to_uri
from werkzeug.wsgi import get_current_url

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


class Response(FlaskResponse):
    """Flask's response, its headers copied as pairs on the way out (module docstring)."""

    def get_wsgi_headers(self, environ) -> Headers:
        if type(self.headers) is not Headers:  # (a subclass may check or keep more)
            return super().get_wsgi_headers(environ)
        headers = Headers()
        headers._list = self.headers._list.copy()
        # from here, werkzeug.wrappers.response.Response.get_wsgi_headers (3.1)
        location = content_location = content_length = None
        status = self.status_code
        for key, value in headers._list:
            lowered = key.lower()
            if lowered == "location":
                location = value
            elif lowered == "content-location":
                content_location = value
            elif lowered == "content-length":
                content_length = value
        if location is not None:
            location = iri_to_uri(location)
            if self.autocorrect_location_header:
                location = urljoin(iri_to_uri(get_current_url(environ, strip_querystring=True)),
                                   location)
            headers["Location"] = location
        if content_location is not None:
            headers["Content-Location"] = iri_to_uri(content_location)
        if 100 <= status < 200 or status == 204:
            headers.remove("Content-Length")  # RFC 9110: none in a 1xx or a 204
        elif status == 304:
            remove_entity_headers(headers)
        if (self.automatically_set_content_length and self.is_sequence
                and content_length is None and status not in (204, 304)
                and not 100 <= status < 200):
            headers["Content-Length"] = str(sum(len(x) for x in self.iter_encoded()))
        return headers


def add_headers_from(app: Flask, provider: HeaderProvider) -> None:
    """Add what ``provider(response)`` returns to every response of ``app`` (after the
    providers registered before it)."""
    app.extensions.setdefault(_PROVIDERS, []).append(provider)


def init_app(app: Flask) -> None:
    """The one hook. Register it after :mod:`mongo_todos.web.errors` (Flask runs hooks in
    reverse): the 429's detail reads the Retry-After a provider sets."""
    providers = app.extensions.setdefault(_PROVIDERS, [])
    app.response_class = Response

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
