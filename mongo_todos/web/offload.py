"""Password hashes, run by a few native threads of their own at a low CPU priority.

A password hash (scrypt, 65-170 ms on the build machine, and 32 MiB of memory) is slow on
purpose; what this module decides is who waits for it:

- **Not the other requests.** On gunicorn's gevent worker (the embedded default) every request
  is a greenlet of one thread, and greenlets switch only when one waits. A hash never waits:
  run in the request's greenlet, it would stop every other request of the worker for its whole
  length. ``hashlib.scrypt`` releases the GIL while it computes, so the hash runs in a native
  thread and the request's greenlet waits for the result (other requests run meanwhile).
- **Not the CPU the requests need.** Those threads run at the priority
  ``PASSWORD_HASH_PRIORITY`` (Linux): ``idle`` (the default, the scheduler's ``SCHED_IDLE``
  class) or a niceness 1..19 (0: as every other thread), so a hash takes the CPU that request
  handling leaves. Measured on the 2-core build machine with 4 clients reading one todo and
  one client logging in over and over, the readers' observed p99 was 23-36 ms at the usual
  priority, 20-32 ms at niceness 10 and 4-19 ms at ``idle`` (creates: 34-38 ms against
  6-9 ms), while the logins kept their pace (docs/benchmarks.md): the machine had CPU to spare,
  the hashes just stopped taking it from the requests first. The price is paid only when no
  CPU is left at all: a hash then waits for what the requests leave (seconds, not 100 ms), so
  a server running flat out slows its logins before its requests. A niceness keeps logins a
  larger share in that case (10: about a tenth of a core).
- **At most ``PASSWORD_HASH_THREADS`` at once** (per process, default 2): more logins queue.
  That bounds the memory hashes take (32 MiB each with scrypt's defaults) and the cores a burst
  of logins can take from requests; a deployment sizes it with the hash's cost
  (``PASSWORD_HASH_METHOD``, mongo_todos.settings).

Under gevent the threads are a gevent pool (the waiting greenlet yields to the hub); elsewhere
(sync workers, tests) a standard one, so the priority and the bound apply to every worker
class.
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
#: ``idle`` (SCHED_IDLE) or a niceness 0..19
DEFAULT_PRIORITY = "idle"

#: (process id, gevent or not, threads, priority) -> its pool: a forked child makes its own
_POOLS: dict[tuple, object] = {}
_POOLS_LOCK = threading.Lock()
_lowered = threading.local()


def _settings() -> tuple[int, str | int]:
    if not has_app_context():
        return DEFAULT_THREADS, DEFAULT_PRIORITY
    config = current_app.config
    return (config.get("PASSWORD_HASH_THREADS", DEFAULT_THREADS),
            config.get("PASSWORD_HASH_PRIORITY", DEFAULT_PRIORITY))


def _pool(threads: int, priority: str | int, gevented: bool):
    key = (os.getpid(), gevented, threads, priority)
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


def _lower(priority: str | int) -> None:
    """Lower this thread's CPU priority (its own on Linux: the process's other threads keep
    theirs), once: an unprivileged thread cannot raise it again, and each pool's threads serve
    one priority."""
    if getattr(_lowered, "done", False):
        return
    _lowered.done = True
    if priority in (0, "0") or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        if priority == "idle":
            os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.setpriority(os.PRIO_PROCESS, thread, int(priority))
    except OSError:  # a sandbox that forbids it: hash at the usual priority
        log.warning("could not lower the priority of the password-hash thread", exc_info=True)


def _at_priority(priority: str | int, function: Callable, args: tuple):
    _lower(priority)
    return function(*args)


def off_hub(function: Callable, *args):
    """``function(*args)`` in this process's password-hash threads (module docstring); the
    caller waits for the result (under gevent, its greenlet yields meanwhile)."""
    threads, priority = _settings()
    gevented = under_gevent()
    pool = _pool(threads, priority, gevented)
    if gevented:
        return pool.apply(_at_priority, (priority, function, args))
    return pool.submit(_at_priority, priority, function, args).result()
