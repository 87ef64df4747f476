"""``PUBLIC_BASE_URL``: the scheme and host that links and ``Location`` headers are built from.

Without it, Flask builds absolute URLs from the request's ``Host`` header (or, behind
``TRUSTED_PROXY_COUNT`` proxies, their ``X-Forwarded-Host``/``-Proto``): a client choosing its
own ``Host`` gets links to wherever it likes. With it set, this WSGI middleware pins the
scheme, host and port of every request before Flask sees it, so no view needs to change.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class PublicBaseURL:
    """Rewrite ``wsgi.url_scheme``, ``HTTP_HOST`` and ``SERVER_NAME``/``SERVER_PORT`` to the
    configured base URL (innermost: it runs after ProxyFix, and wins over it)."""

    def __init__(self, wsgi_app, base_url: str):
        parts = urlsplit(base_url)
        self.wsgi_app = wsgi_app
        self.scheme = parts.scheme
        self.host = parts.netloc.lower()
        self.server_name = parts.hostname or ""
        self.server_port = str(parts.port or (443 if parts.scheme == "https" else 80))

    def __call__(self, environ, start_response):
        environ["wsgi.url_scheme"] = self.scheme
        environ["HTTP_HOST"] = self.host
        environ["SERVER_NAME"] = self.server_name
        environ["SERVER_PORT"] = self.server_port
        return self.wsgi_app(environ, start_response)
