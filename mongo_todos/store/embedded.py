"""The embedded store: mongomock, doing only the work a query needs.

mongomock answers every query by looking at every stored document: ``find`` evaluates its
filter on all of them (a lookup by ``_id`` included), and ``aggregate`` deep-copies the whole
collection before its first stage runs. A request then costs what the whole store holds,
other users' todos included. This module wraps the mongomock client the app uses without a
``MONGODB_URI`` so that, as MongoDB's own planner and optimiser do:

- a filter that pins ``_id`` to one value reads that one document;
- a filter that pins a top-level field to a string or ObjectId (``{"owner": id}``, also inside
  a top-level ``$and``, or with ``$eq`` / ``$in``) reads only the documents holding that value,
  through an equality index built on first use, kept through inserts and dropped by any
  other write;
- a pipeline's leading ``$match`` stages, ``$sort`` and ``$skip``/``$limit`` run as one query
  over the stored documents, and only the documents it returns are copied; the remaining
  stages (``$project`` and anything after) run in mongomock on those copies;
- a ``$sort`` on keys whose values are all of one plain type (dates, strings, ObjectIds,
  numbers) compares them with Python's own ``<``, which is where mongomock's BSON comparison
  ends for such values, instead of wrapping every value in a Python-level comparator; with a
  ``$limit`` after it, the sorted candidates go through the filter only until the page is full
  (sorting is stable and filtering keeps order, so the page is the same), as MongoDB walks an
  index range: a deep page reads its own depth, not the owner's whole list.

Nothing here decides whether a document matches: the candidates an index yields are still
checked with mongomock's own filter, in store order, and sorted by mongomock's own passes, so
results are mongomock's exactly (tests/test_embedded.py checks that with generated
documents, writes, filters, sorts and pipelines). One difference is deliberate: a filter that
mongomock would reject only on some document (an operator it cannot apply to a value there)
may go unnoticed when no such document is read, as MongoDB itself does not look at documents
its index excludes. ``hint`` is accepted and ignored, as mongomock ignores it on ``aggregate``.

Only private mongomock methods are overridden, plus ``aggregate`` and ``find``. A test that
counts round trips or simulates an outage patches :class:`EmbeddedCollection` (the class the
app's collections are), so it sees every call and the app keeps its fast path meanwhile.

The indexes assume every write goes through this module's collections (they do: the client
hands out no other) and that the app serialises requests (it does, on the embedded store).
"""

from __future__ import annotations

import heapq
from contextlib import contextmanager
from datetime import datetime

import mongomock
from bson import ObjectId
from mongomock import aggregate as mm_aggregate
from mongomock import filtering, helpers
from mongomock.collection import Collection, _copy_field

__all__ = ["EmbeddedClient"]

#: Value types an equality index holds; other values never equal these in a filter.
_INDEXABLE = (str, ObjectId)
#: The attribute that holds a collection store's equality indexes.
_STATE = "_mongo_todos_indexes"
#: The attribute that counts the writes under way on a collection store.
_WRITING = "_mongo_todos_writing"
_MISSING = object()


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
        if not isinstance(key, str) or key.startswith("$") or "." in key:
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


class _Index:
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


class _Indexes:
    """The equality indexes of one collection store: kept up to date through an insert,
    dropped by any other write."""

    def __init__(self, store):
        self.documents_dict = store._documents
        self.size = len(store._documents)
        self.documents = list(store._documents.values())
        self.by_field: dict[str, _Index] = {}

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

    def index(self, field: str) -> _Index:
        index = self.by_field.get(field)
        if index is None:
            index = self.by_field[field] = _Index(self.documents, field)
        return index


def _candidates(store, spec) -> tuple[list | None, bool]:
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
    if store.__dict__.get(_WRITING):
        # an update changes documents in place and then checks unique indexes with a query:
        # an index built before it would not know the new values
        return None, False
    state = store.__dict__.get(_STATE)
    if state is None or not state.valid_for(store):
        state = _Indexes(store)
        setattr(store, _STATE, state)
    field, positions = min(
        ((field, state.index(field).positions(values)) for field, values in pinned.items()),
        key=lambda pair: len(pair[1]))
    # {field: value} alone, and no document holds a value the index cannot vouch for: every
    # document in the value's bucket holds that value (or an array containing it), a match
    exact = (len(spec) == 1 and field in spec and not state.index(field).others
             and (not isinstance(spec[field], dict) or len(spec[field]) == 1))
    return [state.documents[p] for p in positions], exact


@contextmanager
def _writing(store):
    store.__dict__.pop(_STATE, None)
    setattr(store, _WRITING, store.__dict__.get(_WRITING, 0) + 1)
    try:
        yield
    finally:
        setattr(store, _WRITING, store.__dict__[_WRITING] - 1)
        store.__dict__.pop(_STATE, None)


def _split(pipeline) -> tuple[list, dict | None, list, list]:
    """(leading $match filters, $sort, $skip/$limit stages, the rest) of a pipeline."""
    matches, sort, window = [], None, []
    i = 0
    stages = list(pipeline)

    def op(stage):
        return next(iter(stage)) if isinstance(stage, dict) and len(stage) == 1 else None

    while i < len(stages) and op(stages[i]) == "$match" and isinstance(stages[i]["$match"], dict):
        matches.append(stages[i]["$match"])
        i += 1
    if i < len(stages) and op(stages[i]) == "$sort" and isinstance(stages[i]["$sort"], dict):
        sort = stages[i]["$sort"]
        i += 1
    while i < len(stages) and op(stages[i]) in ("$skip", "$limit"):
        window.append(stages[i])
        i += 1
    return matches, sort, window, stages[i:]


#: Value types whose order under mongomock's BSON comparison is Python's own ``<``: for two
#: values of one of these groups, ``bson_compare`` ends in ``operator.lt(a, b)``.
_NATIVE_GROUPS = ({int, float}, {str}, {ObjectId}, {datetime}, {bool})


def _native_column(documents: list, field) -> list | None:
    """The values of ``field`` to sort ``documents`` by natively, or None when mongomock's
    own comparison must decide (a missing field, null, arrays, mixed types, dotted paths)."""
    if not isinstance(field, str) or "." in field or field.startswith("$"):
        return None
    values = [document.get(field, _MISSING) for document in documents]
    types = set(map(type, values))
    if not any(types <= group for group in _NATIVE_GROUPS):
        return None
    return values


def _native_order(documents: list, sort: dict) -> list[int] | None:
    """The positions of ``documents`` in mongomock's $sort order, computed with Python's own
    comparison, or None when mongomock's BSON comparison must decide.

    mongomock sorts once per key, last key first, each pass stable, comparing BSON-wrapped
    values in Python; on values of one plain type (the app's sort keys: dates, strings,
    ObjectIds) this runs the same passes on the bare values, in C."""
    columns = []
    for field, direction in sort.items():
        column = _native_column(documents, field)
        if column is None or not isinstance(direction, (int, float)):
            return None
        columns.append((column, direction))
    order = list(range(len(documents)))
    for column, direction in reversed(columns):
        order.sort(key=column.__getitem__, reverse=direction < 0)
    return order


def _window_end(window: list) -> int | None:
    """How many sorted documents a run of $skip/$limit stages can reach (None: all)."""
    start, end = 0, None
    for stage in window:
        (operator, value), = stage.items()
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return None  # let mongomock judge it
        if operator == "$skip":
            start = start + value if end is None else min(start + value, end)
        else:
            end = start + value if end is None else min(end, start + value)
    return end


class EmbeddedCollection(Collection):
    """A mongomock collection that reads only the documents a query needs (module docstring)."""

    def _iter_documents(self, filter):
        candidates, exact = _candidates(self._store, filter)
        if candidates is None:
            return super()._iter_documents(filter)
        if exact:
            return iter(candidates)
        if not candidates:
            filtering.filter_applies(filter, {})  # still reject an invalid filter
        return (document for document in candidates if filtering.filter_applies(filter, document))

    # during a write only _id lookups skip the scan; after it the equality indexes are
    # dropped, and rebuilt by the next read that needs one
    def _insert(self, data, *args, **kwargs):
        store = self._store
        state = store.__dict__.get(_STATE)
        with _writing(store):
            inserted = super()._insert(data, *args, **kwargs)
        # one document appended: keep the indexes (a create then a list, or the quota's count
        # before each create, would otherwise rebuild them every time)
        if state is not None and isinstance(data, dict) and state.appended(store, inserted):
            setattr(store, _STATE, state)
        return inserted

    def _update(self, *args, **kwargs):
        with _writing(self._store):
            return super()._update(*args, **kwargs)

    def _delete(self, *args, **kwargs):
        with _writing(self._store):
            return super()._delete(*args, **kwargs)

    def find(self, *args, hint=None, **kwargs):
        """mongomock's find, accepting (and ignoring) an index ``hint``."""
        return super().find(*args, **kwargs)

    def aggregate(self, pipeline, session=None, **kwargs):
        """mongomock's aggregate, running the leading $match/$sort/$skip/$limit as one query
        that copies only the documents it returns."""
        matches, sort, window, rest = _split(pipeline)
        if session or not (matches or sort or window):
            return super().aggregate(pipeline, session=session, **kwargs)
        specs = [helpers.patch_datetime_awareness_in_document(m) for m in matches]
        candidates, exact = None, not specs
        if specs:
            candidates, exact = _candidates(self._store, specs[0] if len(specs) == 1
                                            else {"$and": specs})
            if candidates == []:
                for one in specs:
                    filtering.filter_applies(one, {})  # still reject an invalid filter
        if candidates is None:
            candidates = list(self._store.documents)
        order = None if sort is None else _native_order(candidates, sort)
        end = _window_end(window)
        if order is not None and end is not None and not exact:
            # sorting then filtering keeps the same documents in the same order (the sort is
            # stable, the filter keeps order): walk the sorted candidates and stop once the
            # window is full, as MongoDB walks an index range (a deep page reads its own depth)
            selected = []
            for position in order:
                if len(selected) >= end:
                    break
                document = candidates[position]
                if all(filtering.filter_applies(one, document) for one in specs):
                    selected.append(document)
        else:
            selected = candidates
            if not exact:
                for one in specs:  # stage by stage, as mongomock's $match runs them
                    selected = [doc for doc in selected if filtering.filter_applies(one, doc)]
                order = None if sort is None else _native_order(selected, sort)
            if order is not None:
                selected = [selected[i] for i in order]
            elif sort is not None:
                selected = mm_aggregate._handle_sort_stage(selected, self.database, sort)
        for stage in window:
            (operator, value), = stage.items()
            selected = mm_aggregate._PIPELINE_HANDLERS[operator](selected, self.database, value)
        copies = [_copy_field(doc, dict) for doc in selected]
        if self.codec_options.tz_aware:
            copies = [helpers.make_datetime_timezone_aware_in_document(c) for c in copies]
        return mm_aggregate.process_pipeline(copies, self.database, rest, session)

    def with_options(self, *args, **kwargs):
        collection = super().with_options(*args, **kwargs)
        if type(collection) is Collection:
            collection.__class__ = EmbeddedCollection
        return collection


class EmbeddedDatabase(mongomock.database.Database):
    """A mongomock database whose collections are :class:`EmbeddedCollection`."""

    def get_collection(self, *args, **kwargs):
        collection = super().get_collection(*args, **kwargs)
        if type(collection) is Collection:
            collection.__class__ = EmbeddedCollection
        return collection


class EmbeddedClient(mongomock.MongoClient):
    """The embedded store's client: a mongomock client whose databases and collections do
    only the work each query needs (module docstring)."""

    def get_database(self, *args, **kwargs):
        database = super().get_database(*args, **kwargs)
        if type(database) is mongomock.database.Database:
            database.__class__ = EmbeddedDatabase
        return database
