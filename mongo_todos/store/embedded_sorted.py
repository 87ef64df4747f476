"""The embedded store's ordered indexes: a sorted page is an index range, as on MongoDB.

For every declared compound index led by a field that partitions documents by equality
(``(owner, created_at, _id)``, ``(owner, seq)``, ...), :class:`OrderedIndexes` keeps per value of
that field a :class:`~sortedcontainers.SortedList` of ``(further fields..., store position, store
key)``. A pipeline pinning the first field and sorting by the others (all one way) walks that
list from the bound its ``$match`` implies: a page costs what it reads, at 100 todos or 10,000.

Why shaped so:

- Entries hold bare values compared by Python's ``<``, which is where mongomock's BSON order
  ends for values of one plain type (mongo_todos.store.embedded_pipeline). A partition where
  some document breaks that (a missing field, an array, a null, mixed types) is *irregular*
  and never used; the caller then takes mongomock's own path. So is an index where some
  document holds the first field as an array (it would match several partitions).
- The store position (an insertion counter: a write in place keeps a document's place in
  mongomock's order, an insert appends) breaks ties as mongomock's stable sorts do.
- Kept up to date on every write: the collection store's ``__setitem__``/``__delitem__``
  (inserts, upserts, rollbacks, deletes, TTL expiry) and ``drop`` call in here
  (:class:`OrderedStore`); an update changes documents in place, so the collection records
  the keys it touched and :func:`refresh` re-files them afterwards. A changed set of declared
  indexes, a replaced document dict or a count that does not add up rebuilds everything.
- Nothing here decides whether a document matches: the range (mongo_todos.store.embedded_ranges)
  only narrows the candidates (the filter implies every bound), and mongomock's filter still
  runs on each one walked.
"""

from __future__ import annotations

import itertools

from bson import ObjectId
from mongomock import helpers
from mongomock.store import CollectionStore
from sortedcontainers import SortedList

from mongo_todos.store import embedded_ttl as ttl
from mongo_todos.store.embedded_ranges import TOP, group, index_range, partition_value

#: The attribute holding a collection store's :class:`OrderedIndexes`.
ORDERED = "_mongo_todos_ordered"
#: The attribute holding the store keys an update under way has read (it may change them).
TOUCHED = "_mongo_todos_touched"
#: The attribute holding the key fields of the store's usable indexes (:func:`_signature`).
SIGNATURE = "_mongo_todos_signature"
#: The attribute holding whether the store has a unique index (mongo_todos.store.embedded_insert).
UNIQUE = "_mongo_todos_unique"


def store_key(document_id):
    """The key mongomock stores a document under."""
    return helpers.hashdict(document_id) if isinstance(document_id, dict) else document_id


class _Partition:
    __slots__ = ("entries", "groups", "irregular")

    def __init__(self):
        self.entries = SortedList()
        self.groups: list | None = None
        self.irregular: set = set()


class OrderedIndex:
    """One declared index: its partitions, and where each stored document is filed."""

    def __init__(self, fields: tuple):
        self.partition_field, self.fields = fields[0], fields[1:]
        self.partitions: dict = {}
        self.filed: dict = {}  # store key -> (partition value, entry or None if irregular)
        self.strays: set = set()  # store keys whose partition field is an array

    def add(self, key, document: dict, position: int) -> None:
        value = document.get(self.partition_field)
        if isinstance(value, list):
            self.strays.add(key)
            return
        if group(value) not in (str, ObjectId):
            return  # missing or another type: never equal to a pinned string/ObjectId
        partition = self.partitions.get(value) or self.partitions.setdefault(value, _Partition())
        values = tuple(document.get(field, TOP) for field in self.fields)
        groups = [group(v) for v in values]
        if partition.groups is None and None not in groups:
            partition.groups = groups
        if None in groups or groups != partition.groups:
            partition.irregular.add(key)
            self.filed[key] = (value, None)
            return
        entry = (*values, position, key)
        partition.entries.add(entry)
        self.filed[key] = (value, entry)

    def unchanged(self, key, document: dict) -> bool:
        """Whether ``document`` is filed under ``key`` with these very values (an update that
        leaves this index's fields alone); types too, as 1, 1.0 and True sort apart."""
        value, entry = self.filed.get(key, (None, None))
        if entry is None:
            return False
        now = (document.get(self.partition_field, TOP),
               *(document.get(field, TOP) for field in self.fields))
        return all(type(a) is type(b) and a == b for a, b in zip(now, (value, *entry), strict=False))

    def remove(self, key) -> None:
        self.strays.discard(key)
        value, entry = self.filed.pop(key, (None, None))
        partition = self.partitions.get(value)
        if partition is None:
            return
        if entry is None:
            partition.irregular.discard(key)
        else:
            partition.entries.remove(entry)
        if not partition.entries and not partition.irregular:
            del self.partitions[value]


def _usable_fields(spec: dict):
    """The key fields of a declared index this module can keep, or None."""
    keys = list(spec.get("key") or ())  # GridFS declares its keys as a dict's items()
    # (an empty field name: mongomock's filter reads the whole document for it)
    if len(keys) < 2 or any(not field or "." in field or field.startswith("$")
                            for field, _ in keys):
        return None
    if any(direction not in (1, -1) for _, direction in keys[1:]):
        return None
    return tuple(field for field, _ in keys)


def _signature(store) -> tuple:
    """The key fields of the store's usable indexes; remembered until an index is created or
    dropped (:class:`OrderedStore` forgets it) or mongomock replaces the whole dict
    (``drop_indexes``): every read of an ordered index asks."""
    return ttl.remembered(store, SIGNATURE, store.indexes, lambda store: tuple(
        filter(None, map(_usable_fields, store.indexes.values()))))


class OrderedIndexes:
    """The ordered indexes of one collection store."""

    def __init__(self, store):
        self.documents_dict = store._documents
        self.signature = _signature(store)
        self.indexes = [OrderedIndex(fields) for fields in dict.fromkeys(self.signature)]
        self.positions: dict = {}
        self.counter = itertools.count()
        for key, document in store._documents.items():
            self.put(key, document)

    def valid_for(self, store) -> bool:
        return (store._documents is self.documents_dict
                and len(self.positions) == len(store._documents)
                and self.signature == _signature(store))

    def put(self, key, document: dict) -> None:
        """File the document now stored under ``key`` (new, or changed in place)."""
        position = self.positions.get(key)
        if position is None:  # new here: filed nowhere yet
            position = self.positions[key] = next(self.counter)
            for index in self.indexes:
                index.add(key, document, position)
            return
        for index in self.indexes:
            if not index.unchanged(key, document):
                index.remove(key)
                index.add(key, document, position)

    def remove(self, key) -> None:
        if self.positions.pop(key, None) is not None:
            for index in self.indexes:
                index.remove(key)


class OrderedStore(CollectionStore):
    """A mongomock collection store that tells its ordered indexes and its TTL expiries
    (mongo_todos.store.embedded_ttl) about every write."""

    def __setitem__(self, key, val):
        super().__setitem__(key, val)
        state = self.__dict__.get(ORDERED)
        if state is not None:
            state.put(key, val)
        ttl.filed(self, key, val)

    def __delitem__(self, key):
        super().__delitem__(key)
        state = self.__dict__.get(ORDERED)
        if state is not None:
            state.remove(key)
        ttl.unfiled(self, key)

    def drop(self):
        self.__dict__.pop(ORDERED, None)
        self.__dict__.pop(ttl.EXPIRIES, None)
        self._forget_signatures()
        super().drop()

    def create_index(self, index_name, index_dict):
        super().create_index(index_name, index_dict)
        self._forget_signatures()

    def drop_index(self, index_name):
        # forgotten after: mongomock's drop_index first expires documents, which reads (and
        # remembers) the TTL indexes still holding the one it then deletes in place
        try:
            super().drop_index(index_name)
        finally:
            self._forget_signatures()

    def _forget_signatures(self):
        self.__dict__.pop(SIGNATURE, None)
        self.__dict__.pop(ttl.SIGNATURE, None)
        self.__dict__.pop(UNIQUE, None)

    def _remove_expired_documents(self):
        # an update under way (mongomock checks unique indexes mid-update) has changed these
        # in place: their expiry is what they hold now
        for key in self.__dict__.get(TOUCHED) or ():
            document = self._documents.get(key)
            if document is not None:
                ttl.filed(self, key, document)
        if not ttl.expire(self):
            super()._remove_expired_documents()


class _Unlocked:
    """Stands in for mongomock's per-store reader/writer lock. Every operation on the embedded
    store already holds the client's one lock (mongo_todos.store.embedded), which the indexes
    here rely on too, so the store's own lock only cost time: five lock operations in Python
    for every read or write of the store, twice per insert (a third of a tombstone's insert)."""

    def reader(self):
        return self

    writer = reader

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


UNLOCKED = _Unlocked()


def adopt(store) -> None:
    """Make a mongomock collection store report its writes here (idempotent)."""
    if type(store) is CollectionStore:
        store.__class__ = OrderedStore
        store._rwlock = UNLOCKED


def refresh(store, keys) -> None:
    """Re-file the documents an update may have changed in place (or removed)."""
    state = store.__dict__.get(ORDERED)
    for key in dict.fromkeys(keys):
        document = store._documents.get(key)
        if document is None:
            ttl.unfiled(store, key)
            if state is not None:
                state.remove(key)
        else:
            ttl.filed(store, key, document)
            if state is not None:
                state.put(key, document)


def _in_store_order(entries, width):
    """Descending entries with ties put back in store order (mongomock's sorts are stable)."""
    for _, run in itertools.groupby(entries, key=lambda entry: entry[:width]):
        yield from reversed(list(run))


def _current(store) -> OrderedIndexes:
    """The store's ordered indexes, up to date (built, or rebuilt, when they are not)."""
    store._remove_expired_documents()  # TTL: deletes through OrderedStore.__delitem__
    state = store.__dict__.get(ORDERED)
    if state is None or not state.valid_for(store):
        state = OrderedIndexes(store)
        setattr(store, ORDERED, state)
    return state


def ordered_walk(store, specs: list, sort: dict):
    """The store keys of the documents that may match ``specs``, in ``sort`` order (mongomock's
    ties included), from an ordered index; or None when none can serve this query."""
    if not all(type(direction) is int for direction in sort.values()):
        return None
    directions = set(sort.values())
    if len(directions) != 1 or not directions <= {1, -1}:
        return None
    state = _current(store)
    keys = tuple(sort)
    for index in state.indexes:
        if index.strays or keys not in (index.fields, (index.partition_field, *index.fields)):
            continue
        value = partition_value(specs, index.partition_field)
        if value is None:
            continue
        partition = index.partitions.get(value)
        if partition is None:
            return iter(())
        if partition.irregular:
            return None
        minimum, maximum = index_range(specs, index.fields, partition.groups)
        reverse = directions == {-1}
        entries = partition.entries.irange(minimum, maximum, reverse=reverse)
        if reverse and index.fields[-1] != "_id":
            entries = _in_store_order(entries, len(index.fields))
        return (entry[-1] for entry in entries)
    return None


def partition_size(store, spec) -> int | None:
    """How many documents match ``spec`` when it is one equality on an ordered index's
    partition field alone (the todo quota's count of an owner's todos); else None."""
    if not isinstance(spec, dict) or len(spec) != 1:
        return None
    (field, condition), = spec.items()
    value = partition_value([spec], field)
    if value is None or (isinstance(condition, dict) and list(condition) != ["$eq"]):
        return None
    for index in _current(store).indexes:
        if index.partition_field == field and not index.strays:
            partition = index.partitions.get(value)
            return 0 if partition is None else len(partition.entries) + len(partition.irregular)
    return None


def pinned_alone(specs: list, store) -> bool:
    """Whether ``specs`` is one equality on an ordered index's partition field alone (every
    document of that partition then matches)."""
    state = store.__dict__.get(ORDERED)
    if state is None or len(specs) != 1 or len(specs[0]) != 1:
        return False
    (field, condition), = specs[0].items()
    return partition_value(specs, field) is not None and (
        not isinstance(condition, dict) or list(condition) == ["$eq"]) and any(
        index.partition_field == field for index in state.indexes)
