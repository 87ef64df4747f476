"""Rate limiting (flask-limiter): per user with a valid token, per client address otherwise.

- ``RATELIMIT_DEFAULT`` applies to every API route; ``POST /api/v1/tokens`` has only the
  stricter ``RATELIMIT_TOKEN``, always per client address (it guards against password guessing,
  and its callers have no token yet).
- The address is the TCP peer's, or the ``X-Forwarded-For`` entry set by the last of
  ``TRUSTED_PROXY_COUNT`` proxies (Werkzeug's ProxyFix); nothing else is trusted.
- Storage is ``RATELIMIT_STORAGE_URI``. When a remote storage (Redis) stops answering, the
  limiter logs one warning and falls back to per-process memory with the default limit, then
  returns to the shared storage once it answers again: requests never fail because of it.
- CORS preflights (``OPTIONS``) and health probes are not counted.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_jwt_extended import decode_token
from flask_limiter import Limiter

#: Seconds the Redis client waits before the storage counts as down (not the request's time).
STORAGE_TIMEOUT = 0.5


def client_address() -> str:
    return request.remote_addr or "unknown"


def rate_limit_key() -> str:
    """``user:<id>`` for a request with a well-signed, unexpired token, else ``addr:<ip>``.

    Only the signature and expiry are checked here (no database lookup: a database error must
    not look like a limiter storage failure); the view still verifies the token fully.
    """
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        try:
            return f"user:{decode_token(header[7:].strip())['sub']}"
        except Exception:  # any unusable token: count the address, the view answers 401
            pass
    return f"addr:{client_address()}"


def _drop_stray_retry_after(response):
    # flask-limiter sets Retry-After on every limited response; it only means something on
    # 429 and 503
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> Limiter:
    """A limiter for ``app`` (one per app: it holds the app's storage)."""
    config = app.config
    config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK", config["RATELIMIT_DEFAULT"])
    config.setdefault("RATELIMIT_KEY_PREFIX", "mongo_todos")
    if not config["RATELIMIT_STORAGE_URI"].startswith("memory"):
        config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"socket_connect_timeout": STORAGE_TIMEOUT, "socket_timeout": STORAGE_TIMEOUT},
        )
    # registered before the limiter's own after_request, so it runs after it
    app.after_request(_drop_stray_retry_after)
    limiter = Limiter(key_func=rate_limit_key)
    limiter.init_app(app)
    limiter.request_filter(lambda: request.method == "OPTIONS")

    token_limit = limiter.limit(
        lambda: current_app.config["RATELIMIT_TOKEN"], key_func=client_address
    )
    app.view_functions["tokens.new"] = token_limit(app.view_functions["tokens.new"])
    for endpoint in ("healthz", "readyz"):
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = limiter.exempt(app.view_functions[endpoint])
    return limiter
