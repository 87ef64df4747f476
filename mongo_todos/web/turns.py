"""Turn-taking between connections on gunicorn's gevent worker.

gevent switches greenlets only when one waits. A connection that pipelines requests back to
back (or a keep-alive client that always has its next request buffered) never waits: its
greenlet reads, answers and reads again, and every other connection, ``/healthz`` included,
waits behind all of it; held past gunicorn's worker timeout, the worker is killed (with the
embedded store in it). :func:`take_turns` makes each request begin by yielding to the hub, so a
connection's next request waits its turn behind the others that are ready.

Outside gevent (``flask run``, sync or threaded workers, tests) it returns the app unchanged:
there the operating system schedules threads and a sync worker serves one connection anyway.
"""

from __future__ import annotations


def under_gevent() -> bool:
    """Whether gevent has patched the standard library (gunicorn's gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency; a stripped install
        return False
    return monkey.is_module_patched("socket")


def take_turns(wsgi_app):
    """``wsgi_app``, yielding to other greenlets at the start of each request (under gevent)."""
    if not under_gevent():
        return wsgi_app
    import gevent

    def in_turn(environ, start_response):
        gevent.sleep(0)  # to the back of the hub's ready queue
        return wsgi_app(environ, start_response)

    return in_turn
