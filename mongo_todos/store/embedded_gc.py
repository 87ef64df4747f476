"""The garbage collector in a process that holds the embedded store: survivors are frozen.

The embedded store keeps every document as Python objects of the serving process, and they
live as long as it does. CPython's full (generation 2) collection walks every tracked object,
so its pause grows with the store: measured with 4 clients creating todos and one logging in,
31, 55, 76, 78, 115 and 131 ms as the store grew to about 20,000 todos in 15 s, each stopping
every request of the worker (docs/benchmarks.md, round 5).

:func:`install` adds a collector callback: after each full collection, every object that
survived it is frozen (``gc.freeze``: moved to a generation the collector never walks), so the
next full collection walks only what was made since (8-10 ms in the same run). A frozen object
is still freed by reference counting; what freezing gives up is collecting a reference *cycle*
that was alive at a freeze and died after it. So every :data:`THAW_EVERY`-th full collection
thaws everything instead (``gc.unfreeze``): the next one walks the whole heap once (one long
pause every few minutes under load), collects such cycles, and freezing resumes after it.

Installed by the gunicorn worker of the embedded store (mongo_todos.web.gunicorn_workers), not
in tests or command-line processes, which make many short-lived stores.
"""

from __future__ import annotations

import gc

#: Full collections between thaws (each thaw makes the next full collection walk everything).
THAW_EVERY = 100


class SurvivorFreezer:
    """A ``gc.callbacks`` entry: freeze after full collections, thaw every ``thaw_every``."""

    def __init__(self, thaw_every: int = THAW_EVERY):
        self.thaw_every = thaw_every
        self.full_collections = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        self.full_collections += 1
        if self.full_collections % self.thaw_every == 0:
            gc.unfreeze()  # the next full collection walks the whole heap once
        else:
            gc.freeze()


def install(thaw_every: int = THAW_EVERY) -> SurvivorFreezer:
    """Freeze survivors of full collections in this process from now on (once)."""
    for callback in gc.callbacks:
        if isinstance(callback, SurvivorFreezer):
            return callback
    freezer = SurvivorFreezer(thaw_every)
    gc.callbacks.append(freezer)
    return freezer
