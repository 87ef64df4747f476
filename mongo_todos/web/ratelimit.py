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

Each view says what applies to it with a decorator from here (:func:`anonymous`,
:func:`login_limit`, :func:`password_check_limit`, :func:`exempt`), put right under
``@blp.route``. The decorators only mark the view (an attribute that every decorator using
``functools.wraps`` carries up), because the limiter is per app: :func:`init_app` applies the
marks to every registered view, so it runs after the last one is registered. This module sits
below the accounts, so what only they know (is a token revoked, how a username is normalised)
they hand in: :func:`check_revocation_with` at init, :func:`login_limit`'s argument.
The application limit's per-request check and the ``X-RateLimit-*`` headers are
:mod:`mongo_todos.web.ratelimit_check`'s (the library's objects, without its per-request
resolution); the decorated limits stay the library's.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
from collections.abc import Callable, Mapping

from flask import Flask, current_app, request
from flask_jwt_extended import decode_token
from flask_limiter import Limiter
from werkzeug.exceptions import HTTPException

from mongo_todos.settings import ConfigError, _bool, _storage_uri
from mongo_todos.web import ratelimit_check
from mongo_todos.web import ratelimit_storage as limiter_storage
from mongo_todos.web.request_body import json_object

log = logging.getLogger("mongo_todos.ratelimit")

#: Seconds the Redis client waits before the storage counts as down (not the request's time).
STORAGE_TIMEOUT = 0.5
#: The attribute a view's marks live in (functools.wraps carries it up the decorators).
_MARKS = "_mongo_todos_rate_limits"
#: app.extensions keys: the anonymous endpoints found at init, the accounts' revocation check.
_ANONYMOUS = "mongo_todos_anonymous_endpoints"
_REVOKED = "mongo_todos_token_revoked"


def _mark(view, name: str, value: object = True):
    view.__dict__.setdefault(_MARKS, {})[name] = value
    return view


def _marks(view) -> dict:
    return getattr(view, _MARKS, {})


def anonymous(view):
    """Count ``view`` per client address whatever token is sent: it is reached without an
    account (registration, login, refresh), so an attacker floods it without one."""
    return _mark(view, "anonymous")


def login_limit(username_key: Callable[[str], str | None]):
    """Add ``RATELIMIT_TOKEN`` to a login view, counted per client address and per username
    tried; ``username_key`` is the accounts' normalisation (None: a name that cannot log in)."""
    return lambda view: _mark(view, "login", username_key)


def password_check_limit(view):
    """Give a view that checks the caller's password the login's budget, per user, shared by
    every such view: a stolen access token is no faster a password oracle than login."""
    return _mark(view, "password_check")


def exempt(view):
    """Never count ``view`` (health probes)."""
    return _mark(view, "exempt")


def check_revocation_with(app: Flask, token_is_revoked: Callable[[dict], bool]) -> None:
    """How :func:`rate_limit_key` tells a revoked token's claims (the accounts know);
    without it every token counts against the address."""
    app.extensions[_REVOKED] = token_is_revoked


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
    each request could come from a fresh bucket. A server bound dual-stack (``[::]``) sees an
    IPv4 client as ``::ffff:a.b.c.d``, whose /64 is ``::/64``, shared by every IPv4 client and
    ``::1``: such an address is keyed as the IPv4 address it carries.
    """
    address = request.remote_addr or "unknown"
    if ":" not in address:
        return address
    try:
        ipv6 = ipaddress.IPv6Address(address.split("%")[0])
    except ValueError:
        return address
    if ipv6.ipv4_mapped:
        return str(ipv6.ipv4_mapped)
    return str(ipaddress.IPv6Network((ipv6, 64), strict=False))


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
    if request.endpoint in current_app.extensions[_ANONYMOUS]:
        return _address_key()
    header = request.headers.get("Authorization", "")
    token_is_revoked = current_app.extensions.get(_REVOKED)
    if header[:7].lower() != "bearer " or token_is_revoked is None:
        return _address_key()
    try:
        claims = decode_token(header[7:].strip())
        if claims.get("type") != "access" or token_is_revoked(claims):
            return _address_key()
        return f"user:{claims['sub']}"
    except Exception:  # any unusable token: count the address, the view answers 401
        return _address_key()


def _login_username_key(username_key: Callable[[str], str | None]):
    """The login limit's second key function, normalising names with ``username_key``."""

    def login_username_key() -> str:
        """The username tried (hashed: a bounded, opaque storage key), or the address when
        the request names none. Never raises: a body the view will refuse (415/400/413) is
        counted by address."""
        key = _login_username(username_key)
        if key is None:
            return f"login-addr:{client_address()}"
        return f"login-user:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    return login_username_key


def _login_username(username_key: Callable[[str], str | None]) -> str | None:
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
    # the accounts' own normalisation; a name registration refuses can never log in, so its
    # attempts are counted by address alone
    return username_key(name) if name else None


def _request_identifier() -> str:
    # flask-limiter skips requests without an endpoint; unknown paths (404) and wrong methods
    # (405) must spend the budget and carry the X-RateLimit-* headers like any other response
    return request.endpoint or "unrouted"


def shared_storage_warning(env: Mapping[str, str], workers: int) -> str | None:
    """A warning when ``workers`` processes would each keep their own rate-limit counters."""
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


def init_app(app: Flask) -> Limiter:
    """A limiter for ``app`` (one per app: it holds the app's storage), applied to the views
    as they are marked: call it once every view is registered (a later one goes unmarked)."""
    _configure(app.config)
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
    _apply_marks(app, limiter)
    # the application limit's check and the headers, without re-resolving them per request
    ratelimit_check.install(app, limiter, frozenset(
        endpoint for endpoint, view in app.view_functions.items() if _marks(view).get("exempt")))
    app.extensions["mongo_todos_limiter"] = limiter  # /readyz checks its storage
    return limiter


def _configure(config) -> None:
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


def _apply_marks(app: Flask, limiter: Limiter) -> None:
    """Wrap each registered view in the limits its decorators asked for."""
    token_limit = lambda: current_app.config["RATELIMIT_TOKEN"]  # noqa: E731
    password_check = limiter.shared_limit(token_limit, scope="password-check")
    app.extensions[_ANONYMOUS] = frozenset(
        endpoint for endpoint, view in app.view_functions.items() if _marks(view).get("anonymous"))
    for endpoint, view in list(app.view_functions.items()):
        marks = _marks(view)
        if "login" in marks:
            for key_func in (client_address, never_raises(_login_username_key(marks["login"]))):
                view = limiter.limit(token_limit, key_func=key_func)(view)
        if marks.get("password_check"):
            view = password_check(view)
        if marks.get("exempt"):
            view = limiter.exempt(view)
        app.view_functions[endpoint] = view
