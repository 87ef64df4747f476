"""The changes feed's lease releases, per process: which of this process's leases are finished
but not yet released in the database, and the background thread (a greenlet under gevent)
that releases them when no reservation has taken them along (mongo_todos.todos.sequence
explains the scheme; docs/sync.md argues why releasing late is safe).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager

from bson import ObjectId

log = logging.getLogger("mongo_todos.sync")

#: How long a finished request write's lease may wait for this process's next reservation of
#: the account before the :class:`Releaser` releases it on its own (seconds): the most a
#: reader in another process waits, beyond the write itself, to see a change.
RELEASE_DELAY = 0.02


def unset(tags) -> dict:
    """The ``$unset`` that releases these leases."""
    return {f"leases.{tag}": "" for tag in tags}


class Releaser:
    """This process's finished leases not yet released in the database, per account, and the
    background thread (a greenlet under gevent) that releases them :data:`RELEASE_DELAY`
    after the first one finished, if no reservation has taken them along before."""

    def __init__(self, counters):
        self._counters = counters  # the collection of counter documents, at call time
        self._lock = threading.Lock()
        self._finished: dict[ObjectId, set[str]] = {}
        # taken by an update that releases them, which has not landed yet: still "known"
        # finished, or a reader here would wait for the release of its own client's write
        self._releasing: dict[ObjectId, set[str]] = {}
        self._wake = threading.Event()
        self._pid = None

    def finish(self, owner: ObjectId, tag: str) -> None:
        with self._lock:
            self._finished.setdefault(owner, set()).add(tag)
            if self._pid != os.getpid():  # first use in this process (a fork has no thread)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="sync-lease-releaser",
                                 daemon=True).start()
        self._wake.set()

    @contextmanager
    def taking(self, owner: ObjectId):
        """The account's finished leases, for the caller's update (the block) to release;
        given back if the block fails."""
        with self._lock:
            tags = self._finished.pop(owner, set())
            if tags:
                self._releasing.setdefault(owner, set()).update(tags)
        try:
            yield tags
        except BaseException:
            self._settle(owner, tags, released=False)  # (an $unset that landed is harmless)
            raise
        self._settle(owner, tags, released=True)

    def _settle(self, owner: ObjectId, tags: set[str], released: bool) -> None:
        if not tags:
            return
        with self._lock:
            releasing = self._releasing.get(owner, set())
            releasing -= tags
            if not releasing:
                self._releasing.pop(owner, None)
        if not released:
            self.give_back(owner, tags)

    def give_back(self, owner: ObjectId, tags: set[str]) -> None:
        if tags:
            with self._lock:
                self._finished.setdefault(owner, set()).update(tags)
            self._wake.set()

    def known(self, owner: ObjectId) -> frozenset[str]:
        """The account's leases this process knows are finished: not yet released, or their
        release not yet landed (read it *before* the counter document: a lease missing here
        was released in the database already)."""
        with self._lock:
            return frozenset(self._finished.get(owner, ())) | self._releasing.get(owner, set())

    def flush(self) -> None:
        """Release every finished lease now, one update per account; at the first that fails
        (an unavailable database: each try waits for a server) the rest wait for the next
        round."""
        with self._lock:
            owners = list(self._finished)
        for owner in owners:
            try:
                with self.taking(owner) as tags:
                    if tags:
                        self._counters().update_one({"_id": owner}, {"$unset": unset(tags)})
            except Exception:  # leases expire anyway; retried while the process runs
                log.warning("could not release changes-feed leases", exc_info=True)
                return

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(RELEASE_DELAY)
            self._wake.clear()
            self.flush()
