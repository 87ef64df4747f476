"""Password hashes, run by a few native threads of their own at a low CPU priority.

A password hash (scrypt, 65-170 ms on the build machine, and 32 MiB of memory) is slow on
purpose; what this module decides is who waits for it:

- **Not the other requests.** On gunicorn's gevent worker (the embedded default) every request
  is a greenlet of one thread, and greenlets switch only when one waits. A hash never waits:
  run in the request's greenlet, it would stop every other request of the worker for its whole
  length. ``hashlib.scrypt`` releases the GIL while it computes, so the hash runs in a native
  thread and the request's greenlet waits for the result (other requests run meanwhile).
- **Not the CPU the requests need.** Those threads run at niceness ``PASSWORD_HASH_NICE``
  (Linux; default 10, 0 turns it off), so a hash takes the CPU that request handling leaves:
  measured with 4 clients reading todos and one client logging in over and over on the 2-core
  build machine, the readers' observed p99 went from 22-34 ms to 4-28 ms, and a create's
  throughput beside the logins rose by about half (docs/benchmarks.md). Under a load that
  leaves no CPU at all a login takes longer; it still gets its share.
- **At most ``PASSWORD_HASH_THREADS`` at once** (per process, default 2): more logins queue.
  That bounds the memory hashes take (32 MiB each with scrypt's defaults) and the cores a burst
  of logins can take from requests; a deployment sizes it with the hash's cost
  (``PASSWORD_HASH_METHOD``, mongo_todos.settings).

Under gevent the threads are a gevent pool (the waiting greenlet yields to the hub); elsewhere
(sync workers, tests) a standard one, so niceness and the bound apply to every worker class.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import current_app, has_app_context

from mongo_todos.web.turns import under_gevent

log = logging.getLogger(__name__)

DEFAULT_THREADS = 2
DEFAULT_NICE = 10

#: (process id, gevent or not, threads) -> its pool: a forked child makes its own
_POOLS: dict[tuple, object] = {}
_POOLS_LOCK = threading.Lock()
_niced = threading.local()


def _settings() -> tuple[int, int]:
    if not has_app_context():
        return DEFAULT_THREADS, DEFAULT_NICE
    config = current_app.config
    return (config.get("PASSWORD_HASH_THREADS", DEFAULT_THREADS),
            config.get("PASSWORD_HASH_NICE", DEFAULT_NICE))


def _pool(threads: int, gevented: bool):
    key = (os.getpid(), gevented, threads)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            if gevented:
                import gevent.threadpool  # only under gevent, which has been imported then

                pool = gevent.threadpool.ThreadPool(maxsize=threads)
            else:
                pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash")
            _POOLS[key] = pool
    return pool


def _at_niceness(nice: int, function: Callable, args: tuple):
    """``function(*args)`` in a pool thread, made ``nice`` first (once per thread: an
    unprivileged thread cannot lower its niceness again, and need not)."""
    if nice and sys.platform.startswith("linux") and getattr(_niced, "level", 0) < nice:
        try:  # on Linux a thread's niceness is its own: the process's other threads keep 0
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
            _niced.level = nice
        except OSError:  # a sandbox that forbids it: hash at the usual priority
            _niced.level = nice
            log.warning("could not lower the priority of the password-hash thread",
                        exc_info=True)
    return function(*args)


def off_hub(function: Callable, *args):
    """``function(*args)`` in this process's password-hash threads (module docstring); the
    caller waits for the result (under gevent, its greenlet yields meanwhile)."""
    threads, nice = _settings()
    gevented = under_gevent()
    pool = _pool(threads, gevented)
    if gevented:
        return pool.apply(_at_niceness, (nice, function, args))
    return pool.submit(_at_niceness, nice, function, args).result()
