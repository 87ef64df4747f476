"""The changes feed's leases, per process: the *blocks* of numbers this process hands to its
request writes, which of its leases are finished but not yet released in the database, and
the background thread (a greenlet under gevent) that releases them when no reservation has
taken them along (mongo_todos.todos.sequence explains the scheme; docs/sync.md argues why
handing numbers out of a block and releasing late are safe).

A block is one reservation of several consecutive numbers (one lease), taken by a request
write and handed out one number at a time to this process's next request writes of the same
account, while it is young (:data:`BLOCK_AGE`) and until the next release round closes it. Its
lease is finished once it is closed and every number handed out has a known outcome. A lone
write reserves a block of one number: what it pays is unchanged; a burst (a seed script, a
client flushing its offline queue) pays one reservation per block, which doubles (up to
:data:`BLOCK_MAX`) while the account's previous block was used up within a moment.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import ObjectId

from mongo_todos import dates

log = logging.getLogger("mongo_todos.sync")

#: How long a finished request write's lease may wait for this process's next reservation of
#: the account before the :class:`Releaser` releases it on its own (seconds): the most a
#: reader in another process waits, beyond the write itself, to see a change. Each release
#: round also closes the open blocks.
RELEASE_DELAY = 0.02
#: The most numbers a block takes at once.
BLOCK_MAX = 32
#: A block hands out numbers for at most this long after its reservation (far below its
#: lease: a number handed out late still lands within the lease); a block that closed less
#: than this long ago lets the account's next one grow.
BLOCK_AGE = timedelta(seconds=1)
_SIZES_MAX = 100_000


def unset(tags) -> dict:
    """The ``$unset`` that releases these leases."""
    return {f"leases.{tag}": "" for tag in tags}


@dataclass(eq=False)
class Block:
    """Numbers ``next``..``last`` of ``owner`` not yet handed out, under lease ``tag``."""

    owner: ObjectId
    tag: str
    first: int
    last: int
    until: datetime
    opened: datetime
    next: int = 0
    pending: set[int] = field(default_factory=set)  # handed out, outcome not known (yet)
    closed: bool = False  # hands out no more
    stuck: bool = False  # a write's outcome is unknown: left to its lease (never finished)

    def bound(self) -> int:
        """The lowest number of the block not known to be finished (handed out and in flight,
        or still to be handed out)."""
        return min(self.pending, default=self.last + 1 if self.closed else self.next)


class Releaser:
    """This process's blocks and its finished leases not yet released in the database, per
    account, and the background thread (a greenlet under gevent) that releases them
    :data:`RELEASE_DELAY` after a request's write finished, if no reservation has taken them
    along before."""

    def __init__(self, counters):
        self._counters = counters  # the collection of counter documents, at call time
        self._lock = threading.Lock()
        self._finished: dict[ObjectId, set[str]] = {}
        # taken by an update that releases them, which has not landed yet: still "known"
        # finished, or a reader here would wait for the release of its own client's write
        self._releasing: dict[ObjectId, set[str]] = {}
        self._open: dict[ObjectId, Block] = {}  # the block handing out each account's numbers
        self._held: dict[ObjectId, dict[str, Block]] = {}  # blocks whose lease is not finished
        self._sizes: dict[ObjectId, tuple[int, datetime]] = {}  # the next block's, and since
        self._blocks_pid = os.getpid()
        self._wake = threading.Event()
        self._pid = None

    # --- blocks -----------------------------------------------------------------------------

    def hand_out(self, owner: ObjectId, now: datetime) -> Block | None:
        """The next number of ``owner``'s open block, as a block of that one number (its
        ``first``), or None when there is none to hand out (reserve a new block)."""
        with self._lock:
            self._here()
            block = self._open.get(owner)
            if block is None:
                return None
            if now >= block.opened + BLOCK_AGE:
                self._close(block, now)
                return None
            return self._take(block, now)

    def _here(self) -> None:
        # (under the lock; every method that reads or settles blocks) a forked child: the
        # blocks copied from its parent are the parent's to hand out and settle; closing one
        # here would count its lease finished (a reader here, or a release round, would pass
        # numbers the parent still hands out): the child knows them only from the database
        if self._blocks_pid != os.getpid():
            self._open.clear()
            self._held.clear()
            self._blocks_pid = os.getpid()

    def size(self, owner: ObjectId, now: datetime) -> int:
        """How many numbers ``owner``'s next block takes: 1, or twice what the previous one
        handed out if it closed within :data:`BLOCK_AGE` (a burst), at most :data:`BLOCK_MAX`."""
        with self._lock:
            size, since = self._sizes.get(owner, (1, now))
        return size if now - since < BLOCK_AGE else 1

    def open(self, owner: ObjectId, first: int, last: int, tag: str, until: datetime,
             now: datetime) -> Block:
        """Hand out ``first`` from the new block ``first``..``last`` (one reservation); it
        replaces the account's open block, if another request opened one meanwhile."""
        block = Block(owner, tag, first, last, until, now, next=first)
        with self._lock:
            self._here()
            if (old := self._open.get(owner)) is not None:
                self._close(old, now)
            self._held.setdefault(owner, {})[tag] = block
            self._open[owner] = block
            return self._take(block, now)

    def _take(self, block: Block, now: datetime) -> Block:
        number = block.next
        block.next += 1
        block.pending.add(number)
        if block.next > block.last:
            self._close(block, now)
        return Block(block.owner, block.tag, number, number, block.until, block.opened)

    def _close(self, block: Block, now: datetime) -> None:
        # (under the lock)
        if block.closed:
            return
        block.closed = True
        if self._open.get(block.owner) is block:
            del self._open[block.owner]
        if len(self._sizes) > _SIZES_MAX:
            self._sizes.clear()
        self._sizes[block.owner] = (min(BLOCK_MAX, 2 * (block.next - block.first)), now)
        self._settled(block)

    def _settled(self, block: Block) -> None:
        # (under the lock) a closed block whose writes are all known: its lease is finished
        if block.closed and not block.pending and not block.stuck:
            self._unhold(block.owner, block.tag)
            self._finished.setdefault(block.owner, set()).add(block.tag)

    def _unhold(self, owner: ObjectId, tag: str) -> None:
        # (under the lock) no empty entry left behind: a process writes to many accounts
        if (held := self._held.get(owner)) is not None:
            held.pop(tag, None)
            if not held:
                del self._held[owner]

    def done(self, owner: ObjectId, tag: str, number: int, known: bool = True) -> None:
        """The write numbered ``number`` under lease ``tag`` has finished (``known``), or its
        outcome is unknown: then the lease is left to expire, however the block's other
        writes end (a reader here still counts the block from its lowest number not known
        finished, so the writes numbered below the unknown one are not held back)."""
        with self._lock:
            self._here()
            block = self._held.get(owner, {}).get(tag)
            if block is None:  # a lease of its own (not a block of this process)
                if known:
                    self._finished.setdefault(owner, set()).add(tag)
            else:
                if known:
                    block.pending.discard(number)
                else:  # stays pending: a reader here still passes the numbers below it
                    block.stuck = True
                    self._close(block, dates.utcnow())
                self._settled(block)
            if self._pid != os.getpid():  # first use in this process (a fork has no thread)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="sync-lease-releaser",
                                 daemon=True).start()
        self._wake.set()

    # --- releases -----------------------------------------------------------------------------

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
        """Leases to release: ones a release failed to, or expired ones (a dead writer, a
        block left to its lease)."""
        if tags:
            with self._lock:
                self._finished.setdefault(owner, set()).update(tags)
                for tag in tags:
                    self._unhold(owner, tag)
            self._wake.set()

    def known(self, owner: ObjectId) -> dict[str, int | None]:
        """What this process knows of the account's leases beyond the counter document (read
        it *before* that document: a lease missing here was released in the database already,
        or reserved after): None for a finished lease (not yet released, or its release not
        yet landed), and for a block of this process, the lowest number not known finished.

        It closes the account's open block: a reader here then waits only for writes in
        flight, never for numbers not handed out yet (the next write reserves a new block)."""
        with self._lock:
            self._here()
            if (block := self._open.get(owner)) is not None:
                self._close(block, dates.utcnow())
            known: dict[str, int | None] = dict.fromkeys(self._finished.get(owner, ()))
            known.update(dict.fromkeys(self._releasing.get(owner, ())))
            for tag, block in self._held.get(owner, {}).items():
                known[tag] = block.bound()
            return known

    def flush(self) -> None:
        """Close the open blocks, forget the blocks whose lease has expired (left to it: an
        unknown outcome, a write killed in flight; readers pass it already), and release
        every finished lease now, one update per account; at the first that fails (an
        unavailable database: each try waits for a server) the rest wait for the next round."""
        now = dates.utcnow()
        with self._lock:
            self._here()
            for block in list(self._open.values()):
                self._close(block, now)
            for block in [b for held in self._held.values() for b in held.values()]:
                if block.until < now:
                    self._unhold(block.owner, block.tag)
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
