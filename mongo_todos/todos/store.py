"""Todo storage: the one module that talks to the driver about todos.

It holds what a todo is on disk and how it is read and written: the projection a read
fetches, the insert defaults and derived sort keys (:func:`stored_fields`, also used by
``seed.py``), the API's output shape (:func:`to_json`), the ETag, the owner-scoped lookups,
the list's base ``$match``, and the atomic writes (create, replace/patch, delete) whose filter
carries the caller's version condition, so a precondition and its write cannot be separated by
another client's write. Adding a todo field means editing this module and ``schemas.py`` only.

**Writes bypass MongoEngine validation.** Every read and write goes through the raw collection
(``Todo._get_collection()``), not ``Todo`` documents: one raw insert measured 90-105 us on the
embedded store against 340-420 us for ``Todo(...).save()``, and a document would validate and
convert again what the edge has validated already. What guards the data instead: the marshmallow schemas (``schemas.py``) that
every request body passes before it gets here, the fixed shape built below (defaults, sort
keys, version), and the collection's indexes (declared on ``Todo`` in ``store/documents.py``).
A test pins a stored todo to the document, so the two cannot drift apart silently.
"""

from __future__ import annotations

import os
import re

from bson import ObjectId
from flask_smorest import abort
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from mongo_todos.dates import FAR_FUTURE, isoformat, utcnow
from mongo_todos.store.documents import Todo
from mongo_todos.store.embedded_lock import one_hold
from mongo_todos.todos import sequence
from mongo_todos.todos.pagination import Page, paginate
from mongo_todos.todos.quota import check_todo_quota
from mongo_todos.todos.search import fold, search_match

# validated with fullmatch, never match + "$" (which also matches before a final newline)
_ID = re.compile(r"[0-9a-fA-F]{24}")
NOT_FOUND = "No todo with this id."
DELETED = "This todo was deleted (by you, perhaps on another device)."
#: What a todo read fetches: the representation, the version (ETag) and the sort keys
#: (cursors); an inclusion list, so internal fields added later never leak.
PROJECTION = {
    key: 1
    for key in ("name", "task", "done", "due_at", "tags", "created_at", "updated_at",
                "version", "name_key", "due_sort", "seq")
}


def collection():
    return Todo._get_collection()


def etag(todo: dict) -> str:
    """The strong ETag of a todo's current version."""
    return f'"{todo["_id"]}.{todo["version"]}"'


def stored_fields(data: dict) -> dict:
    """Validated input as stored, with the sort keys it implies."""
    fields_ = dict(data)
    if "name" in data:
        fields_["name_key"] = fold(data["name"])
    if "task" in data:
        fields_["task_key"] = fold(data["task"])
    if "due_at" in data:
        fields_["due_sort"] = data["due_at"] or FAR_FUTURE
    return fields_


def to_json(todo: dict, base: str) -> dict:
    """A stored todo as the API shows it (:class:`~mongo_todos.todos.schemas.TodoSchema`
    documents this shape; a test pins the two to each other). Written out by hand: it runs for
    every todo of every response, and is several times faster than a schema dump."""
    todo_id = str(todo["_id"])
    return {
        "id": todo_id,
        "url": base + todo_id,
        "name": todo["name"],
        "task": todo.get("task", ""),
        "done": todo.get("done", False),
        "due_at": isoformat(todo.get("due_at")),
        "tags": todo.get("tags", []),
        "created_at": isoformat(todo["created_at"]),
        "updated_at": isoformat(todo["updated_at"]),
        "etag": etag(todo),
    }


# --- lookups --------------------------------------------------------------------------------

def owned_filter(owner: ObjectId, todo_id: str) -> dict:
    """The filter for ``owner``'s todo ``todo_id``; 404 for an id that cannot exist."""
    if not _ID.fullmatch(todo_id):
        abort(404, message=NOT_FOUND)
    return {"_id": ObjectId(todo_id), "owner": owner}


def find(query: dict) -> dict | None:
    """The todo matching ``query`` (an owner-scoped filter), projected for the API; or None."""
    return collection().find_one(query, PROJECTION)


def get(query: dict) -> dict:
    """The todo matching ``query``, or the 404/412 that explains why none does."""
    todo = find(query)
    if todo is None:
        missing_or_changed(query)
    return todo


def missing_or_changed(query: dict):
    """Abort after a conditional query matched nothing: 412 if the todo exists, else 404."""
    if "version" in query or "updated_at" in query:  # a precondition failed, or no todo
        exists = collection().find_one({"_id": query["_id"], "owner": query["owner"]}, {"_id": 1})
        if exists is not None:
            since = "that ETag" if "version" in query else "the If-Unmodified-Since date"
            abort(412, message=f"The todo has changed since {since}; fetch it again.")
    gone_or_missing(query)


def gone_or_missing(query: dict):
    """Abort for a todo that is not there: 410 if its owner deleted it (a tombstone), else 404
    (another account's deleted todo included: no leak)."""
    if sequence.deleted(query["owner"], query["_id"]):
        abort(410, message=DELETED, type="todo-deleted")
    abort(404, message=NOT_FOUND)


def page(owner: ObjectId, args: dict, carry: dict | None = None) -> Page:
    """The page of ``owner``'s todos the list's parsed query ``args`` ask for; its cursors
    carry ``carry`` (the query parameters as sent, see pagination.remembered)."""
    match, filters = _list_match(owner, args)
    return paginate(collection(), match, sort=args["sort"], limit=args["limit"],
                    cursor=args["cursor"], filters=filters, count=args["count"],
                    projection=PROJECTION, carry=carry)


def filter_match(owner: ObjectId, args: dict) -> dict:
    """The ``$match`` of ``owner``'s todos that the list's filters ``args`` select (jobs use it:
    an export or a bulk change selects exactly what the list would show)."""
    return _list_match(owner, args)[0]


def matching_ids(match: dict) -> list[ObjectId]:
    """The ids of the todos ``match`` selects, in ``_id`` order: a job's snapshot of its work,
    taken in one query, then handled by :func:`fetch` one batch per query. (Sorted here: ids
    are small, and the embedded store sorts them far faster in Python than as BSON.)"""
    return sorted(todo["_id"] for todo in collection().find(match, {"_id": 1}))


def fetch(match: dict, ids: list[ObjectId]) -> list[dict]:
    """The todos ``ids`` that still match ``match``, in ``_id`` order (one batch of a job).

    The ids alone lead, then the match: on the embedded store the first stage is read by id
    and the second runs on that batch only; MongoDB's optimiser merges the two ``$match``
    stages ahead of the sort, so the query carries the owner (targeted) and uses ``_id``."""
    pipeline = [{"$match": {"_id": {"$in": ids}}}, {"$sort": {"_id": 1}}, {"$match": match}]
    return list(collection().aggregate(pipeline))


def _list_match(owner: ObjectId, args: dict) -> tuple[dict, dict]:
    """The ``$match`` for the list, and the filter set its cursors are bound to."""
    match: dict = {"owner": owner}
    filters = {"owner": str(owner)}
    if "done" in args:
        match["done"] = filters["done"] = args["done"]
    if "tag" in args:
        match["tags"] = filters["tag"] = args["tag"]
    if "q" in args:
        match.update(search_match(args["q"]))
        filters["q"] = args["q"]
    due: dict = {}
    # due_sort, not due_at: it is always a date, so undated todos never meet a null comparison
    if "due_before" in args:
        due["$lt"] = filters["due_before"] = args["due_before"]
    if "due_after" in args:
        due["$gt"] = filters["due_after"] = args["due_after"]
        due.setdefault("$lt", FAR_FUTURE)
    if due:
        match["due_sort"] = due
    return match, filters


# --- writes ---------------------------------------------------------------------------------

def create(owner: ObjectId, data: dict, todo_id: ObjectId | None = None) -> dict:
    """Store a new todo (within ``owner``'s quota), with id ``todo_id`` or a fresh one; the
    stored document.

    Raises :class:`~pymongo.errors.DuplicateKeyError` if ``todo_id`` exists (an idempotent
    retry relies on it).
    """
    check_todo_quota(owner)
    if todo_id is not None:
        return _insert(new_document(owner, data, todo_id, utcnow()))
    try:
        return _insert(new_document(owner, data, ObjectId(), utcnow()))
    except DuplicateKeyError:
        # a server-made ObjectId is predictable (time, process, counter): another account may
        # have claimed it with PUT If-None-Match: *
        return _insert(new_document(owner, data, unguessable_id(), utcnow()))


def unguessable_id() -> ObjectId:
    """An ObjectId of this second with 8 random bytes after the time: no client can claim it
    ahead (PUT If-None-Match: *), as it can ``ObjectId()``'s next ones."""
    return ObjectId(ObjectId().binary[:4] + os.urandom(8))


def _insert(todo: dict) -> dict:
    with sequence.stamped(todo["owner"], deferred=True) as reservation:
        todo["seq"] = reservation.first
        collection().insert_one(todo)
    return todo


def create_at(owner: ObjectId, todo_id: str, data: dict) -> dict:
    """Create ``owner``'s todo at a client-made id (``PUT`` with ``If-None-Match: *``); 412 if
    the id is taken, in any account, or was lately deleted (the same answer: no leak)."""
    query = owned_filter(owner, todo_id)
    taken = "This id is taken (or was lately); create the todo with a new ObjectId."
    if sequence.tombstoned(query["_id"]):
        abort(412, message=taken)
    try:
        return create(owner, data, query["_id"])
    except DuplicateKeyError:
        abort(412, message=taken)


def new_document(owner: ObjectId, data: dict, todo_id: ObjectId, now) -> dict:
    """The stored form of a new todo made of validated input ``data``."""
    return {"_id": todo_id, "owner": owner, "task": "", "task_key": "", "done": False,
            "due_at": None, "due_sort": FAR_FUTURE, "tags": [], **stored_fields(data),
            "created_at": now, "updated_at": now, "version": 1}


# --- batch writes (background jobs: one driver call per batch, one feed reservation) --------

def create_many(owner: ObjectId, todos: list[dict]) -> int:
    """Insert :func:`new_document` todos of ``owner``; how many were new. An id already stored
    is skipped, not an error: a re-run job inserts the same ids again and must not create
    twice. The batch shares one changes-feed number (ties are ordered by id)."""
    if not todos:
        return 0
    with sequence.stamped(owner) as reservation:
        for todo in todos:
            todo["seq"] = reservation.first
        try:
            return len(collection().insert_many(todos, ordered=False).inserted_ids)
        except BulkWriteError as error:
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])) \
                    or error.details.get("writeConcernErrors"):
                raise
            return error.details["nInserted"]


def update_many(owner: ObjectId, changes: list[tuple[dict, dict]]) -> int:
    """Apply ``(todo, fields)`` pairs as PATCHes would (new version, ``updated_at``, a
    changes-feed number), each only if the todo is still at the version read; how many were
    changed."""
    if not changes:
        return 0
    now = utcnow()
    with sequence.stamped(owner) as reservation:
        writes = [UpdateOne({"_id": todo["_id"], "owner": owner, "version": todo["version"]},
                            {"$set": {**stored_fields(fields_), "updated_at": now,
                                      "seq": reservation.first},
                             "$inc": {"version": 1}})
                  for todo, fields_ in changes]
        return collection().bulk_write(writes, ordered=False).modified_count


def delete_many(owner: ObjectId, match: dict, ids: list[ObjectId]) -> int:
    """Delete the todos ``ids`` of ``owner`` that still match ``match``; how many. Tombstones
    first (the feed's order for a deletion), for the ids that match now: one that a concurrent
    write takes out of ``match`` meanwhile keeps a tombstone while it lives, which is harmless
    (readers drop tombstones of living todos)."""
    query = {**match, "owner": owner, "_id": {"$in": ids}}
    ids = [todo["_id"] for todo in collection().find(query, {"_id": 1})] if ids else []
    if not ids:
        return 0
    with sequence.stamped(owner) as reservation:
        sequence.tombstone_many(owner, ids, reservation.first)
        return collection().delete_many({**query, "_id": {"$in": ids}}).deleted_count


def update(query: dict, changes: dict) -> dict:
    """Apply ``changes`` (a replacement or a patch) atomically to the todo ``query`` matches,
    conditions included; the todo after, or the 404/412 that explains why none matched."""
    with sequence.stamped(query["owner"], deferred=True) as reservation:
        todo = collection().find_one_and_update(
            query,
            {"$set": {**stored_fields(changes), "updated_at": utcnow(), "seq": reservation.first},
             "$inc": {"version": 1}},
            projection=PROJECTION,
            return_document=ReturnDocument.AFTER,
        )
        if todo is None:
            missing_or_changed(query)
    return todo


def delete(query: dict) -> None:
    """Delete the todo ``query`` matches, conditions included, or abort with 404/410/412.

    On MongoDB the tombstone is written first, with the deletion's sequence number: a crash
    between the two leaves a tombstone of a living todo, which the feed ignores, never a
    deletion nobody hears of. The read before it keeps ids that never existed, or another
    account's, from getting one (tombstones are keyed by the todo's id alone).

    On the embedded store the deletion, its number and its tombstone run under the store's
    one lock (:func:`~mongo_todos.store.embedded_lock.one_hold`): no other request sees one
    without the others, and no crash separates them that the store outlives. So the todo goes
    first, and only a deletion that happened takes a number and writes a tombstone: no read
    first. A tombstone that fails puts the todo back (no one saw it gone: the lock is held)."""
    collection_ = collection()
    hold = one_hold(collection_)
    if hold is not None:
        with hold:
            deleted = collection_.find_one_and_delete(query)
            if deleted is not None:
                try:
                    with sequence.stamped(query["owner"], deferred=True) as reservation:
                        sequence.tombstone_many(query["owner"], [query["_id"]],
                                                reservation.first)
                except BaseException:  # no deletion without its tombstone: put it back
                    collection_.insert_one(deleted)
                    raise
        if deleted is None:
            missing_or_changed(query)
        return
    if collection_.find_one(query, {"_id": 1}) is None:
        missing_or_changed(query)
    with sequence.stamped(query["owner"], deferred=True) as reservation:
        sequence.tombstone_many(query["owner"], [query["_id"]], reservation.first)
        if not collection_.delete_one(query).deleted_count:
            missing_or_changed(query)
