"""Rate limiting (flask-limiter): one budget per caller across every route.

- ``RATELIMIT_DEFAULT`` is an *application* limit (flask-limiter's ``application_limits``): one
  budget per caller shared by all routes, unknown paths and wrong methods included, not one per
  route. The caller is ``user:<id>`` for a request with a usable access token, else the client
  address.
- Only an access token that is well signed, unexpired and not revoked moves a request into its
  user's bucket. A refresh token, a revoked (logged-out) token or anything unusable counts
  against the address, so a token cannot buy a fresh budget.
- The anonymous routes (registration, login, refresh) always count per address, whatever token
  is sent: they are the ones an attacker floods without an account.
- ``POST /api/v1/tokens`` (login) also has the stricter ``RATELIMIT_TOKEN``, counted twice: per
  client address and per username (password guessing from many addresses against one account).
- The address is the TCP peer's, or the ``X-Forwarded-For`` entry set by the last of
  ``TRUSTED_PROXY_COUNT`` proxies (Werkzeug's ProxyFix); nothing else is trusted.
- Storage is ``RATELIMIT_STORAGE_URI``. ``memory://`` counts inside one process: several
  workers would each count alone, which :func:`shared_storage_warning` reports at start-up.
  When a remote storage (Redis) stops answering, the limiter logs one warning and falls back to
  per-process memory with the default limit, then returns to the shared storage once it answers
  again: requests never fail because of it.
- CORS preflights (``OPTIONS``) and health probes are not counted.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
from collections.abc import Mapping

from flask import Flask, current_app, request
from flask_jwt_extended import decode_token
from flask_limiter import Limiter
from werkzeug.exceptions import HTTPException

from mongo_todos.web import ratelimit_storage as limiter_storage

log = logging.getLogger("mongo_todos.ratelimit")

#: Seconds the Redis client waits before the storage counts as down (not the request's time).
STORAGE_TIMEOUT = 0.5
#: Endpoints an attacker reaches without an account: always counted per client address.
ANONYMOUS_ENDPOINTS = frozenset({"users.new", "tokens.new", "tokens.refresh"})


def never_raises(key_func):
    """``key_func``, counting the client's address if it ever raises.

    RATELIMIT_SWALLOW_ERRORS is there for storage outages, but flask-limiter also swallows an
    exception from a key function, and then skips that limit for the request: a key function
    that can raise is a way past the limit (review found one: an unparseable Basic header).
    """

    @functools.wraps(key_func)
    def safe() -> str:
        try:
            return key_func()
        except Exception:
            log.exception("rate-limit key %s failed: counting the address", key_func.__name__)
            return f"{key_func.__name__}-addr:{client_address()}"

    return safe


def client_address() -> str:
    """The client's address as a rate-limit bucket: an IPv4 address, or an IPv6 address's /64.

    One IPv6 subscriber usually holds a whole /64 (2^64 addresses): keyed by the full address,
    each request could come from a fresh bucket.
    """
    address = request.remote_addr or "unknown"
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address.split('%')[0]}/64", strict=False))
    except ValueError:
        return address


def _address_key() -> str:
    return f"addr:{client_address()}"


def rate_limit_key() -> str:
    """``user:<id>`` for a request with a usable access token on an authenticated route, else
    ``addr:<ip>``.

    The signature, expiry and type are checked here, and revocation with the same one-document
    lookup the view makes (remembered for the request, so the view does not repeat it). Any
    failure, a database error included, counts the address: a database error must not look
    like a limiter storage failure, and the view still verifies the token fully.
    """
    if request.endpoint in ANONYMOUS_ENDPOINTS:
        return _address_key()
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        return _address_key()
    from mongo_todos.accounts.auth import token_is_revoked

    try:
        claims = decode_token(header[7:].strip())
        if claims.get("type") != "access" or token_is_revoked(claims):
            return _address_key()
        return f"user:{claims['sub']}"
    except Exception:  # any unusable token: count the address, the view answers 401
        return _address_key()


def login_username_key() -> str:
    """The login limit's second key: the username tried (hashed: a bounded, opaque storage
    key), or the address when the request names none. Never raises: a body the view will
    refuse (415/400/413) is counted by address."""
    from mongo_todos.web.request_body import json_object

    name = None
    try:
        basic = request.authorization
    except ValueError:  # Werkzeug: a Basic header with non-ASCII characters (as the view reads it)
        basic = None
    if basic is not None and basic.type == "basic":
        name = basic.username
    else:
        try:
            body = json_object()
        except HTTPException:
            body = None
        if isinstance(body, dict) and isinstance(body.get("username"), str):
            name = body["username"]
    from mongo_todos.accounts.auth import username_key

    # the accounts' own normalisation; a name registration refuses can never log in, so its
    # attempts are counted by address alone
    key = username_key(name) if name else None
    if key is None:
        return f"login-addr:{client_address()}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"login-user:{digest[:32]}"


def _request_identifier() -> str:
    # flask-limiter skips requests without an endpoint; unknown paths (404) and wrong methods
    # (405) must spend the budget and carry the X-RateLimit-* headers like any other response
    return request.endpoint or "unrouted"


def shared_storage_warning(env: Mapping[str, str], workers: int) -> str | None:
    """A warning when ``workers`` processes would each keep their own rate-limit counters."""
    from mongo_todos.settings import ConfigError, _bool, _storage_uri

    try:
        if not _bool(env, "RATELIMIT_ENABLED", True):
            return None
        storage = _storage_uri(env)
    except ConfigError:
        return None  # the app refuses to start with its own message
    if workers > 1 and storage.startswith("memory"):
        return (
            f"RATELIMIT_STORAGE_URI={storage} with {workers} workers: each worker counts rate "
            f"limits alone, so every limit is effectively {workers} times higher. Set "
            "RATELIMIT_STORAGE_URI=redis://host:port/db to share one count."
        )
    return None


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
    config.setdefault("RATELIMIT_REQUEST_IDENTIFIER", _request_identifier)
    if not config["RATELIMIT_STORAGE_URI"].startswith("memory"):
        config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"socket_connect_timeout": STORAGE_TIMEOUT, "socket_timeout": STORAGE_TIMEOUT},
        )
    # registered before the limiter's own after_request, so it runs after it
    app.after_request(_drop_stray_retry_after)
    limiter = Limiter(
        key_func=never_raises(rate_limit_key),
        application_limits=[lambda: current_app.config["RATELIMIT_DEFAULT"]],
        # RATELIMIT_DEFAULT is also flask-limiter's name for per-route defaults: the budget
        # is the application limit above, so the per-route copy is switched off
        default_limits_exempt_when=lambda: True,
    )
    limiter.init_app(app)
    limiter_storage.use_inline_expiry(limiter)  # no thread per request (limiter_storage.py)
    limiter.request_filter(lambda: request.method == "OPTIONS")

    login = app.view_functions["tokens.new"]
    for key_func in (client_address, never_raises(login_username_key)):
        login = limiter.limit(lambda: current_app.config["RATELIMIT_TOKEN"], key_func=key_func)(login)
    app.view_functions["tokens.new"] = login
    # the requests that check a password (password change, account deletion) get the login's
    # budget per user, shared: a stolen access token is no faster a password oracle than login
    password_check_limit = limiter.shared_limit(
        lambda: current_app.config["RATELIMIT_TOKEN"], scope="password-check"
    )
    for endpoint in ("users.change_password", "users.delete"):
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = password_check_limit(app.view_functions[endpoint])
    for endpoint in ("healthz", "readyz"):
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = limiter.exempt(app.view_functions[endpoint])
    return limiter
