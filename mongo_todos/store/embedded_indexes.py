"""The embedded store's equality indexes: which stored documents a filter can match.

:func:`candidates_for` reads the top-level fields a filter pins to one or a few strings/ObjectIds
and answers from an :class:`Index` per field (positions in store order, built on first use),
or from the store's own ``_id`` lookup. :class:`Indexes` holds one collection store's
indexes, kept through an insert and dropped by any other write (:func:`writing`). They live
apart from the collection class (mongo_todos.store.embedded) because they only decide which
documents to read, never whether one matches: that stays mongomock's filter, run by the
collection on the candidates.
"""

from __future__ import annotations

import heapq
from contextlib import contextmanager

from bson import ObjectId

#: Value types an equality index holds; other values never equal these in a filter.
_INDEXABLE = (str, ObjectId)
#: The attribute that holds a collection store's equality indexes.
STATE = "_mongo_todos_indexes"
#: The attribute that counts the writes under way on a collection store.
WRITING = "_mongo_todos_writing"


def _indexable(value) -> bool:
    return isinstance(value, _INDEXABLE)


def _pinned(spec) -> dict[str, list]:
    """Top-level fields ``spec`` requires to equal one of a few strings/ObjectIds."""
    pinned: dict[str, list] = {}
    if not isinstance(spec, dict):
        return pinned
    for key, value in spec.items():
        if key == "$and" and isinstance(value, list):
            for clause in value:
                for field, values in _pinned(clause).items():
                    # both constraints hold: either value set is a valid superset
                    pinned.setdefault(field, values)
            continue
        # (an empty name is mongomock's whole document, never a string or an ObjectId)
        if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
            continue
        if isinstance(value, dict):
            if "$eq" in value and _indexable(value["$eq"]):
                pinned[key] = [value["$eq"]]
            elif (isinstance(value.get("$in"), list) and value["$in"]
                  and all(_indexable(v) for v in value["$in"])):
                pinned[key] = list(value["$in"])
        elif _indexable(value):
            pinned[key] = [value]
    return pinned


class Index:
    """Positions of the documents holding each string/ObjectId value of one field, in store
    order; ``others`` are documents whose value might still match (lists of other things)."""

    __slots__ = ("field", "buckets", "others")

    def __init__(self, documents: list, field: str):
        self.field = field
        self.buckets: dict = {}
        self.others: list[int] = []
        for position, document in enumerate(documents):
            self.add(position, document)

    def add(self, position: int, document: dict) -> None:
        """File the document at ``position``, past every position already filed."""
        if self.field not in document:
            return  # a missing field equals no string or ObjectId
        value = document[self.field]
        if _indexable(value):
            self.buckets.setdefault(value, []).append(position)
        elif isinstance(value, list) and all(_indexable(v) for v in value):
            # a filter value equal to any element matches the document
            for element in dict.fromkeys(value):
                self.buckets.setdefault(element, []).append(position)
        elif isinstance(value, (list, dict)) or value is None or not isinstance(
                value, (bool, int, float)):
            self.others.append(position)
        # numbers and booleans never equal a string or an ObjectId

    def positions(self, values: list) -> list[int]:
        runs = [self.buckets.get(v, ()) for v in dict.fromkeys(values)]
        runs.append(self.others)
        runs = [run for run in runs if run]
        if len(runs) == 1:
            return list(runs[0])
        merged = []
        for position in heapq.merge(*runs):
            if not merged or merged[-1] != position:
                merged.append(position)
        return merged


class Indexes:
    """The equality indexes of one collection store: kept up to date through an insert,
    dropped by any other write."""

    def __init__(self, store):
        self.documents_dict = store._documents
        self.size = len(store._documents)
        self.documents = list(store._documents.values())
        self.by_field: dict[str, Index] = {}

    def valid_for(self, store) -> bool:
        return store._documents is self.documents_dict and len(store._documents) == self.size

    def appended(self, store, key) -> bool:
        """Take in the document just inserted under ``key``, if it is the store's last and the
        only change since these indexes were built (an insert appends to the store's order)."""
        documents = store._documents
        if (documents is not self.documents_dict or len(documents) != self.size + 1
                or isinstance(key, dict) or next(reversed(documents)) != key):
            return False
        document = documents[key]
        position = len(self.documents)
        self.documents.append(document)
        self.size += 1
        for index in self.by_field.values():
            index.add(position, document)
        return True

    def index(self, field: str) -> Index:
        index = self.by_field.get(field)
        if index is None:
            index = self.by_field[field] = Index(self.documents, field)
        return index


def candidates_for(store, spec) -> tuple[list | None, bool]:
    """The stored documents that may match ``spec``, in store order (None for all of them),
    and whether they all do (``spec`` is one equality the index answers exactly)."""
    pinned = _pinned(spec)
    if not pinned:
        return None, False
    store._remove_expired_documents()  # what reading store.documents would do (TTL)
    ids = pinned.get("_id")
    if ids is not None and len(ids) == 1:
        document = store._documents.get(ids[0])
        return ([] if document is None else [document]), False
    if store.__dict__.get(WRITING):
        # an update changes documents in place and then checks unique indexes with a query:
        # an index built before it would not know the new values
        return None, False
    state = store.__dict__.get(STATE)
    if state is None or not state.valid_for(store):
        state = Indexes(store)
        setattr(store, STATE, state)
    field, positions = min(
        ((field, state.index(field).positions(values)) for field, values in pinned.items()),
        key=lambda pair: len(pair[1]))
    # {field: value} alone, and no document holds a value the index cannot vouch for: every
    # document in the value's bucket holds that value (or an array containing it), a match
    exact = (len(spec) == 1 and field in spec and not state.index(field).others
             and (not isinstance(spec[field], dict) or len(spec[field]) == 1))
    return [state.documents[p] for p in positions], exact


@contextmanager
def writing(store):
    store.__dict__.pop(STATE, None)
    setattr(store, WRITING, store.__dict__.get(WRITING, 0) + 1)
    try:
        yield
    finally:
        setattr(store, WRITING, store.__dict__[WRITING] - 1)
        store.__dict__.pop(STATE, None)


def kept_through_insert(store, state, data, inserted) -> None:
    """After an insert: keep the equality indexes built before it (``state``) when the
    document was appended to them (a create then a list, or the quota's count before each
    create, would otherwise rebuild them every time)."""
    if state is not None and isinstance(data, dict) and state.appended(store, inserted):
        setattr(store, STATE, state)
