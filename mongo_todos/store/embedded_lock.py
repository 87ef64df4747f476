"""The embedded store's one lock: each operation on an embedded collection holds it, alone.

MongoDB applies each single operation atomically (a conditional update, a find-and-modify)
and serves any number of clients. mongomock does neither across threads: a conditional update
is a find then a write, and its reader/writer lock can deadlock when iterations nest. So every
operation on the embedded store (a cursor's results included: they are materialised inside)
holds one lock, and only while it talks to the store: a request reads its body, hashes a
password and writes its answer without it, so a slow client delays nobody else.

The lock is built from ``threading`` primitives, looked up when it is created (in the worker,
after gunicorn's gevent worker has monkey-patched them): under gevent, waiting for it yields to
other greenlets instead of blocking the worker.
"""

from __future__ import annotations

import threading
from collections import deque


class FairLock:
    """A reentrant lock that serves its waiters in arrival order (a FIFO hand-off).

    Reentrant because mongomock nests its own operations (``find_one`` is a ``find``, a
    ``bulk_write`` runs single writes). Fair because under load an unfair lock lets the
    greenlet that just released it take it again at once: a client looping on the store, or a
    request doing many small operations, would then starve every other request (``/healthz``
    aside, the whole API) for as long as it keeps going. Handing the lock to the oldest waiter
    bounds every wait by the operations queued ahead of it.
    """

    def __init__(self):
        self._mutex = threading.Lock()
        self._owner = None
        self._depth = 0
        self._waiters: deque = deque()  # (ident, event) in arrival order

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None and not self._waiters:
                self._owner, self._depth = me, 1
                return
            turn = threading.Event()
            self._waiters.append((me, turn))
        try:
            turn.wait()  # release() hands the lock over before it sets the event
        except BaseException:  # a gevent.Timeout or a kill thrown into the waiting greenlet
            with self._mutex:
                handed_over = self._owner == me
                if not handed_over:
                    self._waiters.remove((me, turn))
            if handed_over:
                self.release()
            raise

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a FairLock not held by this thread")
            self._depth -= 1
            if self._depth:
                return
            if self._waiters:
                self._owner, turn = self._waiters.popleft()
                self._depth = 1
                turn.set()
            else:
                self._owner = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def one_hold(collection) -> FairLock | None:
    """The embedded store's one lock when ``collection`` is the embedded store's (None for
    MongoDB's): operations run while holding it are one atomic step to every other client,
    and they end together with the process that holds the store (there is no crash between
    them that the data outlives). Only the embedded store's client holds a :class:`FairLock`
    (mongo_todos.store.embedded); read from its ``__dict__``, as pymongo's client answers any
    other attribute with a database of that name."""
    lock = vars(collection.database.client).get("lock")
    return lock if isinstance(lock, FairLock) else None
