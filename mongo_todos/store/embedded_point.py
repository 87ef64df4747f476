"""The embedded store's point operations: the one document a filter pins by ``_id``.

Every request reads or writes single documents by ``_id`` (a todo, the changes feed's counter,
a session), and mongomock's generic machinery costs far more than the work: a write patches the
whole filter and update for datetimes, deep-copies the document to learn whether it changed,
runs a ``find_one`` before and after, and filters through cursors. Here, for the subset the app
uses, the same result is reached directly:

- :func:`find_one`: a lookup by ``_id`` with no projection or one including top-level fields;
- :func:`find_one_and_update` and :func:`update_one`: ``$set``, ``$inc`` and ``$unset`` on
  top-level fields and dotted paths into embedded documents (the feed's counter sets and
  unsets ``leases.<tag>``), the other conditions of the filter checked with mongomock's own
  ``filter_applies`` on the one document, projection, ``return_document`` either way;
- :func:`delete_one`, and :func:`find_one_and_delete` without a projection or sort (the
  embedded store's DELETE, which may have to put the todo back: mongo_todos.todos.store).

(A plain document's ``insert_one`` is direct too: mongo_todos.store.embedded_insert.)

Why shaped so: every value is written by mongomock's own updaters (``_inc_updater``,
``_unset_updater``; ``$set`` by :func:`_set`, its ``_set_updater`` less a version parse), in
the update's order, so a value, a type error or a BSON error is mongomock's exactly (a failing
update leaves what mongomock's leaves: the fields before it written, nothing rolled back).
What cannot be told apart cheaply falls back, before anything is changed, to mongomock's own
path (the caller's ``super()``; :data:`SLOW` says so): an upsert that inserts, a path through
an array or a scalar, two paths of one update that overlap, a path into ``_id``, positional
or other operators, options (session, hint, ...), a tz-aware client, and any collection with a
unique index (mongomock's check of it needs a snapshot to roll back to). Whether a document
changed (``nModified``) is judged leaf by leaf as mongomock's whole-document ``!=`` judges it:
the paths do not overlap, so the document differs exactly where a leaf does.

A write keeps what mongomock's keeps in the wrapper (mongo_todos.store.embedded): the equality
indexes are dropped (:data:`~mongo_todos.store.embedded_indexes.STATE`), the ordered indexes
re-file the document (:func:`~mongo_todos.store.embedded_sorted.refresh`), TTL expiry runs
before each read of the store, as reading ``store.documents`` does, results are copies.
tests/store/test_embedded.py runs these paths against plain mongomock.
"""

from __future__ import annotations

import copy
from datetime import datetime

from bson import BSON, ObjectId
from mongomock import filtering, helpers
from mongomock.collection import (
    _inc_updater,
    _unset_updater,
    validate_ok_for_update,
)
from mongomock.results import DeleteResult, UpdateResult
from pymongo import ReturnDocument

from mongo_todos.store.embedded_copy import copy_value
from mongo_todos.store.embedded_indexes import STATE, writing
from mongo_todos.store.embedded_sorted import refresh

#: The answer of an operation outside the subset: run mongomock's own.
SLOW = object()

#: Options of find_one_and_delete that take mongomock's path when given.
_DELETE_OPTIONS = frozenset(("collation", "hint", "session"))


def _set(document: dict, field: str, value) -> None:
    """mongomock's ``_set_updater`` on an embedded document, for a field name :func:`_plan`
    has checked (no ``$``, no NUL): the same copy of a list, the same BSON check of the value,
    without the pymongo version it parses on every call."""
    if isinstance(value, (tuple, list)):
        value = copy.deepcopy(value)
    BSON.encode({field: value}, check_keys=False)
    document[field] = value


_UPDATERS = {"$set": _set, "$inc": _inc_updater, "$unset": _unset_updater}
#: Values :func:`_patched` returns as they are (mongomock's datetime patch leaves them alone).
_ATOMS = frozenset((str, int, float, bool, type(None), ObjectId, bytes))


def _patched(value):
    """``helpers.patch_datetime_awareness_in_document(value)``, without its isinstance
    cascade for the plain types a request writes."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {k: _patched(v) for k, v in value.items()}
    if kind is datetime and value.tzinfo is None:
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return helpers.patch_datetime_awareness_in_document(value)


def _pinned(collection, filter):
    """The ``_id`` a filter pins to one string/ObjectId, when results can be plain dicts."""
    if not isinstance(filter, dict) or type(filter.get("_id")) not in (str, ObjectId):
        return None
    options = collection.codec_options
    if options.tz_aware or options.document_class is not dict:
        return None
    return filter["_id"]


def plain_projection(projection) -> bool:
    """No projection, or one including top-level fields only."""
    if projection is None:
        return True
    if not isinstance(projection, dict) or not projection:
        return False
    for key, value in projection.items():  # (a loop: every point read asks)
        if not (value is True or (type(value) is int and value == 1)) \
                or not isinstance(key, str) or "." in key or key.startswith("$"):
            return False
    return True


def project(document: dict, projection) -> dict:
    """A copy of ``document`` as mongomock projects it: the included fields in stored order,
    then ``_id``."""
    if projection is None:
        return copy_value(document)
    found = {k: copy_value(v) for k, v in document.items()
             if k in projection and k != "_id"}
    if "_id" in document:
        found["_id"] = document["_id"]
    return found


def _equal_fields(spec: dict, document: dict) -> bool:
    """Whether ``document`` matches ``spec``'s other conditions by plain equality: each a
    string or ObjectId that the document's top-level field holds with the same type (as in
    ``{"_id": id, "owner": owner}``). False means "not decided here" (another condition, a
    missing field, an array, an empty field name, which mongomock's filter compares with the
    whole document), or a sure mismatch."""
    for field, condition in spec.items():
        if field == "_id":
            continue
        kind = type(condition)
        if (kind is not ObjectId and kind is not str) or type(field) is not str \
                or not field or field.startswith("$") \
                or "." in field or type(document.get(field)) is not kind \
                or document[field] != condition:
            return False
    return True


def _lookup(collection, spec: dict, key):
    """The stored document under ``key`` if it matches ``spec`` (TTL expiry first, an invalid
    filter rejected as mongomock's empty-candidates check does); else None."""
    store = collection._store
    store._remove_expired_documents()  # what reading store.documents would do (TTL)
    document = store._documents.get(key)
    if document is not None and type(document.get("_id")) is type(key) \
            and document["_id"] == key and _equal_fields(spec, document):
        return document  # the document stored under the _id holds it, and the other fields
    if document is None:
        filtering.filter_applies(spec, {})
        return None
    return document if filtering.filter_applies(spec, document) else None


def find_one(collection, filter, projection):
    """mongomock's ``find_one(filter, projection)`` for a lookup by ``_id``, or :data:`SLOW`."""
    key = _pinned(collection, filter)
    if key is None or not plain_projection(projection):
        return SLOW
    document = _lookup(collection, _patched(filter), key)
    return None if document is None else project(document, projection)


def _plan(update) -> list | None:
    """``(updater, path parts, value)`` in the order mongomock applies them, or None when the
    update is outside the subset (module docstring)."""
    if type(update) is not dict or not update or not update.keys() <= _UPDATERS.keys():
        return None
    plan, paths = [], set()
    for operator, fields in update.items():
        if type(fields) is not dict or not fields:
            return None
        for path, value in fields.items():
            if (type(path) is not str or "$" in path or "\0" in path or path in paths):
                return None
            parts = path.split(".")
            if parts[0] == "_id" or "" in parts:
                return None
            plan.append((_UPDATERS[operator], parts, _patched(value)))
            paths.add(path)
    # one path inside another: mongomock applies both in turn; leave that to it
    dotted = [parts for _, parts, _ in plan if len(parts) > 1]
    if dotted and any(".".join(parts[:i]) in paths
                      for parts in dotted for i in range(1, len(parts))):
        return None
    return plan


def _walkable(document: dict, plan: list) -> bool:
    """Every step of every path that exists is an embedded document (not an array or a
    scalar, which mongomock's updaters treat in ways of their own)."""
    for _, parts, _ in plan:
        here = document
        for part in parts[:-1]:
            if part not in here:
                break  # made as an embedded document ($set, $inc), or nothing to do ($unset)
            here = here[part]
            if type(here) is not dict:
                return False
    return True


def _apply(document: dict, plan: list) -> bool:
    """Apply ``plan`` in place, as mongomock's ``_update_document_single_field`` does;
    whether the document changed."""
    changed = False
    for updater, parts, value in plan:
        target = document
        for part in parts[:-1]:
            if updater is _unset_updater and part not in target:
                target = None  # no parent, no child to remove
                break
            target = target.setdefault(part, {})
        if target is None:
            continue
        leaf = parts[-1]
        had = leaf in target
        old = target.get(leaf)
        updater(target, leaf, value)
        if had != (leaf in target) or (had and not (old is target[leaf] or old == target[leaf])):
            changed = True
    return changed


def _writable(collection, update) -> list | None:
    """The plan of ``update`` when the collection lets it take the fast path."""
    if any(index.get("unique") for index in collection._store.indexes.values()):
        return None  # mongomock checks it against a snapshot it can roll back to
    return _plan(update)


def _write(collection, key, document: dict, plan: list) -> bool:
    store = collection._store
    try:
        return _apply(document, plan)
    finally:
        store.__dict__.pop(STATE, None)  # values changed in place: the positions are stale
        refresh(store, [key])


def _sortable(sort) -> bool:
    """A sort mongomock applies to one document without a word (no ``$`` keys)."""
    return sort is None or (type(sort) in (list, tuple) and all(
        type(pair) in (list, tuple) and len(pair) == 2 and type(pair[0]) is str
        and not pair[0].startswith("$") and type(pair[1]) is int for pair in sort))


def _target(collection, key, filter, update):
    """``(document, plan)`` for an update of the document stored under ``key``; None when no
    document matches ``filter``; :data:`SLOW` when the update or the document is outside the
    subset. (``filter`` is a dict: mongomock's check that it is a mapping passes.)"""
    validate_ok_for_update(update)
    plan = _writable(collection, update)
    if plan is None:
        return SLOW
    document = _lookup(collection, _patched(filter), key)
    if document is None:
        return None
    return (document, plan) if _walkable(document, plan) else SLOW


def find_one_and_update(collection, filter, update, projection=None, sort=None, upsert=False,
                        return_document=ReturnDocument.BEFORE, **kwargs):
    """mongomock's ``find_one_and_update`` for the subset (module docstring), or :data:`SLOW`.
    ``sort`` has nothing to order when ``_id`` is pinned."""
    key = _pinned(collection, filter)
    if kwargs or key is None or not plain_projection(projection) or not _sortable(sort):
        return SLOW
    target = _target(collection, key, filter, update)
    if target is None or target is SLOW:
        return SLOW if upsert or target is SLOW else None
    document, plan = target
    before = None if return_document is ReturnDocument.AFTER else project(document, projection)
    _write(collection, key, document, plan)
    if before is not None:
        return before
    store = collection._store
    store._remove_expired_documents()  # the update may have set an expiry already past
    document = store._documents.get(key)
    return None if document is None else project(document, projection)


def update_one(collection, filter, update, upsert=False, bypass_document_validation=False,
               collation=None, array_filters=None, hint=None, session=None, let=None):
    """mongomock's ``update_one`` for the subset, or :data:`SLOW` (any option given: the
    parameters are mongomock's, so a positional option reaches it as it would)."""
    key = _pinned(collection, filter)
    if key is None or bypass_document_validation or collation or array_filters or hint \
            or session or let:
        return SLOW
    target = _target(collection, key, filter, update)
    if target is None or target is SLOW:
        return SLOW if upsert or target is SLOW else _update_result(collection, 0, False)
    document, plan = target
    return _update_result(collection, 1, _write(collection, key, document, plan))


def _update_result(collection, matched: int, changed: bool) -> UpdateResult:
    return UpdateResult({"connectionId": collection.database.client._id, "err": None,
                         "n": matched, "nModified": int(changed), "ok": 1, "upserted": None,
                         "updatedExisting": bool(matched)}, acknowledged=True)


def delete_one(collection, filter, collation=None, hint=None, session=None):
    """mongomock's ``delete_one`` for a filter pinning ``_id``, or :data:`SLOW` (its
    parameters, as :func:`update_one`'s)."""
    key = _pinned(collection, filter)
    if key is None or collation or hint or session:
        return SLOW
    document = _take_out(collection, filter, key)
    return DeleteResult({"connectionId": collection.database.client._id,
                         "n": int(document is not None), "ok": 1.0, "err": None}, True)


def find_one_and_delete(collection, filter, projection=None, sort=None, **kwargs):
    """mongomock's ``find_one_and_delete(filter)`` for a filter pinning ``_id``, with no
    projection or sort, or :data:`SLOW`: a copy of the document deleted (plain dicts, as
    mongomock's), or None."""
    key = _pinned(collection, filter)
    if key is None or projection is not None or sort is not None \
            or not kwargs.keys() <= _DELETE_OPTIONS or any(kwargs.values()):
        return SLOW
    document = _take_out(collection, filter, key)
    return None if document is None else project(document, None)


def _take_out(collection, filter, key):
    """The stored document ``filter`` matches under ``key``, now deleted; or None."""
    document = _lookup(collection, _patched(filter), key)
    if document is not None:
        store = collection._store
        with writing(store):
            del store[key]
    return document
