"""The embedded store's TTL expiry: the documents due to expire, in order of their time.

mongomock expires documents under a TTL index by looking at every stored document on every
access of the collection (a lookup by ``_id``, an insert's duplicate check, a count): the
revocation check every authenticated request makes reads ``revoked_families`` so, and each
tombstone a deletion writes scans all the others, so a request costs what those collections
hold. :class:`Expiries` keeps, per TTL index, the documents whose TTL value is a point in time,
sorted by it: an access reads only the documents that have expired, and stops at the first
that has not.

Why shaped so: a document's point in time is what mongomock's own ``_get_min_datetime_from_value``
makes of its value (an array's earliest date), and whether it has passed is decided by
mongomock's own ``_value_meets_expiry`` on it, so the answer is mongomock's; the time only
grows with that point, so the walk may stop at the first document still alive. A value that
can never expire under mongomock's arithmetic (a string, a number, a time zone aware date: its
subtraction fails) is not filed; a value of any other type, a document ``_id``, or an index
mongomock would treat oddly (a non-integer expiry) sends the store back to mongomock's own
scan, as does a state that no longer adds up. Kept up to date, as the ordered indexes are, by
the collection store's writes and the re-filing after an in-place update
(mongo_todos.store.embedded_sorted calls in here); expired documents are then deleted in store
order, as mongomock deletes them.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import mongomock
from bson import ObjectId
from mongomock import helpers
from mongomock.store import _get_min_datetime_from_value
from sortedcontainers import SortedList

#: The attribute holding a collection store's :class:`Expiries`.
EXPIRIES = "_mongo_todos_expiries"
#: Values whose subtraction from a naive datetime fails: mongomock never expires them.
_NEVER = frozenset((str, int, float, bool, type(None), ObjectId, bytes, dict))
#: Elements of an array mongomock's earliest-date reduction skips or takes (comparisons with a
#: naive datetime fail, or it is one).
_ELEMENTS = _NEVER | {datetime, list}


class Strange(Exception):
    """A value or an index that mongomock's scan handles in a way this module does not."""


def _due(value):
    """The naive datetime at which mongomock would count ``value`` from, or None if never."""
    if type(value) is list:
        if any(type(element) not in _ELEMENTS for element in value):
            raise Strange
        value = _get_min_datetime_from_value(value)
    elif not value:
        return None  # mongomock: datetime.max, which no TTL reaches
    if type(value) is datetime:
        return None if value.tzinfo is not None else value
    if type(value) in _NEVER:
        return None
    raise Strange


#: The attribute holding a store's :func:`_signature`, with the dict it was read from
#: (mongo_todos.store.embedded_sorted.OrderedStore forgets it when an index comes or goes).
SIGNATURE = "_mongo_todos_ttl_signature"


def remembered(store, attribute: str, source: dict, read):
    """``read(store)``, remembered in the store's ``attribute`` while ``source`` (the dict of
    indexes it reads) is the same object; the store forgets it when an index comes or goes."""
    cached = store.__dict__.get(attribute)
    if cached is not None and cached[0] is source:
        return cached[1]
    value = read(store)
    store.__dict__[attribute] = (source, value)
    return value


def _signature(store) -> tuple:
    """The TTL indexes as mongomock's scan reads them: (field, seconds) each, in order."""
    return remembered(store, SIGNATURE, store._ttl_indexes, _read_signature)


def _read_signature(store) -> tuple:
    indexes = []
    for index in store._ttl_indexes.values():
        seconds, keys = index.get("expireAfterSeconds"), index.get("key")
        if type(seconds) is not int or seconds < 0 or not keys:
            raise Strange  # (a negative expiry would expire datetime.max, "never")
        if len(keys) == 1:  # mongomock ignores compound TTL indexes
            indexes.append((keys[0][0], seconds))
    return tuple(indexes)


class Expiries:
    """The documents of one collection store due to expire, per TTL index, by time."""

    def __init__(self, store):
        self.documents_dict = store._documents
        self.signature = _signature(store)
        self.queues = [SortedList() for _ in self.signature]
        self.filed: dict = {}  # store key -> its entries (one per TTL index, or None)
        self.counter = itertools.count()
        for key, document in store._documents.items():
            self.put(key, document)

    def valid_for(self, store) -> bool:
        return (store._documents is self.documents_dict
                and len(self.filed) == len(store._documents)
                and self.signature == _signature(store))

    def put(self, key, document: dict) -> None:
        """File the document now stored under ``key`` (new, or changed in place)."""
        self.remove(key)
        if isinstance(key, helpers.hashdict):
            raise Strange  # mongomock deletes by the raw _id, which fails for a document
        entries = []
        for (field, _), queue in zip(self.signature, self.queues, strict=True):
            due = _due(document.get(field))
            entry = None if due is None else (due, next(self.counter), key)
            if entry is not None:
                queue.add(entry)
            entries.append(entry)
        self.filed[key] = entries

    def remove(self, key) -> None:
        for entry, queue in zip(self.filed.pop(key, ()), self.queues, strict=False):
            if entry is not None:
                queue.remove(entry)

    def expired(self, store) -> list:
        """The keys of the documents whose time has come, in store order."""
        now = mongomock.utcnow()
        keys = set()
        for (_, seconds), queue in zip(self.signature, self.queues, strict=True):
            if not queue or not store._value_meets_expiry(queue[0][0], seconds, now):
                continue  # nothing due (the usual case): no walk
            for due, _, key in queue:
                if not store._value_meets_expiry(due, seconds, now):
                    break
                keys.add(key)
        if len(keys) < 2:
            return list(keys)
        return [key for key in store._documents if key in keys]


def _current(store) -> Expiries:
    state = store.__dict__.get(EXPIRIES)
    if state is None or not state.valid_for(store):
        state = Expiries(store)
        setattr(store, EXPIRIES, state)
    return state


def expire(store) -> bool:
    """Delete ``store``'s expired documents as mongomock's scan would; False when this
    module cannot tell them (the caller then runs mongomock's scan)."""
    if not store._ttl_indexes:
        return True
    try:
        keys = _current(store).expired(store)
    except Strange:
        store.__dict__.pop(EXPIRIES, None)
        return False
    for key in keys:
        del store[key]  # through the store: every index hears of it, this one included
    return True


def filed(store, key, document: dict) -> None:
    """Tell the store's expiries that ``document`` is now stored under ``key``."""
    state = store.__dict__.get(EXPIRIES)
    if state is not None:
        try:
            state.put(key, document)
        except Strange:
            store.__dict__.pop(EXPIRIES, None)


def unfiled(store, key) -> None:
    """Tell the store's expiries that ``key`` is no longer stored."""
    state = store.__dict__.get(EXPIRIES)
    if state is not None:
        state.remove(key)
