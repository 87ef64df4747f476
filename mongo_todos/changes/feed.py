"""The read side of the changes feed: sync tokens, and one page of changes after a token.

A page is two index ranges, ``(owner, seq, _id)`` of todos and of tombstones, after the
token's position and up to the account's *safe point* (mongo_todos.todos.sequence: every
write numbered at or below it has finished), merged in ``(seq, _id)`` order. A todo holds
only its latest number, so a todo changed several times appears once, as it is now. With
nothing new (the safe point is the token's position) a poll reads the counter document and
nothing else.

**Tokens** are sealed like list cursors (mongo_todos.todos.pagination: AES-GCM under a key
derived from SECRET_KEY, so opaque and tamper-proof) and hold the account, the position
``(seq, id)`` and ``born``: a time such that every tombstone the client may still need was
written after ``born`` minus a lease. A tombstone is kept SYNC_TOMBSTONE_TTL plus two leases,
so a token younger than SYNC_TOMBSTONE_TTL never misses one; an older one is a 410. A page
that ends the walk (``has_more`` false) is born now; a page in the middle of a walk keeps the
``born`` of the token it was asked with (the first page of a full sync: its own time), since
the tombstones still ahead of it may be older than this page (docs/sync.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId
from flask_smorest import abort

from mongo_todos import dates
from mongo_todos.dates import isoformat
from mongo_todos.todos import sequence, store
from mongo_todos.todos.pagination import seal, unseal

_KIND = "sync.v1"
_ORDER = {"seq": 1, "_id": 1}
_INDEX = [("owner", 1), ("seq", 1), ("_id", 1)]
_TOMBSTONE_FIELDS = {"seq": 1, "deleted_at": 1}


@dataclass
class Position:
    """Where a client's copy stands: every change up to ``seq`` (and, within ``seq``, up to
    id ``after``) applied; ``born`` as in the module docstring (seconds since the epoch)."""

    seq: int
    after: ObjectId | None
    born: int


@dataclass
class ChangesPage:
    items: list[dict]
    since: str
    has_more: bool


def _seconds(moment: datetime) -> int:
    # floor: a token looks a little older than it is, never younger
    return int(moment.replace(tzinfo=UTC).timestamp())


def make_token(owner: ObjectId, position: Position) -> str:
    data = {"k": _KIND, "o": str(owner), "s": position.seq, "b": position.born}
    if position.after is not None:
        data["i"] = str(position.after)
    return seal(data)


def read_token(token: str, owner: ObjectId, now: datetime) -> Position:
    """The position a token holds: 400 if it is not a sync token of ``owner``, 410 if it is
    older than SYNC_TOMBSTONE_TTL."""
    try:
        data = unseal(token)
        if data.get("k") != _KIND or data.get("o") != str(owner):
            raise ValueError("another kind or account")
        seq, born = data["s"], data["b"]
        if not (isinstance(seq, int) and isinstance(born, int)) or seq < 0:
            raise ValueError("bad position")
        after = ObjectId(data["i"]) if "i" in data else None
    except (KeyError, TypeError, ValueError, InvalidId):
        abort(400, message="The sync token is not one this service issued to this account.",
              messages={"since": ["Not a valid sync token: it was altered, cut short or made "
                                  "for another account."]},
              type="sync-token-invalid")
    if _seconds(now) - born > sequence.tombstone_ttl().total_seconds():
        _expired("The sync token is older than SYNC_TOMBSTONE_TTL: deletions since then may be "
                 "forgotten. Sync again from the start, without since.")
    return Position(seq, after, born)


def _expired(message: str):
    abort(410, message=message, type="sync-token-expired")


def _range(collection, owner: ObjectId, position: Position, safe: int, n: int,
           projection: dict) -> list[dict]:
    """Up to ``n`` documents of ``owner`` after ``position`` and at or below ``safe``, in
    ``(seq, _id)`` order: one or two exact ranges of the ``(owner, seq, _id)`` index."""
    found = []
    if position.after is not None:  # the rest of a batch sharing one number
        found = _walk(collection, {"owner": owner, "seq": position.seq,
                                   "_id": {"$gt": position.after}}, n, projection)
    if len(found) < n:
        found += _walk(collection, {"owner": owner, "seq": {"$gt": position.seq, "$lte": safe}},
                       n - len(found), projection)
    return found


def _walk(collection, match: dict, n: int, projection: dict) -> list[dict]:
    # a pipeline, as the list's pages: the embedded store then walks its ordered copy of the
    # index (mongo_todos.store.embedded_sorted) instead of sorting the account's documents
    return list(collection.aggregate(
        [{"$match": match}, {"$sort": _ORDER}, {"$limit": n}, {"$project": projection}],
        hint=_INDEX))


def _live_ids(owner: ObjectId, ids: list[ObjectId]) -> set:
    """Which of these tombstoned ids are todos still: a deletion that crashed or lost a race
    after its tombstone was written (mongo_todos.todos.sequence); their tombstones mean nothing."""
    if not ids:
        return set()
    return {doc["_id"] for doc in store.collection().find(
        {"owner": owner, "_id": {"$in": ids}}, {"_id": 1})}


def changes(owner: ObjectId, token: str | None, limit: int, base: str) -> ChangesPage:
    """The page of ``owner``'s changes after ``token`` (None: a full sync, every todo)."""
    now = dates.utcnow()
    full = token is None
    # a full sync starts below 0: todos stored before the feed existed carry 0 (``db init``)
    start = Position(-1, None, _seconds(now)) if full else read_token(token, owner, now)
    safe = sequence.safe_point(owner, now)
    if not full and start.after is None and safe <= start.seq:
        # nothing finished since: the counter document was the whole cost of this poll
        return ChangesPage([], make_token(owner, Position(start.seq, None, _seconds(now))),
                           False)
    found = _range(store.collection(), owner, start, safe, limit + 1, store.PROJECTION)
    if not full:  # a client with nothing needs no deletions
        found += [{**doc, "deleted": True} for doc in _range(
            sequence.tombstones(), owner, start, safe, limit + 1, _TOMBSTONE_FIELDS)]
    # read after the ranges (see trim); a token inside a batch still needs the rest of its
    # number, which a trim up to that very number forgot
    forgotten = -1 if full else sequence.forgotten(owner)
    if start.seq < forgotten or (start.seq == forgotten and start.after is not None):
        _expired("This account deleted more than SYNC_TOMBSTONES_PER_USER todos since this "
                 "token: the oldest deletions are forgotten. Sync again from the start, "
                 "without since.")
    found.sort(key=lambda doc: (doc["seq"], doc["_id"]))
    has_more = len(found) > limit
    found = found[:limit]
    if has_more:
        last = found[-1]
        position = Position(last["seq"], last["_id"], start.born)
    elif safe >= start.seq:
        position = Position(safe, None, _seconds(now))
    else:  # a reader whose clock runs behind another's: stay where the client is
        position = start
    live = _live_ids(owner, [doc["_id"] for doc in found if doc.get("deleted")])
    items = [_change(doc, base) for doc in found if doc["_id"] not in live]
    return ChangesPage(items, make_token(owner, position), has_more)


def _change(doc: dict, base: str) -> dict:
    if doc.get("deleted"):
        todo_id = str(doc["_id"])
        return {"id": todo_id, "url": base + todo_id, "deleted": True,
                "deleted_at": isoformat(doc["deleted_at"])}
    return {**store.to_json(doc, base), "deleted": False}
