"""The application limit's per-request check, and the ``X-RateLimit-*`` headers.

Every request but a preflight or a probe meets ``RATELIMIT_DEFAULT``, the one application
limit (:mod:`mongo_todos.web.ratelimit`). flask-limiter's before-request path resolves it
anew each time: it calls the limit's provider, parses the string (``parse_many``), works out
the route's and its blueprint's exemption scopes twice, builds ordered sets of the limits met
so far and sorts them; its after-request path adds the headers one by one, sets a Retry-After
on every response (which the service then took off again in two hooks of its own). Profiled
(scripts/profile_requests.py), that was about a fifth of a GET, for a result that only
changes with the configuration.

:class:`ApplicationLimitCheck` does the same check with the library's own objects: the
limits it parsed (kept until ``RATELIMIT_DEFAULT`` changes), its rate-limiting strategy over
its storage (same keys, ``<prefix>/<key>/global``), its :class:`RequestLimit` in its request
context (so the login's own limits, checked by the library in the view's decorator, still
take over the headers), and its :class:`RateLimitExceeded` (the 429 problem+json). What it
leaves to the library: a storage that fails or is known dead (the library's full path logs
once, falls back to memory and notices the storage's return), and every decorated limit.

:func:`limit_headers` gives the limit in force to the response's headers (:mod:`mongo_todos.web.headers`
sets them with the others in one go), and Retry-After on
a 429 only (the later of the window's reset and a Retry-After the response already had,
as the library computes it); any other response keeps its own Retry-After or none.
"""

from __future__ import annotations

import time
from functools import partial

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter._extension import RequestLimit
from werkzeug.http import parse_date

from mongo_todos.web import headers

#: What a route outside the limits ends with: Flask's static files (the library skips them).
_STATIC = "static"


class ApplicationLimitCheck:
    """The before-request check of the application limit (module docstring)."""

    def __init__(self, limiter: Limiter, exempt_endpoints: frozenset[str]):
        self.limiter = limiter
        self.exempt = exempt_endpoints
        self._parsed: tuple[str | None, list] = (None, [])

    def limits(self) -> list:
        """The application limits as the library's RuntimeLimits, narrowest window first,
        parsed again only when ``RATELIMIT_DEFAULT`` changes."""
        text = current_app.config["RATELIMIT_DEFAULT"]
        if self._parsed[0] != text:
            parsed = sorted(self.limiter.limit_manager.application_limits, key=lambda lim: lim.limit)
            self._parsed = (text, parsed)
        return self._parsed[1]

    def __call__(self) -> None:
        limiter = self.limiter
        if not limiter.enabled or request.method == "OPTIONS":
            return
        endpoint = request.endpoint or "unrouted"
        if endpoint in self.exempt or endpoint.rpartition(".")[2] == _STATIC:
            return
        if limiter._storage_dead:  # the library's path: its fallback, its recovery checks
            limiter._check_request_limit()
            return
        try:
            self._hit()
        except RateLimitExceeded:
            raise
        except Exception:  # a storage error: the library's path reports it and falls back
            limiter.context.reset()
            limiter._check_request_limit()

    def _hit(self) -> None:
        limiter = self.limiter
        key = limiter._key_func()
        hit = limiter.limiter.hit
        prefix = limiter._key_prefix
        met: list[RequestLimit] = []
        breached = None
        for lim in self.limits():
            args = [key, lim.scope]  # shared and not per method: the scope is the bucket
            if prefix:
                args.insert(0, prefix)
            met.append(RequestLimit(limiter, lim.limit, args, False, True))
            if not hit(lim.limit, *args, cost=lim.deduction_amount):
                limiter.logger.info("ratelimit %s (%s) exceeded at endpoint: %s",
                                    lim.limit, key, lim.scope)
                met[-1].breached = True
                breached = lim
                break
        context = limiter.context
        context.view_rate_limits = met
        context.view_rate_limit = met[-1] if breached else (met[0] if met else None)
        if breached is not None:
            raise RateLimitExceeded(breached)


def limit_headers(limiter: Limiter, response) -> tuple:
    """``X-RateLimit-Limit``/``-Remaining``/``-Reset`` of the limit in force (a header provider
    of :mod:`mongo_todos.web.headers`), and a 429's Retry-After (module docstring)."""
    limit = limiter.current_limit
    if limit is None or not limiter.enabled:
        return ()
    try:
        reset_at, remaining = limit.reset_at, limit.remaining
    except Exception:
        if not limiter._in_memory_fallback_enabled or limiter._storage_dead:
            limiter.logger.exception("Failed to update rate limit headers. Swallowing error")
            return ()
        # the storage stopped between the check and now: the library's switch, its message
        limiter.logger.warning("Rate limit storage unreachable - falling back to in-memory storage")
        limiter._storage_dead = True
        limit._window = None
        return limit_headers(limiter, response)
    if response.status_code == 429:
        _retry_after(response, reset_at)
    return (("X-RateLimit-Limit", str(limit.limit.amount)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset_at)))


def _retry_after(response, reset_at: int) -> None:
    # the later of the window's reset and a Retry-After the response already has, as seconds
    own = response.headers.get("Retry-After")
    if own is not None:
        when = parse_date(own)
        own_at = time.time() + int(own) if when is None else when.timestamp()
        reset_at = max(int(own_at), reset_at)
    response.headers["Retry-After"] = str(int(reset_at - time.time()))


def install(app: Flask, limiter: Limiter, exempt_endpoints: frozenset[str]) -> None:
    """Put :class:`ApplicationLimitCheck` and :func:`limit_headers` in place of the library's
    own before- and after-request hooks (its teardown, which forgets the request's limits,
    stays)."""
    before = app.before_request_funcs.setdefault(None, [])
    before[:] = [f for f in before if getattr(f, "__self__", None) is not limiter]
    after = app.after_request_funcs.setdefault(None, [])
    after[:] = [f for f in after if not (isinstance(f, partial) and f.args == (limiter,))]
    app.before_request(ApplicationLimitCheck(limiter, exempt_endpoints))
    if app.config["RATELIMIT_HEADERS_ENABLED"]:
        headers.add_headers_from(app, partial(limit_headers, limiter))
