"""The rate limiter's in-process storage, without a thread per request.

flask-limiter's ``memory://`` storage (``limits.storage.MemoryStorage``) counts in a dict and
already drops an expired counter when it next reads it, so every limit holds from the counts
alone. To free the memory of counters nobody reads again it also starts a ``threading.Timer``
that sweeps them 10 ms later, and a new one whenever the last has finished: under steady
traffic that is a new thread every few requests, and starting one waits for the new thread
to take the GIL. Measured with scripts/profile_requests.py (100 todos, in-process), it was
the largest single cost of a GET: about 0.7 ms of 1.8 ms, a quarter of the request.

:class:`InlineExpiryStorage` is the same storage with the sweep run inline, at most once a
second, by the request that finds it due. Counting, expiry and the moving window are the
library's own code; only the moment stale entries are freed changes. It serves the memory
storage and the in-memory fallback used while a shared (Redis) storage is down.
"""

from __future__ import annotations

import time

from limits.storage import MemoryStorage

#: Seconds between two sweeps of expired counters (the library's timer: 0.01 s after a hit).
SWEEP_INTERVAL = 1.0


class InlineExpiryStorage(MemoryStorage):
    """``memory://`` with expired entries swept inline (module docstring). It defines no
    STORAGE_SCHEME, so ``memory://`` still names the library's class everywhere else."""

    _next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - the library's private hook
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self._MemoryStorage__expire_events()


def use_inline_expiry(limiter) -> None:
    """Switch ``limiter``'s in-process storages (if any) to :class:`InlineExpiryStorage`."""
    for name in ("_storage", "_fallback_storage"):
        storage = getattr(limiter, name, None)
        if type(storage) is MemoryStorage:
            storage.__class__ = InlineExpiryStorage
            storage.timer.cancel()  # the timer its constructor started
