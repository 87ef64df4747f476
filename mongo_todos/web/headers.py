"""Security headers on every response.

The API only ever returns JSON, so its responses forbid everything a browser could do with them
(no sniffing, no framing, no scripts, no referrer). ``/docs`` is the one HTML page: it may load
its own scripts and styles, from this server only.
"""

from __future__ import annotations

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


_API_HEADERS = [*_COMMON.items(), ("Content-Security-Policy", _API_CSP)]
_DOCS_HEADERS = [*_COMMON.items(), ("Content-Security-Policy", _DOCS_CSP)]


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        # appended in one go (nothing else sets these), not looked up one by one
        docs = request.path == "/docs" or request.path.startswith("/docs/")
        response.headers.extend(_DOCS_HEADERS if docs else _API_HEADERS)
        return response
