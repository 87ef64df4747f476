"""CPU-bound work that releases the GIL, run off gevent's hub: a password hash.

On gunicorn's gevent worker (the embedded default) every request is a greenlet of one thread,
and greenlets switch only when one waits. A password hash (scrypt, 65-170 ms on the build
machine) never waits: run in the request's greenlet, it stops every other request of the worker
for its whole length, however little of the store it holds. ``hashlib.scrypt`` releases the GIL
while it computes, so :func:`off_hub` hands it to gevent's pool of native threads: the greenlet
waits for the result (other requests run meanwhile, on the other core too) and the hash keeps
its full cost, which is the point of it. Outside gevent (sync or threaded workers, tests) the
operating system already schedules threads, and the call runs where it is.
"""

from __future__ import annotations

from collections.abc import Callable

from mongo_todos.web.turns import under_gevent


def off_hub(function: Callable, *args):
    """``function(*args)``, in gevent's native thread pool under gevent, else right here."""
    if not under_gevent():
        return function(*args)
    import gevent  # only under gevent (the check above has imported it already)

    return gevent.get_hub().threadpool.apply(function, args)
