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

- a pipeline that pins the leading field of a declared compound index (``owner``) and sorts by
  its other keys walks that index's range in order (mongo_todos.store.embedded_sorted: sorted
  per-owner lists kept up to date on every write), so a page at 10,000 of the owner's todos
  reads what a page at 100 does.

- a single-document write by ``_id`` (``find_one_and_update``, ``update_one`` with ``$set``,
  ``$inc``, ``$unset``; ``delete_one``) changes its one document directly, without mongomock's
  snapshot, before-and-after reads and generic filtering (mongo_todos.store.embedded_point,
  which also holds the ``_id`` lookup of ``find_one``; ``insert_one`` of a plain document:
  mongo_todos.store.embedded_insert); anything else takes mongomock's path.
- TTL expiry, which mongomock runs on every access by looking at every document, reads only
  the documents whose time has come (mongo_todos.store.embedded_ttl).

The equality indexes live in mongo_todos.store.embedded_indexes, the pipeline planning (the
split into leading stages, the native sort order, the window depth) in
mongo_todos.store.embedded_pipeline; this module holds the mongomock classes that use them.

Every operation on these collections holds the client's one :class:`FairLock` (a cursor's
results are materialised inside it), so each single operation is atomic, as on MongoDB, and a
request holds the store only while it talks to it (mongo_todos.store.embedded_lock). The
indexes assume every write goes through this module's collections (they do: the client hands
out no other) and rely on that lock.
"""

from __future__ import annotations

import mongomock
from mongomock import aggregate as mm_aggregate
from mongomock import filtering, helpers
from mongomock.collection import Collection
from pymongo import UpdateOne
from pymongo.results import BulkWriteResult

from mongo_todos.store import embedded_point as point
from mongo_todos.store.embedded_copy import copy_value, plain_inclusion, project_copy
from mongo_todos.store.embedded_indexes import STATE, candidates_for, kept_through_insert, writing
from mongo_todos.store.embedded_insert import insert_one as direct_insert
from mongo_todos.store.embedded_lock import FairLock
from mongo_todos.store.embedded_pipeline import native_order, split_pipeline, window_end
from mongo_todos.store.embedded_sorted import (
    TOUCHED,
    adopt,
    ordered_walk,
    partition_size,
    pinned_alone,
    refresh,
    store_key,
)


def _direct(name):
    """mongomock's method ``name``, tried first as embedded_point's (looked up at each call)."""
    def method(self, *args, **kwargs):
        result = getattr(point, name)(self, *args, **kwargs)
        return getattr(Collection, name)(self, *args, **kwargs) if result is point.SLOW else result

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(Collection, name).__doc__
    return method


class EmbeddedCollection(Collection):
    """A mongomock collection that reads only the documents a query needs (module docstring)."""

    @property
    def _store(self):
        store = self._db_store[self._name]
        adopt(store)  # its writes then reach the ordered indexes (embedded_sorted)
        return store

    def _iter_documents(self, filter):
        documents = self._candidates(filter)
        touched = self._store.__dict__.get(TOUCHED)
        if touched is None:
            return documents
        return _recorded(documents, touched)

    def _candidates(self, filter):
        candidates, exact = candidates_for(self._store, filter)
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
        state = store.__dict__.get(STATE)
        with writing(store):
            inserted = super()._insert(data, *args, **kwargs)
        kept_through_insert(store, state, data, inserted)
        return inserted

    def insert_one(self, document, bypass_document_validation=False, session=None):
        """mongomock's insert_one; a plain document is stored directly (embedded_insert)."""
        result = direct_insert(self, document, session)
        if result is point.SLOW:
            return super().insert_one(document, bypass_document_validation, session)
        return result

    def _update(self, *args, **kwargs):
        # an update changes documents in place: the ordered indexes re-file what it read
        store = self._store
        outer = store.__dict__.get(TOUCHED)
        touched = store.__dict__[TOUCHED] = []
        try:
            with writing(store):
                return super()._update(*args, **kwargs)
        finally:
            store.__dict__[TOUCHED] = outer
            if outer is None:
                del store.__dict__[TOUCHED]
            else:
                outer.extend(touched)
            refresh(store, touched)

    def _delete(self, *args, **kwargs):
        with writing(self._store):
            return super()._delete(*args, **kwargs)

    def find_one(self, filter=None, *args, **kwargs):
        """mongomock's find_one; a lookup by ``_id`` with a plain projection (every point
        request's) reads its one document and copies the projected fields directly, without
        building a cursor (mongo_todos.store.embedded_point)."""
        projection = args[0] if len(args) == 1 and not kwargs else kwargs.get("projection")
        if len(args) + len(kwargs) <= 1 and (not kwargs or "projection" in kwargs):
            found = point.find_one(self, filter, projection)
            if found is not point.SLOW:
                return found
        return super().find_one(filter, *args, **kwargs)

    # single-document writes by _id: $set/$inc/$unset applied directly, deletes (embedded_point)
    find_one_and_update = _direct("find_one_and_update")
    update_one = _direct("update_one")
    delete_one = _direct("delete_one")
    find_one_and_delete = _direct("find_one_and_delete")

    def count_documents(self, filter, **kwargs):
        """mongomock's count_documents; an owner's count (the todo quota's, before every
        create) is the size of that owner's partition of an ordered index."""
        limit = kwargs.get("limit")
        if kwargs.keys() <= {"limit"} and (limit is None or (type(limit) is int and limit > 0)):
            size = partition_size(self._store, filter)
            if size is not None:
                return size if limit is None else min(size, limit)
        return super().count_documents(filter, **kwargs)

    def find(self, *args, hint=None, **kwargs):
        """mongomock's find, accepting (and ignoring) an index ``hint``."""
        return super().find(*args, **kwargs)

    def aggregate(self, pipeline, session=None, **kwargs):
        """mongomock's aggregate, running the leading $match/$sort/$skip/$limit as one query
        that copies only the documents it returns."""
        matches, sort, window, rest = split_pipeline(pipeline)
        if session or not (matches or sort or window):
            return super().aggregate(pipeline, session=session, **kwargs)
        specs = [helpers.patch_datetime_awareness_in_document(m) for m in matches]
        selected = self._leading(specs, sort, window_end(window))
        for stage in window:
            (operator, value), = stage.items()
            selected = mm_aggregate._PIPELINE_HANDLERS[operator](selected, self.database, value)
        keep = plain_inclusion(rest[0]) if rest else None
        if keep is None:
            copies = [copy_value(doc) for doc in selected]
        else:  # the page's $project: copy only the fields it keeps
            copies, rest = [project_copy(doc, keep) for doc in selected], rest[1:]
        if self.codec_options.tz_aware:
            copies = [helpers.make_datetime_timezone_aware_in_document(c) for c in copies]
        return mm_aggregate.process_pipeline(copies, self.database, rest, session)

    def bulk_write(self, requests, ordered=True, *args, **kwargs):
        """Update-only bulk writes run one by one (held under the lock as one operation):
        mongomock's own fails on pymongo 4.20's ``UpdateOne`` (it passes ``sort``)."""
        requests = list(requests)
        if not requests or not all(type(r) is UpdateOne for r in requests):
            return super().bulk_write(requests, ordered, *args, **kwargs)
        matched = modified = 0
        for request in requests:
            result = self.update_one(request._filter, request._doc, upsert=request._upsert)
            matched += result.matched_count
            modified += result.modified_count
        return BulkWriteResult({"nInserted": 0, "nUpserted": 0, "nMatched": matched,
                                "nModified": modified, "nRemoved": 0, "upserted": []}, True)

    def _leading(self, specs: list, sort: dict | None, end: int | None) -> list:
        """The stored documents the leading $match stages select, in $sort order, the first
        ``end`` of them at least (all of them when ``end`` is None)."""
        store = self._store
        if sort is not None and specs:
            keys = ordered_walk(store, specs, sort)
            if keys is not None:  # an index range of one partition, in sort order
                documents = (store._documents[key] for key in keys)
                return _walk(documents, [] if pinned_alone(specs, store) else specs, end,
                             validate=specs if store._documents else [])
        candidates, exact = None, not specs
        if specs:
            candidates, exact = candidates_for(store, specs[0] if len(specs) == 1
                                               else {"$and": specs})
            if candidates == []:
                for one in specs:
                    filtering.filter_applies(one, {})  # still reject an invalid filter
        if candidates is None:
            candidates = list(store.documents)
        order = None if sort is None else native_order(candidates, sort)
        if order is not None and end is not None and not exact:
            # sorting then filtering keeps the same documents in the same order (the sort is
            # stable, the filter keeps order): walk the sorted candidates and stop once the
            # window is full, as MongoDB walks an index range (a deep page reads its own depth)
            return _walk((candidates[i] for i in order), specs, end)
        selected = candidates
        if not exact:
            for one in specs:  # stage by stage, as mongomock's $match runs them
                selected = [doc for doc in selected if filtering.filter_applies(one, doc)]
            order = None if sort is None else native_order(selected, sort)
        if order is not None:
            return [selected[i] for i in order]
        if sort is not None:
            return mm_aggregate._handle_sort_stage(selected, self.database, sort)
        return selected

    def with_options(self, *args, **kwargs):
        collection = super().with_options(*args, **kwargs)
        if type(collection) is Collection:
            collection.__class__ = EmbeddedCollection
        return collection


def _walk(documents, specs: list, end: int | None, validate: list = ()) -> list:
    """The first ``end`` of ``documents`` (all when None) that every filter in ``specs``
    accepts; the ``validate`` filters are still checked on an empty document if none was
    read (an invalid filter is rejected as mongomock would)."""
    selected = []
    read = False
    for document in documents:
        if end is not None and len(selected) >= end:
            break
        read = True
        if all(filtering.filter_applies(one, document) for one in specs):
            selected.append(document)
    if not read:
        for one in validate:
            filtering.filter_applies(one, {})
    return selected


def _recorded(documents, touched: list):
    for document in documents:
        touched.append(store_key(document["_id"]))
        yield document


#: The collection operations that talk to the store, each run under the client's lock.
#: ``find`` only builds a cursor: its results come from ``_get_dataset``, materialised inside.
_OPERATIONS = (
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "find_one",
    "find_one_and_delete", "find_one_and_replace", "find_one_and_update", "delete_one",
    "delete_many", "count_documents", "estimated_document_count", "distinct", "aggregate",
    "bulk_write", "drop", "rename", "create_index", "create_indexes", "drop_index",
    "drop_indexes", "list_indexes", "index_information",
)


def _serialised(operation):
    def run(self, *args, **kwargs):
        with self.database.client.lock:
            return operation(self, *args, **kwargs)

    run.__name__ = run.__qualname__ = operation.__name__
    run.__doc__ = operation.__doc__
    return run


def _materialised(get_dataset):
    # a cursor's results, read whole while the lock is held (mongomock's are a generator)
    def run(self, *args, **kwargs):
        with self.database.client.lock:
            return iter(list(get_dataset(self, *args, **kwargs)))

    return run


for _name in _OPERATIONS:
    setattr(EmbeddedCollection, _name, _serialised(getattr(EmbeddedCollection, _name)))
EmbeddedCollection._get_dataset = _materialised(Collection._get_dataset)


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # made here, in the worker: after gevent's patching (mongo_todos.store.embedded_lock)
        self.lock = FairLock()

    def get_database(self, *args, **kwargs):
        database = super().get_database(*args, **kwargs)
        if type(database) is mongomock.database.Database:
            database.__class__ = EmbeddedDatabase
        return database
