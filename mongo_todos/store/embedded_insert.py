"""The embedded store's ``insert_one`` of a plain document, done directly, as mongomock would.

Every create, tombstone, session and idempotency record is one ``insert_one``; mongomock's
costs several times the storing: an isinstance cascade over every value to patch dates, and
its wrapper's checks. Here, for a plain ``dict`` on a collection without a unique index (whose
check mongomock makes after storing, rolling back on a clash), the same result is reached:

- the keys are checked first as mongomock checks them (strings, no NUL in any embedded
  document's keys, no top-level key led by ``$``); any doubt takes mongomock's own path, where
  the same error is raised;
- the document is still encoded by BSON, as mongomock does to validate it (a value MongoDB
  cannot store fails alike);
- a missing ``_id`` is filled in the caller's dict, a taken one is a ``DuplicateKeyError``
  (after TTL expiry, as mongomock's check runs it, which only a taken key needs), and the
  dates are patched by
  :func:`~mongo_todos.store.embedded_point._patched` (mongomock's patch without its cascade);
- the document is stored through the collection store, so the ordered and TTL indexes hear of
  it, and the equality indexes are kept through it as for mongomock's inserts
  (:func:`~mongo_todos.store.embedded_indexes.kept_through_insert`).

A flat document of plain values (what a tombstone, a session or a counter is: ObjectIds,
integers within BSON's 64 bits, short strings, naive datetimes, ...) takes one pass that does
all three (:func:`_flat_stored`): each value's type tells whether BSON can store it, and the
copy patches its dates on the way; anything else takes the checks above.

tests/store/test_embedded.py runs it against plain mongomock with odd documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bson import BSON, ObjectId
from mongomock import DuplicateKeyError
from mongomock.results import InsertOneResult

from mongo_todos.store.embedded_indexes import STATE, kept_through_insert, writing
from mongo_todos.store.embedded_point import SLOW, _patched
from mongo_todos.store.embedded_sorted import UNIQUE, store_key
from mongo_todos.store.embedded_ttl import remembered

#: Values BSON stores whatever they hold (ints, strings and datetimes are checked apart).
_PLAIN = frozenset((ObjectId, bool, float, type(None)))
#: Strings longer than this take BSON's own check (of the document's 16 MiB size among others).
_SHORT = 1 << 16


def _plain_keys(document: Mapping, top: bool = True) -> bool:
    """Every key a string without a NUL (in embedded documents too), no top-level key led by
    ``$``: what mongomock checks before BSON does."""
    for key, value in document.items():
        if type(key) is not str or "\0" in key or (top and key.startswith("$")):
            return False
        if isinstance(value, Mapping) and not _plain_keys(value, False):
            return False
    return True


def _flat_stored(document: dict) -> dict | None:
    """The copy mongomock would store of a flat ``document`` of plain values (its naive dates
    cut to milliseconds), once its keys and values are known to pass mongomock's and BSON's
    checks; None when any needs those checks (a nested value, a long or odd string, ...)."""
    stored = {}
    for key, value in document.items():
        if type(key) is not str or "\0" in key or key[:1] == "$" \
                or not (key.isascii() or _encodes(key)):  # BSON encodes keys too
            return None
        kind = type(value)
        if kind in _PLAIN:
            pass
        elif kind is int:
            if not -(1 << 63) <= value < 1 << 63:
                return None
        elif kind is str:
            if len(value) > _SHORT or not (value.isascii() or _encodes(value)):
                return None
        elif kind is datetime and value.tzinfo is None:
            if value.microsecond % 1000:
                value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        else:
            return None
        stored[key] = value
    return stored


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: BSON cannot store it
        return False
    return True


def _has_unique(store) -> bool:
    return any(index.get("unique") for index in store.indexes.values())


def insert_one(collection, document, session=None):
    """mongomock's ``insert_one(document)`` for a plain dict on a collection without a unique
    index, or :data:`~mongo_todos.store.embedded_point.SLOW` (module docstring)."""
    if session or type(document) is not dict:
        return SLOW
    store = collection._store
    # remembered until an index is created or dropped (embedded_sorted.OrderedStore)
    if remembered(store, UNIQUE, store.indexes, _has_unique):
        return SLOW
    data = _flat_stored(document)
    if data is None:
        if not _plain_keys(document):
            return SLOW
        BSON.encode(document, check_keys=False)
    if "_id" not in document:
        document["_id"] = ObjectId()
        if data is not None:
            data["_id"] = document["_id"]
    key = store_key(document["_id"])
    # mongomock's check expires documents first; only a taken key can be freed by that, and
    # the others expire at the next read, before anyone can see them
    if key in store._documents and key in store:
        raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
    if data is None:
        data = _patched(document)
    state = store.__dict__.get(STATE)
    with writing(store):
        store[key] = data
    kept_through_insert(store, state, data, data["_id"])
    return InsertOneResult(data["_id"], acknowledged=True)
