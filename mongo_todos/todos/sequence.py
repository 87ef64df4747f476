"""The write side of the changes feed: a per-account sequence stamped on every todo write,
tombstones for deletions, and the *safe point* below which a reader may look.

Why it lives in ``todos/``: every todo write (store.py, seed.py, the jobs' batch writers)
must call it, and nothing imports upward; the feed's reader and its HTTP view sit above, in
mongo_todos.changes. docs/sync.md holds the full argument; in short:

- Each account has a counter document (``sync_counters``, keyed by the owner). A writer
  *reserves* numbers with one atomic update: ``$inc`` of ``seq``, and ``$set`` of a *lease*
  ``leases.<tag>: {"s": a lower bound of the first number, "n": count, "until": lease end}``;
  it writes the todo with ``seq`` set to its number (in the same atomic write as the change
  itself), and once the write's outcome is known its lease is *released* (``$unset``).
- A reader's safe point is ``seq``, or one below the lowest live ``s``. Every number at or
  below it belongs to a write that has finished (or never will: a failed one), so a range
  read up to it never misses a write that lands later with a smaller number.
- One extra write per change: a request's write does not release its lease itself. The
  release rides on this process's next reservation for the account (the same update
  ``$unset``s the leases this process has finished), or on the releaser's write a
  moment later (mongo_todos.todos.leases) when no reservation comes. Releasing late is always
  safe (a lease only holds readers back); a reader in this process counts this process's
  finished leases as released already, so a client sees its own write at once; a reader
  elsewhere, a moment later. Batch writers (imports, bulk changes, seed)
  release at once: one write per batch, and a command-line process may exit right after.
- Fewer in a burst: a request's write takes its number from this process's *block* of the
  account (:func:`take`; mongo_todos.todos.leases): one reservation of several numbers (one
  for a lone write, growing while the account's writes come in a burst), handed out one at a
  time; its lease is finished once the block has stopped handing out and all its writes are
  known. A reader in this process counts the account's block from its lowest number not
  known finished (and stops it, so as not to wait for numbers it would hand out later).
- A lease whose writer died expires after :data:`LEASE`; readers then pass it. A write whose
  outcome is unknown (a timeout, a lost primary) is not released either: its lease gives it
  time to land or fail before readers pass it. The residual risk (a write landing more than a
  lease after its reservation) is bounded by the request time budget; see docs.
- A deletion first writes a tombstone (``todo_tombstones``: id, owner, seq, deleted_at) with
  its number, then deletes the todo. A crash between the two leaves a tombstone of a living
  todo: readers drop tombstones whose todo still exists, so that is harmless. (The embedded
  store deletes first and writes the tombstone after, both under its one lock, which no
  reader and no crash can come between: :func:`mongo_todos.todos.store.delete`.)

The API for batch writers (imports, bulk changes; one reservation per batch)::

    with stamped(owner, count=len(docs)) as reservation:   # numbers reservation.first..last
        for i, doc in enumerate(docs):
            doc["seq"] = reservation.first + i              # or one number for all of them
        collection.insert_many(docs)
    # deletions of many todos: one number for the batch (ties are ordered by id)
    with stamped(owner) as reservation:
        tombstone_many(owner, ids, reservation.first)
        collection.delete_many({"owner": owner, "_id": {"$in": ids}})

:func:`stamped` releases when the block ends normally or with an HTTP error (a 404/412 is a
known outcome), and leaves the lease to expire when a driver error makes the outcome unknown;
``stamped(owner, deferred=True)`` (one todo written by a request) takes its number from the
process's block and hands the release to the releaser. :func:`reserve` and :func:`commit` are
the same two steps, by hand.
"""

from __future__ import annotations

import atexit
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import ObjectId
from flask import current_app, has_app_context
from pymongo.errors import BulkWriteError, DuplicateKeyError

from mongo_todos import dates
from mongo_todos.store.documents import SyncCounter, Tombstone
from mongo_todos.store.mongodb import database_error
from mongo_todos.todos.leases import Releaser, unset
from mongo_todos.todos.search import MIGRATIONS

#: How long a reservation holds readers back when its writer never commits (a crash, or an
#: unknown outcome). Far longer than a request's time budget (MONGODB_REQUEST_TIMEOUT_MS,
#: default 5 s), which bounds when a write can still land; docs/sync.md.
LEASE = timedelta(seconds=60)
#: Tombstones outlive SYNC_TOMBSTONE_TTL by this much: a token is good for the whole TTL
#: even for a deletion reserved a lease before the token's read (docs/sync.md).
TOMBSTONE_MARGIN = 2 * LEASE
DEFAULT_TOMBSTONE_TTL = 2592000
#: Tombstones an account keeps at most (SYNC_TOMBSTONES_PER_USER; 0: no cap), checked about
#: once every TRIM_EVERY tombstones written: the cap may be passed by about that many.
DEFAULT_TOMBSTONE_CAP = 10000
TRIM_EVERY = 100
_FIELDS = {"seq": 1, "leases": 1, "inflight": 1}


@dataclass(frozen=True)
class Reservation:
    """Sequence numbers ``first``..``last`` of ``owner``, reserved until ``until``; ``tag``
    names its lease in the counter's ``leases``."""

    owner: ObjectId
    first: int
    last: int
    until: datetime
    tag: str = field(default_factory=lambda: str(ObjectId()))


#: this process's releaser (mongo_todos.todos.leases)
RELEASER = Releaser(lambda: counters())
atexit.register(RELEASER.flush)


#: owner -> the highest number this process saw handed out: a lower bound of the next one.
_LAST_SEEN: dict[ObjectId, int] = {}
_LAST_SEEN_MAX = 100_000


def counters():
    return SyncCounter._get_collection()


def tombstones():
    return Tombstone._get_collection()


def reserve(owner: ObjectId, count: int = 1) -> Reservation:
    """Reserve ``count`` consecutive sequence numbers of ``owner``: one atomic update that
    takes them (``$inc``) and records the lease (``$set``), releasing on the way the leases
    this process has finished (``$unset``).

    The lease's ``s`` must not exceed the first number reserved, and one update cannot write
    the number it is taking; so ``s`` is a lower bound: the highest number this process saw
    handed out, plus one (numbers only grow). A reader stops below ``s``: a stale bound holds
    it back a little more while this write is in flight, never less.
    """
    now = dates.utcnow()
    reservation = Reservation(owner, 0, 0, now + LEASE)
    entry = {"s": _LAST_SEEN.get(owner, 0) + 1, "n": count, "until": reservation.until}
    update = {"$inc": {"seq": count}, "$set": {f"leases.{reservation.tag}": entry}}
    with RELEASER.taking(owner) as finished:  # given back if the update fails
        if finished:
            update["$unset"] = unset(finished)
        try:  # the document before the update: the numbers taken follow its seq
            before = counters().find_one_and_update({"_id": owner}, update, _FIELDS, upsert=True)
        except DuplicateKeyError:  # two first writes of the account raced to create it
            before = counters().find_one_and_update({"_id": owner}, update, _FIELDS)
    first = (before["seq"] if before else 0) + 1
    if len(_LAST_SEEN) > _LAST_SEEN_MAX:
        _LAST_SEEN.clear()
    _LAST_SEEN[owner] = max(_LAST_SEEN.get(owner, 0), first + count - 1)
    if before:
        _prune(owner, before, now)
    return Reservation(owner, first, first + count - 1, reservation.until, reservation.tag)


def _prune(owner: ObjectId, before: dict, now: datetime) -> None:
    # expired leases (a writer that died): readers pass them already; keep the document small
    expired = {tag for tag, e in (before.get("leases") or {}).items() if e["until"] < now}
    if expired:
        RELEASER.give_back(owner, expired)
    if any(e["until"] < now for e in before.get("inflight") or ()):  # a version before 1.2.1
        counters().update_one({"_id": owner}, {"$pull": {"inflight": {"until": {"$lt": now}}}})


def take(owner: ObjectId) -> Reservation:
    """One number for a request's write of ``owner``: the next of this process's block of
    the account (mongo_todos.todos.leases), or the first of a new block, reserved with
    :func:`reserve` (one number, or more in a burst)."""
    now = dates.utcnow()
    block = RELEASER.hand_out(owner, now)
    if block is None:
        taken = reserve(owner, RELEASER.size(owner, now))
        block = RELEASER.open(owner, taken.first, taken.last, taken.tag, taken.until, now)
    return Reservation(owner, block.first, block.first, block.until, block.tag)


def commit(reservation: Reservation, deferred: bool = False) -> None:
    """Mark ``reservation``'s writes finished (done, or known not to happen): release its
    lease now, or (``deferred``: a number from :func:`take`) once this process's block is
    closed and finished, with its next reservation or the :class:`Releaser`'s next round."""
    if deferred:
        RELEASER.done(reservation.owner, reservation.tag, reservation.first)
    else:
        counters().update_one({"_id": reservation.owner},
                              {"$unset": unset([reservation.tag])})


@contextmanager
def stamped(owner: ObjectId, count: int = 1, deferred: bool = False):
    """Reserve ``count`` numbers for the writes in the block (``deferred``: one number from
    :func:`take`); commit when their outcome is known (module docstring)."""
    reservation = take(owner) if deferred and count == 1 else reserve(owner, count)
    try:
        yield reservation
    except Exception as error:
        # an unavailable, slow or unconfirmed database (the 503s): the write may still land,
        # so the lease keeps readers back until it has settled; anything else (a 404/412, a
        # duplicate id) is a known outcome
        if database_error(error) is None:
            commit(reservation, deferred)
        elif deferred:
            RELEASER.done(owner, reservation.tag, reservation.first, known=False)
        raise
    commit(reservation, deferred)


def safe_point(owner: ObjectId, now: datetime | None = None) -> int:
    """The highest sequence number at or below which every write of ``owner`` is finished."""
    now = now or dates.utcnow()
    # before the read: a finished lease missing from it was released before the read (and
    # one whose release lands after the read is in it), so a client sees its own write; a
    # block of this process holds readers here back only from its first unfinished number
    known = RELEASER.known(owner)
    doc = counters().find_one({"_id": owner}, _FIELDS)
    if doc is None:
        return 0
    live = [known.get(tag, e["s"]) for tag, e in (doc.get("leases") or {}).items()
            if e["until"] >= now]
    live = [s for s in live if s is not None]
    live += [e["s"] for e in doc.get("inflight") or () if e["until"] >= now]
    return min(live) - 1 if live else doc["seq"]


def tombstone_ttl() -> timedelta:
    seconds = (current_app.config.get("SYNC_TOMBSTONE_TTL", DEFAULT_TOMBSTONE_TTL)
               if has_app_context() else DEFAULT_TOMBSTONE_TTL)
    return timedelta(seconds=seconds)


def tombstone_many(owner: ObjectId, ids: list[ObjectId], seq: int) -> None:
    """Record the deletion of ``owner``'s todos ``ids`` at ``seq``, before deleting them."""
    if not ids:
        return
    now = dates.utcnow()
    expires = now + tombstone_ttl() + TOMBSTONE_MARGIN
    documents = [{"_id": todo_id, "owner": owner, "seq": seq, "deleted_at": now,
                  "expires_at": expires} for todo_id in ids]
    try:
        if len(documents) == 1:  # a request's DELETE: the lighter call
            tombstones().insert_one(documents[0])
        else:
            tombstones().insert_many(documents, ordered=False)
    except DuplicateKeyError:
        _renumber(owner, ids, seq, now, expires)
    except BulkWriteError as error:
        if any(e.get("code") != 11000 for e in error.details.get("writeErrors", ())):
            raise
        _renumber(owner, [e["op"]["_id"] for e in error.details["writeErrors"]], seq, now,
                  expires)
    if random.random() * TRIM_EVERY < len(ids):  # about once every TRIM_EVERY tombstones
        trim(owner)


def _renumber(owner: ObjectId, ids: list, seq: int, now: datetime, expires: datetime) -> None:
    # tombstones already there (a deletion that crashed, or lost a race to a precondition):
    # keep the higher number, so a tombstone is never lost nor moved back
    update = {"$max": {"seq": seq}, "$set": {"deleted_at": now, "expires_at": expires}}
    if tombstones().update_many({"_id": {"$in": ids}, "owner": owner},
                                update).matched_count < len(ids):
        # one expired (TTL) since the insert found it: this deletion writes its own
        for todo_id in ids:
            tombstones().update_one({"_id": todo_id, "owner": owner}, update, upsert=True)


def tombstone_cap() -> int:
    return (current_app.config.get("SYNC_TOMBSTONES_PER_USER", DEFAULT_TOMBSTONE_CAP)
            if has_app_context() else DEFAULT_TOMBSTONE_CAP)


def trim(owner: ObjectId) -> int:
    """Forget ``owner``'s oldest tombstones beyond SYNC_TOMBSTONES_PER_USER; how many.

    The counter's ``forgotten`` is raised to the newest number forgotten *before* the
    tombstones go, so a reader that checks it after reading its ranges (mongo_todos.changes
    .feed) refuses a token below it (410) rather than miss a deletion."""
    cap = tombstone_cap()
    # under the cap (the usual case): a count, bounded by the cap (the embedded store answers
    # it from its ordered index's size, MongoDB reads at most cap + 1 index keys, as the
    # $skip below would)
    if not cap or tombstones().count_documents({"owner": owner}, limit=cap + 1) <= cap:
        return 0
    edge = list(tombstones().aggregate(
        [{"$match": {"owner": owner}}, {"$sort": {"seq": -1, "_id": -1}}, {"$skip": cap},
         {"$limit": 1}, {"$project": {"seq": 1}}], hint=[("owner", 1), ("seq", 1), ("_id", 1)]))
    if not edge:
        return 0
    horizon = edge[0]["seq"]
    counters().update_one({"_id": owner}, {"$max": {"forgotten": horizon}})
    return tombstones().delete_many({"owner": owner, "seq": {"$lte": horizon}}).deleted_count


def forgotten(owner: ObjectId) -> int:
    """The newest number whose tombstones ``owner``'s account may have forgotten (-1: none):
    a token below it may have missed a deletion."""
    doc = counters().find_one({"_id": owner}, {"forgotten": 1})
    return (doc or {}).get("forgotten", -1)


def deleted(owner: ObjectId, todo_id: ObjectId) -> bool:
    """Whether ``owner`` deleted todo ``todo_id`` within SYNC_TOMBSTONE_TTL (the caller knows
    it is gone: a tombstone of a todo that still exists means nothing)."""
    return tombstones().find_one({"_id": todo_id, "owner": owner}, {"_id": 1}) is not None


def deleted_among(owner: ObjectId, ids: list[ObjectId]) -> set[ObjectId]:
    """Which of ``ids`` ``owner`` deleted within SYNC_TOMBSTONE_TTL (a re-run import must not
    create them again)."""
    return {doc["_id"] for doc in tombstones().find({"_id": {"$in": ids}, "owner": owner},
                                                    {"_id": 1})}


def tombstoned(todo_id: ObjectId) -> bool:
    """Whether any account deleted a todo with this id lately (a client-made id is refused)."""
    return tombstones().find_one({"_id": todo_id}, {"_id": 1}) is not None


def forget(owner: ObjectId) -> None:
    """Remove ``owner``'s tombstones and counter (the account is being deleted)."""
    tombstones().delete_many({"owner": owner})
    counters().delete_one({"_id": owner})


def number_old_todos(collection) -> int:
    """Give todos stored before the changes feed existed the number 0 (a full sync starts
    below it, so it lists them; their next write numbers them for real); how many. Run by
    ``db init``; once none is left, a marker in MIGRATIONS spares later runs the scan (as the
    search keys' backfill does)."""
    done = collection.database[MIGRATIONS]
    if done.find_one({"_id": "todos.seq"}) is not None:
        return 0
    numbered = collection.update_many({"seq": {"$exists": False}}, {"$set": {"seq": 0}})
    try:
        done.insert_one({"_id": "todos.seq"})
    except DuplicateKeyError:  # another instance's db init finished it too
        pass
    return numbered.modified_count
