"""The embedded store's wrapper never changes a result: generated documents, writes (upserts,
replacements, find-and-modify, bulk inserts and deletes, TTL expiry under an index on
``expires`` included), filters, sorts and pipelines run through the wrapped and the plain
mongomock, compared item by item and in order. A deliberately broken wrapper must fail the
same property, so the property is known to be able to catch an ordering or projection
mismatch."""

from __future__ import annotations

import contextlib
import copy
import re
from datetime import datetime, timedelta, timezone

import mongomock
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pymongo import ReturnDocument

from mongo_todos.store import (
    embedded,
    embedded_indexes,
    embedded_insert,
    embedded_pipeline,
    embedded_point,
    embedded_ranges,
    embedded_sorted,
    embedded_ttl,
)
from mongo_todos.store.embedded import EmbeddedClient, EmbeddedCollection

#: Enough generated cases to reach multi-stage pipelines over ties and mixed types; CI runs
#: them all (about 15 s on a shared machine); the broken-wrapper tests below stop at
#: their first counterexample, usually within a few dozen.
EXAMPLES = 1000

OWNERS = [ObjectId(f"{i:024x}") for i in range(1, 4)]
IDS = [ObjectId(f"{0xa0 + i:024x}") for i in range(40)]
NAMES = ["a", "ab", "b", "B", "aab", "", "b\nc"]
TAGS = ["x", "y", "z"]
BASE_TIME = datetime(2030, 1, 1)

owners = st.sampled_from(OWNERS)
# the same value as a string too: an index must not confuse the two types
owner_values = st.one_of(owners, owners.map(str))
names = st.sampled_from(NAMES)
numbers = st.one_of(st.integers(-2, 2), st.sampled_from([0.5, 1.0, -1.5]), st.none(),
                    st.booleans())
dates = st.one_of(st.none(), st.integers(0, 3).map(lambda d: BASE_TIME + timedelta(days=d)))
tags = st.one_of(
    st.lists(st.sampled_from(TAGS), max_size=3),
    st.sampled_from(TAGS),                                   # a bare string
    st.lists(st.one_of(st.sampled_from(TAGS), st.integers(0, 1)), max_size=2),  # mixed
    st.lists(st.lists(st.sampled_from(TAGS), max_size=1), max_size=1),          # nested
)


lease_tags = st.sampled_from(["t1", "t2", "t3"])
leases = st.fixed_dictionaries({"s": st.integers(1, 3), "n": st.integers(1, 2), "until": dates})


@st.composite
def documents(draw):
    fields = {
        "owner": owner_values, "name": names, "n": numbers, "due": dates, "tags": tags,
        "sub": st.fixed_dictionaries({"a": st.integers(0, 2)}),
        # the changes feed's counter: leases by tag (or a scalar, that a dotted path cannot enter)
        "leases": st.one_of(st.dictionaries(lease_tags, leases, max_size=2), st.integers(0, 1)),
        "seq": st.integers(0, 3),
        # under a TTL index (same_results): the past one has expired, the others never will
        "expires": st.sampled_from([None, datetime(2000, 1, 1), datetime(2100, 1, 1),
                                    # an array counts from its earliest date; others never
                                    [datetime(2100, 1, 1), datetime(2000, 1, 1)], [], "2000",
                                    [datetime(2100, 1, 1), 0]]),
    }
    document = {}
    for field, strategy in fields.items():
        if draw(st.integers(0, 5)):  # a field is sometimes missing
            document[field] = draw(strategy)
    return document


@st.composite
def plain_documents(draw):
    """Every sort key present with one type: the app's own shape, and the native sort's path."""
    return {"owner": draw(owners), "name": draw(names), "n": draw(st.integers(-2, 2)),
            "due": draw(st.integers(0, 3).map(lambda d: BASE_TIME + timedelta(days=d))),
            "tags": draw(st.lists(st.sampled_from(TAGS), max_size=3))}


#: what a collection holds before the operations: documents of any shape, or the app's shape
stores = st.one_of(st.lists(documents(), max_size=25), st.lists(plain_documents(), min_size=3, max_size=25))


def equality(field, values):
    return st.one_of(values.map(lambda v: {field: v}),
                     values.map(lambda v: {field: {"$eq": v}}),
                     st.lists(values, min_size=1, max_size=3).map(lambda v: {field: {"$in": v}}))


leaf_filters = st.one_of(
    equality("owner", owner_values),
    equality("name", names),
    equality("tags", st.one_of(st.sampled_from(TAGS), st.lists(st.sampled_from(TAGS), max_size=2))),
    equality("_id", st.sampled_from(IDS)),
    equality("_id", st.sampled_from(IDS).map(str)),
    st.builds(lambda op, v: {"name": {op: v}}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
              names),
    st.builds(lambda op, v: {"n": {op: v}}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
              st.integers(-2, 2)),
    st.builds(lambda op, v: {"due": {op: v}}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
              dates.filter(lambda d: d is not None)),
    st.builds(lambda op, v: {"_id": {op: v}}, st.sampled_from(["$gt", "$lt"]),
              st.sampled_from(IDS)),
    st.builds(lambda p: {"name": {"$regex": p}}, st.sampled_from(["^a", "b", "a$", "^$", "A"])),
    st.builds(lambda p: {"name": re.compile(p)}, st.sampled_from(["^a", "b"])),
    st.builds(lambda v: {"done": v}, st.booleans()),
    st.builds(lambda v: {"due": v}, st.none()),
    st.builds(lambda f, e: {f: {"$exists": e}}, st.sampled_from(["owner", "due", "tags"]),
              st.booleans()),
    st.builds(lambda v: {"sub.a": v}, st.integers(0, 2)),
)

filters = st.recursive(
    leaf_filters,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"$and": cs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"$or": cs}),
        st.tuples(inner, inner).map(lambda ab: {**ab[0], **ab[1]}),  # implicit AND
    ),
    max_leaves=5,
)

sort_fields = st.one_of(st.sampled_from(["name", "n", "due", "owner"]),  # plain values, ties
                        st.sampled_from(["tags", "_id", "sub.a", "missing"]))
sorts = st.lists(st.tuples(sort_fields, st.sampled_from([1, -1])), min_size=1, max_size=3,
                 unique_by=lambda t: t[0]).map(dict)
projections = st.one_of(
    st.lists(st.sampled_from(["name", "tags", "due", "owner", "sub.a"]), min_size=1, max_size=3,
             unique=True).map(lambda fs: {f: 1 for f in fs}),
    st.lists(st.sampled_from(["name", "tags", "due", "n"]), min_size=1, max_size=2,
             unique=True).map(lambda fs: {f: 0 for f in fs}),
    st.just({"_id": 0, "name": 1}),
    st.just({"name": 1, "label": "$name"}),
)
tails = st.one_of(
    st.just([]),
    projections.map(lambda p: [{"$project": p}]),
    st.just([{"$count": "n"}]),
    st.just([{"$addFields": {"copied": "$name"}}]),
    filters.map(lambda f: [{"$match": f}]),
    st.just([{"$group": {"_id": "$owner", "c": {"$sum": 1}}}, {"$sort": {"c": 1, "_id": 1}}]),
)


@st.composite
def pipelines(draw):
    # often no $match at all, so that sorts see many documents (and ties)
    matches = draw(st.one_of(st.just([]), st.lists(filters, min_size=1, max_size=2)))
    pipeline = [{"$match": f} for f in matches]
    if draw(st.booleans()):
        pipeline.append({"$sort": draw(sorts)})
    for _ in range(draw(st.integers(0, 2))):
        pipeline.append(draw(st.sampled_from([{"$limit": 1}, {"$limit": 3}, {"$skip": 1},
                                              {"$limit": 50}])))
    return pipeline + draw(tails)


updates = st.one_of(
    owners.map(lambda o: {"$set": {"owner": o}}),
    # moves within an ordered index (or out of its plain types)
    numbers.map(lambda n: {"$set": {"n": n}}),
    dates.map(lambda d: {"$set": {"due": d}}),
    tags.map(lambda t: {"$set": {"tags": t}}),
    names.map(lambda n: {"$set": {"name": n}}),
    st.just({"$unset": {"owner": ""}}),
    st.just({"$inc": {"n": 1}}),
)

#: Compound indexes led by owner, as the app declares them (mongo_todos.store.documents): the
#: ordered indexes (mongo_todos.store.embedded_sorted) serve pages sorted by their keys. One
#: without _id last, so ties are broken by store order; one declared descending.
ORDERED_INDEXES = ([("owner", 1), ("name", 1), ("_id", 1)], [("owner", 1), ("n", -1)],
                   [("owner", 1), ("due", 1), ("_id", 1)])
PAGE_KEYS = {"name": names, "n": numbers, "due": dates, "_id": st.sampled_from(IDS)}


@st.composite
def pages(draw):
    """A list page as the app asks for one: owner pinned, sorted by an index's keys (either
    way), maybe bounded as a cursor does (a range on the key, or the key pinned and an _id
    range), maybe filtered more, limited, projected."""
    keys = draw(st.sampled_from([("name", "_id"), ("n",), ("due", "_id")]))
    order = draw(st.sampled_from([1, -1]))
    sort = {key: order for key in keys}
    if draw(st.booleans()):
        sort = {"owner": order, **sort}
    clauses = [{"owner": draw(owner_values)}]
    bound = draw(st.sampled_from(["none", "range", "tie", "both"]))
    if bound in ("range", "both"):
        op = draw(st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$eq"]))
        clauses.append({keys[0]: {op: draw(PAGE_KEYS[keys[0]])}})
    if bound in ("tie", "both"):
        clauses.append({keys[0]: draw(PAGE_KEYS[keys[0]]),
                        "_id": {draw(st.sampled_from(["$gt", "$lt"])): draw(st.sampled_from(IDS))}})
    if draw(st.booleans()):
        clauses.append(draw(filters))
    match = clauses[0] if len(clauses) == 1 else draw(st.sampled_from(
        [{"$and": clauses}, {k: v for c in clauses for k, v in c.items()}]))
    stages = [{"$match": match}, {"$sort": sort}]
    stages += draw(st.sampled_from([[{"$limit": 3}], [{"$skip": 1}, {"$limit": 2}], []]))
    return stages + draw(st.sampled_from([[], [{"$project": {"name": 1, "n": 1}}]]))


queries = st.one_of(
    st.tuples(st.just("aggregate"), pipelines()),
    st.tuples(st.just("aggregate"), pages()),
    st.tuples(st.just("find"), st.tuples(filters, st.one_of(st.none(), sorts), st.integers(0, 3),
                                         st.one_of(st.none(), projections.filter(
                                             lambda p: "label" not in p)))),
    st.tuples(st.just("find_one"), filters),
    # a point lookup as every request makes one: _id pinned, maybe more, a plain projection
    st.tuples(st.just("find_one_by_id"), st.tuples(
        st.sampled_from(IDS[:30]), st.one_of(st.just({}), leaf_filters),
        st.one_of(st.none(), st.lists(st.sampled_from(["name", "tags", "_id", "n", "sub"]),
                                      min_size=1, max_size=3, unique=True)))),
    st.tuples(st.just("count_documents"), filters),
    st.tuples(st.just("count_documents"), st.tuples(
        st.one_of(equality("owner", owner_values), filters), st.integers(1, 4))),
)
writes = st.one_of(
    st.tuples(st.just("insert_one"), documents()),
    st.tuples(st.just("update_one"), st.tuples(filters, updates)),
    st.tuples(st.just("update_many"), st.tuples(filters, updates)),
    st.tuples(st.just("delete_one"), filters),
)
#: Upserts name the _id they may create: a generated ObjectId would differ between the stores.
upsert_filters = st.tuples(st.sampled_from(IDS[30:]), st.one_of(st.just({}), leaf_filters)).map(
    lambda pair: {"_id": pair[0], **{k: v for k, v in pair[1].items() if k != "_id"}})
#: (filter, upsert): only a filter that names its _id may upsert
targets = st.one_of(st.tuples(filters, st.just(False)), st.tuples(upsert_filters, st.booleans()))
# TTL expiry mid-sequence: a document whose "expires" has passed is gone from either store
expiring = st.sampled_from([{"$set": {"expires": datetime(2000, 1, 1)}},
                            {"$set": {"expires": datetime(2100, 1, 1)}}, {"$unset": {"expires": ""}}])
more_writes = st.one_of(
    st.tuples(st.just("find_one_and_update"),
              st.tuples(targets, st.one_of(updates, expiring), st.one_of(st.none(), sorts),
                        st.booleans())),
    st.tuples(st.just("replace_one"),
              st.tuples(targets, documents())),
    st.tuples(st.just("upsert_one"), st.tuples(upsert_filters, updates)),
    st.tuples(st.just("insert_many"), st.lists(documents(), min_size=1, max_size=3)),
    st.tuples(st.just("delete_many"), filters),
    st.tuples(st.just("update_many"), st.tuples(filters, expiring)),
    st.tuples(st.just("drop"), st.none()),
)
def _mix(*strategies):
    """One of ``strategies``, each about as likely (a one_of flattens nested one_ofs and
    favours some branches; a strategy given twice is twice as likely here)."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


#: A single-document write by _id (mongo_todos.store.embedded_point): the ids of stored
#: documents or of none (IDS[30:]), maybe with conditions that fail.
point_filters = st.tuples(st.sampled_from(IDS[:3] + IDS[:8] + IDS[30:32]),
                          _mix(st.just({}), leaf_filters)).map(
    lambda pair: {"_id": pair[0], **{k: v for k, v in pair[1].items() if k != "_id"}})
#: Values a write sets: equal to a stored one but of another type (1.0 for 1), datetimes that
#: mongomock truncates to milliseconds or converts from a time zone, lists and documents.
set_values = st.one_of(
    numbers, names, dates, st.just(1.0), st.just([1, [2]]), st.just({"x": {"y": 1}}),
    st.just(datetime(2030, 1, 1, 12, 0, 0, 123456)),
    st.just(datetime(2030, 1, 1, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))))
set_paths = _mix(
    *[st.sampled_from(["name", "n", "due", "tags", "seq", "sub.a", "sub.b", "sub.b.c",
                       "new.x", "leases.t1", "leases.t2"])] * 4,  # (new.x: makes its parent)
    st.sampled_from(["name.x",  # through a string: mongomock ignores it (slow path)
                     "tags.0",  # through an array: slow path
                     "_id", "sub.$", "a..b"]))  # rejected or outside the subset: slow path
#: the changes feed's counter update: take a number, record a lease, drop another
counter_updates = st.builds(
    lambda tag, lease, gone: {"$inc": {"seq": 1}, "$set": {f"leases.{tag}": lease},
                              "$unset": {f"leases.{gone}": ""}}, lease_tags, leases, lease_tags)
operator_updates = st.dictionaries(st.sampled_from(["$set", "$inc", "$unset"]), st.dictionaries(
        set_paths, set_values, min_size=1, max_size=3), min_size=1, max_size=3).map(
        lambda update: {op: ({p: 1 for p in fields} if op == "$inc" and len(fields) > 1 else
                             # (an upsert without _id would make an ObjectId: stores differ)
                             {p: "" for p in fields if p != "_id"} if op == "$unset" else fields)
                        for op, fields in update.items()})

point_updates = _mix(counter_updates, operator_updates, st.one_of(
    st.builds(lambda path, by: {"$inc": {path: by}}, set_paths, st.sampled_from([1, -1, 0, 0.5])),
    updates, expiring,
    st.just({"$set": {}}), st.just({"$push": {"tags": "x"}}),  # outside the subset
))
point_projections = st.sampled_from([
    None, {"seq": 1, "leases": 1}, {"name": 1, "_id": 1}, None, {"seq": 1, "leases": 1},
    {"_id": 1},
    {"name": 0}, {"_id": 0, "seq": 1}, {"sub.a": 1}])  # slow path
point_finds = st.tuples(st.just("find_one_and_update_by_id"), st.tuples(
    point_filters, point_updates, st.booleans(), st.booleans(), point_projections,
    st.one_of(st.none(), sorts)))
point_updates_one = st.tuples(st.just("update_one_by_id"),
                              st.tuples(point_filters, point_updates, st.booleans()))
point_writes = _mix(point_finds, point_finds, point_updates_one, point_updates_one,
                    st.tuples(st.just("delete_one_by_id"), point_filters),
                    st.tuples(st.just("find_one_and_delete_by_id"), point_filters))
operations = st.lists(st.one_of(queries, queries, writes, more_writes, point_writes),
                      min_size=1, max_size=8)
#: Inserts the direct path (mongo_todos.store.embedded_insert) must answer as
#: mongomock does, or leave to it: a taken _id, datetimes it truncates or converts, an
#: embedded document, keys its own checks or BSON refuse, a number BSON cannot hold.
odd_inserts = st.tuples(st.just("insert_one"), _mix(
    documents(),
    st.builds(lambda n, doc: {"_id": IDS[n], **doc}, st.integers(0, 2), documents()),
    st.builds(lambda value: {"owner": OWNERS[0], "v": value}, set_values),
    st.sampled_from([
        {"v": (1, 2)}, {"sub": {"a": 1, "b": {"c": datetime(2030, 1, 1, 0, 0, 0, 1500)}}},
        {"$bad": 1}, {"sub": {"a\0b": 1}}, {"sub": {1: 2}}, {"a.b": 1}, {"v": 2 ** 70},
        {"v": [{"$x": 1}]}, {"v": "\ud800"}, {"v": object()}, {"v": {"$y": 1}},
        {"k\udc80": 1},  # a key BSON cannot encode
    ])))
#: A few documents, so that a write by _id finds one most of the time.
point_stores = st.lists(documents(), min_size=3, max_size=10)
#: Mostly point writes, and the reads that would see an index they left stale.
point_operations = st.lists(_mix(point_writes, point_writes, queries, st.one_of(
    st.tuples(st.just("aggregate"), pages()),  # an ordered index's range
    st.tuples(st.just("find_one"), st.tuples(equality("owner", owner_values),  # equality ones
                                             equality("name", names)).map(
        lambda pair: {**pair[0], **pair[1]})))), min_size=1, max_size=8)

#: Inserts, each followed now and then by the reads and writes that would see a mistake.
insert_operations = st.lists(_mix(odd_inserts, odd_inserts, queries, point_writes),
                             min_size=1, max_size=8)


def run(collection, operation):
    """An operation's result, or its exception's type (both stores must fail alike)."""
    kind, argument = operation
    try:
        if kind == "aggregate":
            return list(collection.aggregate(copy.deepcopy(argument)))
        if kind == "find":
            spec, sort, limit, projection = copy.deepcopy(argument)
            cursor = collection.find(spec, projection, limit=limit)
            if sort:
                cursor = cursor.sort(list(sort.items()))
            return list(cursor)
        if kind == "find_one":
            return _scribbled(collection.find_one(copy.deepcopy(argument)))
        if kind == "find_one_by_id":
            document_id, more, fields = copy.deepcopy(argument)
            spec = {**{k: v for k, v in more.items() if k != "_id"}, "_id": document_id}
            return _scribbled(collection.find_one(
                spec, None if fields is None else dict.fromkeys(fields, 1)))
        if kind == "count_documents":
            if isinstance(argument, tuple):  # (filter, limit), as the todo quota counts
                return collection.count_documents(copy.deepcopy(argument[0]), limit=argument[1])
            return collection.count_documents(copy.deepcopy(argument))
        if kind == "insert_one":
            document = copy.deepcopy(argument[1] if isinstance(argument, tuple) else argument)
            return collection.insert_one(document).inserted_id
        if kind in ("update_one", "update_many"):
            spec, update = copy.deepcopy(argument)
            result = getattr(collection, kind)(spec, update)
            return result.matched_count, result.modified_count
        if kind == "delete_one":
            return collection.delete_one(copy.deepcopy(argument)).deleted_count
        if kind == "delete_many":
            return collection.delete_many(copy.deepcopy(argument)).deleted_count
        if kind == "insert_many":
            return collection.insert_many(copy.deepcopy(argument)).inserted_ids
        if kind == "find_one_and_update":
            (spec, upsert), update, sort, after = copy.deepcopy(argument)
            return collection.find_one_and_update(
                spec, update, sort=list(sort.items()) if sort else None, upsert=upsert,
                return_document=ReturnDocument.AFTER if after else ReturnDocument.BEFORE)
        if kind == "replace_one":
            (spec, upsert), replacement = copy.deepcopy(argument)
            result = collection.replace_one(spec, replacement, upsert=upsert)
            return result.matched_count, result.modified_count, result.upserted_id
        if kind == "drop":
            collection.drop()
            return None
        if kind == "find_one_and_update_by_id":
            spec, update, upsert, after, projection, sort = copy.deepcopy(argument)
            found = collection.find_one_and_update(
                spec, update, projection, sort=list(sort.items()) if sort else None,
                upsert=upsert,
                return_document=ReturnDocument.AFTER if after else ReturnDocument.BEFORE)
            return _scribbled(found)
        if kind == "update_one_by_id":
            spec, update, upsert = copy.deepcopy(argument)
            return _raw(collection.update_one(spec, update, upsert=upsert))
        if kind == "delete_one_by_id":
            return _raw(collection.delete_one(copy.deepcopy(argument)))
        if kind == "find_one_and_delete_by_id":
            return _scribbled(collection.find_one_and_delete(copy.deepcopy(argument)))
        if kind == "upsert_one":
            spec, update = copy.deepcopy(argument)
            result = collection.update_one(spec, update, upsert=True)
            return result.matched_count, result.modified_count, result.upserted_id
    except Exception as error:  # noqa: BLE001 - compared, not swallowed
        return ("raised", type(error).__name__)
    raise AssertionError(kind)


def _raw(result) -> dict:
    """A write's whole answer, but the client's number (the two stores are two clients)."""
    return {k: v for k, v in result.raw_result.items() if k != "connectionId"}


def _scribbled(found):
    """A copy of ``found`` to compare, after writing over every document in it: a result
    that shares a dict with the store would change the store (the next reads would tell)."""
    kept = copy.deepcopy(found)
    stack = [found]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        if isinstance(value, dict):
            stack.extend(value.values())
            value["scribbled"] = True
    return kept


def _id(n: int) -> ObjectId:
    return ObjectId(f"{0xa0 + n:024x}")  # IDS[n] for the first 40


def same_results(stored, operations, unique=False):
    plain = mongomock.MongoClient().db.todos
    wrapped = EmbeddedClient().db.todos
    assert isinstance(wrapped, EmbeddedCollection)
    for collection in (plain, wrapped):
        if unique:  # updates and inserts then check it with a query of their own
            collection.create_index([("name", 1)], unique=True)
        collection.create_index([("expires", 1)], expireAfterSeconds=0)
        for keys in ORDERED_INDEXES:
            collection.create_index(keys)
    for i, document in enumerate(stored):
        insert = ("insert_one", {"_id": IDS[i], **document})
        assert run(plain, insert) == run(wrapped, insert)
    fresh = iter(range(len(stored), 10_000))  # ids for inserted documents, beyond the stored
    for operation in operations:
        if operation[0] == "insert_one":
            operation = ("insert_one", {"_id": _id(next(fresh)), **operation[1]})
        if operation[0] == "insert_many":
            operation = ("insert_many", [{"_id": _id(next(fresh)), **d} for d in operation[1]])
        expected, got = run(plain, operation), run(wrapped, operation)
        assert got == expected, (operation, expected, got)
        # types too: 1 == 1.0 == True would hide a changed value
        assert repr(got) == repr(expected), (operation, expected, got)
    assert list(wrapped.find()) == list(plain.find())


# Explicit cases, run before the generated ones: each pins a path that generation reaches
# only now and then (so a broken wrapper fails the property on every run, not by luck).
UNIQUE_NAME_UPDATE = {  # found on review while building the wrapper
    "stored": [{"name": "a"}, {"name": "b"}],
    "operations": [("find_one", {"name": "a"}),
                   ("update_one", ({"name": "b"}, {"$set": {"name": "a"}}))],
    "unique": True,
}


QUERY_INSERT_QUERY = {  # an index kept through an insert must file the new document
    "stored": [{"owner": OWNERS[0], "name": "a"}],
    # (a filter and a sort that the ordered indexes do not answer: the equality index does)
    "operations": [("find_one", {"owner": OWNERS[0], "name": "a"}),
                   ("insert_one", {"owner": OWNERS[0], "name": "b"}),
                   ("aggregate", [{"$match": {"owner": OWNERS[0]}}, {"$sort": {"tags": -1}}])],
    "unique": False,
}


SORTED_WALK = {  # a filtered, sorted page: the walk must stop exactly when the page is full
    "stored": [{"owner": OWNERS[0], "name": n} for n in ["b", "a", "c", "a", "d"]],
    "operations": [("aggregate", [{"$match": {"owner": OWNERS[0], "name": {"$gte": "a"}}},
                                  {"$sort": {"name": -1, "_id": 1}}, {"$limit": 3},
                                  {"$project": {"name": 1}}])],
    "unique": False,
}


EXPIRY_AND_UPSERTS = {  # TTL expiry behind a kept index, then the writes that return or create
    "stored": [{"owner": OWNERS[0], "name": n} for n in ["a", "b", "c"]],
    "operations": [("count_documents", {"owner": OWNERS[0]}),
                   ("update_many", ({"name": "a"}, {"$set": {"expires": datetime(2000, 1, 1)}})),
                   ("aggregate", [{"$match": {"owner": OWNERS[0]}}, {"$sort": {"name": 1}}]),
                   ("find_one_and_update", (({"_id": IDS[35]}, True), {"$inc": {"n": 1}},
                                            None, True)),
                   ("replace_one", (({"name": "b"}, False), {"name": "d"})),
                   ("insert_many", [{"owner": OWNERS[0], "name": "e"}, {"name": "f"}]),
                   ("delete_many", {"owner": OWNERS[0], "name": {"$gte": "d"}}),
                   ("find", ({}, {"name": -1}, 0, None))],
    "unique": False,
}


EXPIRY_MID_UPDATE = {  # a replacement sets a past expiry: gone before the unique check counts
    "stored": [{}],
    "operations": [("insert_many", [{"owner": OWNERS[0], "name": "a"}]),
                   ("replace_one", (({"owner": OWNERS[0]}, False),
                                    {"expires": datetime(2000, 1, 1)}))],
    "unique": True,
}


PAGE = [{"$match": {"owner": OWNERS[0]}}, {"$sort": {"name": -1, "_id": -1}}, {"$limit": 3}]
PAGES_AFTER_MOVES = {  # pages from an ordered index after writes that move, add and remove
    "stored": [{"owner": OWNERS[0], "name": n, "n": i % 2} for i, n in enumerate("abcde")],
    "operations": [("aggregate", PAGE),
                   ("update_one", ({"name": "a"}, {"$set": {"name": "z"}})),  # moves to the top
                   ("aggregate", PAGE),
                   ("delete_one", {"name": "z"}),
                   ("aggregate", [{"$match": {"$and": [{"owner": OWNERS[0]},
                                                       {"name": {"$lt": "e"}}]}},
                                  {"$sort": {"name": -1, "_id": -1}}, {"$limit": 2}]),
                   ("update_many", ({"n": 1}, {"$set": {"n": 0}})),  # ties, in store order
                   ("aggregate", [{"$match": {"owner": OWNERS[0]}}, {"$sort": {"n": -1}}]),
                   ("update_many", ({"name": "b"}, {"$set": {"expires": datetime(2000, 1, 1)}})),
                   ("aggregate", PAGE),
                   ("aggregate", [{"$match": {"owner": OWNERS[0], "name": {"$gte": "c"}}},
                                  {"$sort": {"name": 1, "_id": 1}}, {"$limit": 2}])],
    "unique": False,
}


DESCENDING_TIES = {  # a descending sort no ordered index serves: ties stay in store order
    "stored": [{"owner": OWNERS[0], "name": n} for n in "abab"],
    "operations": [("aggregate", [{"$sort": {"name": -1}}])],
    "unique": False,
}


COUNTER = {"_id": IDS[0], "owner": OWNERS[0], "name": "a", "seq": 2,
           "leases": {"t1": {"s": 1, "n": 1, "until": BASE_TIME}}}
COUNTER_UPDATES = {  # the changes feed's counter, then a todo moved in its index by a PATCH
    "stored": [COUNTER, {"owner": OWNERS[0], "name": "b", "n": 1}],
    "operations": [
        ("aggregate", PAGE),  # builds the ordered indexes
        ("find_one", {"owner": OWNERS[0], "name": "b"}),  # builds the equality indexes
        ("find_one_and_update_by_id", ({"_id": IDS[0]}, {
            "$inc": {"seq": 1}, "$set": {"leases.t2": {"s": 3, "n": 1, "until": BASE_TIME}},
            "$unset": {"leases.t1": ""}}, True, False, {"seq": 1, "leases": 1}, None)),
        ("update_one_by_id", ({"_id": IDS[0]}, {"$unset": {"leases.t2": ""}}, False)),
        ("update_one_by_id", ({"_id": IDS[0]}, {"$unset": {"leases.t2": ""}}, False)),
        ("find_one_and_update_by_id", ({"_id": IDS[1], "owner": OWNERS[0], "n": 1}, {
            "$set": {"name": "0", "sub.b": 1}, "$inc": {"n": 1}}, False, True,
            {"name": 1, "n": 1}, None)),
        ("aggregate", PAGE),
        ("find_one", {"owner": OWNERS[0], "name": "0"}),  # its new value's bucket
        ("find_one_and_update_by_id", ({"_id": IDS[1], "n": 1}, {"$inc": {"n": 1}}, False,
                                       True, None, None)),  # a condition that now fails
        ("delete_one_by_id", {"_id": IDS[1], "owner": OWNERS[0]}),
        ("aggregate", PAGE)],
    "unique": False,
}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(**PAGES_AFTER_MOVES)
@example(**EXPIRY_MID_UPDATE)
@example(**DESCENDING_TIES)
@example(**EXPIRY_AND_UPSERTS)
@example(**UNIQUE_NAME_UPDATE)
@example(**QUERY_INSERT_QUERY)
@example(**SORTED_WALK)
@given(stored=stores, operations=operations, unique=st.booleans())
def test_wrapped_store_returns_what_mongomock_returns(stored, operations, unique):
    same_results(stored, operations, unique)


ID_CHANGED_BY_A_FAILED_UPDATE = {  # mongomock writes _id, then fails: the key holds another _id
    "stored": [{}, {}, {}],
    "operations": [
        ("find_one_and_update_by_id", ({"_id": IDS[2]}, {"$set": {"_id": None},
                                                         "$inc": {"name": None}},
                                       False, False, None, None)),
        ("delete_one_by_id", {"_id": IDS[2]}),
        ("update_one_by_id", ({"_id": IDS[2]}, {"$set": {"n": 1}}, False))],
    "unique": False,
}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(**ID_CHANGED_BY_A_FAILED_UPDATE)
@example(**COUNTER_UPDATES)
@given(stored=point_stores, operations=point_operations,
       unique=st.sampled_from([False, False, True]))  # a unique index: mongomock's path
def test_point_writes_return_what_mongomock_returns(stored, operations, unique):
    """The single-document writes by _id (mongo_todos.store.embedded_point), most of them in
    the subset they serve directly, the others falling back."""
    same_results(stored, operations, unique)


@settings(max_examples=EXAMPLES // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stored=point_stores, operations=insert_operations,
       unique=st.sampled_from([False, False, True]))  # a unique index: mongomock's path
def test_inserts_return_what_mongomock_returns(stored, operations, unique):
    """A plain document's insert (mongo_todos.store.embedded_insert) and the ones
    it leaves to mongomock."""
    same_results(stored, operations, unique)


# --- the property can fail ------------------------------------------------------------------

def _reverse_ties(monkeypatch):
    """A wrapper that returns an index's candidates in reverse store order."""
    original = embedded_indexes.Index.positions
    monkeypatch.setattr(embedded_indexes.Index, "positions",
                        lambda self, values: sorted(original(self, values), reverse=True))


def _project_before_sort(monkeypatch):
    """A wrapper that loses a sort on a field the projection drops (stages out of order)."""
    original = embedded.split_pipeline

    def broken(pipeline):
        matches, sort, window, rest = original(pipeline)
        if sort is not None and rest and "$project" in rest[0]:
            return matches, None, window, [rest[0], {"$sort": sort}, *rest[1:]]
        return matches, sort, window, rest
    monkeypatch.setattr(embedded, "split_pipeline", broken)


def _forget_lists(monkeypatch):
    """An equality index that forgets documents whose field is an array."""
    original = embedded_indexes.Index.__init__

    def broken(self, documents, field):
        original(self, [d if not isinstance(d.get(field), list) else {} for d in documents], field)
    monkeypatch.setattr(embedded_indexes.Index, "__init__", broken)


def _first_key_last(monkeypatch):
    """A sort whose key priority is reversed (passes run first key first)."""
    original = embedded.native_order
    monkeypatch.setattr(embedded, "native_order", lambda documents, sort: original(
        documents, dict(reversed(list(sort.items())))))


def _unstable_descending(monkeypatch):
    """A native sort that sorts descending keys ascending and reverses: ties lose store order."""
    def broken(documents, sort):
        columns = [embedded_pipeline.native_column(documents, field) for field in sort]
        if any(column is None for column in columns):
            return None
        order = list(range(len(documents)))
        for column, direction in reversed(list(zip(columns, sort.values(), strict=True))):
            order.sort(key=column.__getitem__)
            if direction < 0:
                order.reverse()
        return order
    monkeypatch.setattr(embedded, "native_order", broken)


def _window_one_short(monkeypatch):
    """A sorted walk that stops one document early."""
    original = embedded.window_end
    monkeypatch.setattr(embedded, "window_end",
                        lambda window: None if original(window) is None else
                        max(0, original(window) - 1))


def _forget_inserts(monkeypatch):
    """Indexes kept through an insert without filing the new document."""
    def appended(self, store, key):
        if len(store._documents) != self.size + 1:
            return False
        self.documents.append(store._documents[key])
        self.size += 1
        return True
    monkeypatch.setattr(embedded_indexes.Indexes, "appended", appended)


def _index_during_writes(monkeypatch):
    """A wrapper that keeps using its equality indexes while an update changes documents
    (a unique index then misses the updated document: the mismatch this test first found)."""
    @contextlib.contextmanager
    def drop_indexes_after(store):
        try:
            yield
        finally:
            store.__dict__.pop(embedded.STATE, None)
    monkeypatch.setattr(embedded, "writing", drop_indexes_after)


def _stale_after_updates(monkeypatch):
    """Ordered indexes that do not re-file what an update changed in place."""
    monkeypatch.setattr(embedded, "refresh", lambda store, keys: None)


def _descending_ties_reversed(monkeypatch):
    """A descending walk that leaves ties in reverse store order."""
    monkeypatch.setattr(embedded_sorted, "_in_store_order", lambda entries, width: entries)


def _exclusive_bounds(monkeypatch):
    """A range that leaves out the documents equal to an inclusive bound."""
    original = embedded_ranges.bounds

    def broken(specs, field, group):
        low, _, high, _ = original(specs, field, group)
        return low, False, high, False
    monkeypatch.setattr(embedded_ranges, "bounds", broken)


def _point_writes_keep_equality_indexes(monkeypatch):
    """Point writes that leave the equality indexes as they were (their values changed)."""
    monkeypatch.setattr(embedded_point, "STATE", "_not_the_indexes")


def _point_writes_not_refiled(monkeypatch):
    """Point writes that do not re-file the document in the ordered indexes."""
    monkeypatch.setattr(embedded_point, "refresh", lambda store, keys: None)


def _point_results_share_the_store(monkeypatch):
    """Point results that are the stored document itself, not a copy."""
    monkeypatch.setattr(embedded_point, "copy_value", lambda value: value)


def _point_writes_always_modify(monkeypatch):
    """An update that reports a change even when every value stayed equal."""
    original = embedded_point._apply
    monkeypatch.setattr(embedded_point, "_apply", lambda document, plan: original(
        document, plan) or True)


def _point_writes_ignore_parents(monkeypatch):
    """Dotted paths written as top-level fields named with a dot."""
    original = embedded_point._plan

    def broken(update):
        plan = original(update)
        return plan and [(updater, [".".join(parts)], value) for updater, parts, value in plan]
    monkeypatch.setattr(embedded_point, "_plan", broken)


def _point_lookups_ignore_other_fields(monkeypatch):
    """A lookup by _id that takes the document without checking the filter's other fields."""
    monkeypatch.setattr(embedded_point, "_equal_fields", lambda spec, document: True)


def _point_inserts_unpatched(monkeypatch):
    """Direct inserts that store datetimes as given (mongomock keeps milliseconds, UTC)."""
    monkeypatch.setattr(embedded_insert, "_patched", lambda value: value)


def _point_inserts_overwrite(monkeypatch):
    """Direct inserts that replace a document stored under the same _id."""
    original = embedded_insert.insert_one

    def broken(collection, document, session=None):
        if type(document) is dict and document.get("_id") in collection._store._documents:
            del collection._store[document["_id"]]
        return original(collection, document, session)
    monkeypatch.setattr(embedded, "direct_insert", broken)


def _point_inserts_unvalidated(monkeypatch):
    """Direct inserts that skip BSON's validation (a value MongoDB cannot store is kept)."""
    monkeypatch.setattr(embedded_insert, "BSON", type("NoCheck", (), {
        "encode": staticmethod(lambda *args, **kwargs: b"")}))


def _flat_inserts_unchecked(monkeypatch):
    """A flat document's one pass that takes every value as storable (2 ** 70, a lone
    surrogate, an object BSON refuses, an aware datetime kept as it is)."""
    original = embedded_insert._flat_stored

    def broken(document):
        stored = original(document)
        if stored is None and all(type(key) is str and key[:1] != "$" and "\0" not in key
                                  for key in document) \
                and not any(isinstance(v, (dict, list, tuple)) for v in document.values()):
            return dict(document)
        return stored
    monkeypatch.setattr(embedded_insert, "_flat_stored", broken)


def _flat_inserts_keep_microseconds(monkeypatch):
    """A flat document's one pass that copies its datetimes uncut (MongoDB keeps ms)."""
    original = embedded_insert._flat_stored
    monkeypatch.setattr(embedded_insert, "_flat_stored",
                        lambda document: None if original(document) is None else dict(document))


def _point_find_and_delete_keeps(monkeypatch):
    """A direct find_one_and_delete that answers with the document but keeps it stored."""
    monkeypatch.setattr(embedded_point, "find_one_and_delete",
                        lambda collection, filter, **kwargs: embedded_point._lookup(
                            collection, filter, filter["_id"])
                        if embedded_point._pinned(collection, filter) is not None
                        else embedded_point.SLOW)


def _expiry_not_refiled(monkeypatch):
    """TTL expiries that miss a date an update set in place."""
    monkeypatch.setattr(embedded_sorted.ttl, "filed", lambda store, key, document: None)


def _expiry_blind_mid_update(monkeypatch):
    """TTL expiry that, during an update, goes by the values documents had before it."""
    monkeypatch.setattr(embedded_sorted, "TOUCHED", "_not_the_touched")


def _expiry_one_late(monkeypatch):
    """A TTL walk that stops one expired document early."""
    original = embedded_ttl.Expiries.expired
    monkeypatch.setattr(embedded_ttl.Expiries, "expired",
                        lambda self, store: original(self, store)[1:])


#: What a broken wrapper is run against: (stored, operations, unique) strategies and the
#: explicit cases that run first.
AGAINST = {
    "any": (stores, operations, st.booleans(),
            [UNIQUE_NAME_UPDATE, QUERY_INSERT_QUERY, SORTED_WALK, PAGES_AFTER_MOVES,
             DESCENDING_TIES, EXPIRY_MID_UPDATE]),
    "point": (point_stores, point_operations, st.just(False), [COUNTER_UPDATES]),
    "insert": (point_stores, insert_operations, st.just(False), []),
}
BUGS = [*((bug, "any") for bug in (
    _reverse_ties, _project_before_sort, _forget_lists, _first_key_last, _unstable_descending,
    _window_one_short, _forget_inserts, _index_during_writes, _stale_after_updates,
    _descending_ties_reversed, _exclusive_bounds, _expiry_blind_mid_update)),
    *((bug, "point") for bug in (
        _point_writes_keep_equality_indexes, _point_writes_not_refiled,
        _point_results_share_the_store, _point_writes_always_modify,
        _point_writes_ignore_parents, _point_lookups_ignore_other_fields, _expiry_not_refiled,
        _expiry_one_late, _point_find_and_delete_keeps)),
    *((bug, "insert") for bug in (
        _point_inserts_unpatched, _point_inserts_overwrite, _point_inserts_unvalidated,
        _flat_inserts_unchecked, _flat_inserts_keep_microseconds))]


@pytest.mark.parametrize(("bug", "against"), BUGS)
def test_a_broken_wrapper_fails_the_property(bug, against, monkeypatch):
    bug(monkeypatch)
    stored, operations_, unique, cases = AGAINST[against]

    def prop(stored, operations, unique):
        same_results(stored, operations, unique)

    prop = given(stored=stored, operations=operations_, unique=unique)(prop)
    for case in cases:
        prop = example(**case)(prop)
    # the first counterexample is enough: no shrinking, no example database; a fixed seed, so
    # the test does not depend on the luck of one run
    prop = settings(max_examples=EXAMPLES * 3, deadline=None, database=None, derandomize=True,
                    phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow])(prop)
    with pytest.raises(AssertionError):
        prop()


# --- what the wrapper saves, and what it keeps ----------------------------------------------

@pytest.fixture
def crowded():
    """One owner's 5 todos among 2,000 of other owners'."""
    collection = EmbeddedClient().db.todos
    mine = OWNERS[0]
    collection.insert_many([{"owner": OWNERS[1 + i % 2], "name": f"o{i}"} for i in range(2000)])
    collection.insert_many([{"owner": mine, "name": f"m{i}"} for i in range(5)])
    return collection, mine


def test_a_leading_match_sort_limit_copies_only_the_documents_it_returns(crowded, monkeypatch):
    collection, mine = crowded
    copies = []
    original = embedded.project_copy
    monkeypatch.setattr(embedded, "project_copy", lambda d, k: copies.append(d) or original(d, k))
    checked = []
    applies = mongomock.filtering.filter_applies
    monkeypatch.setattr(embedded.filtering, "filter_applies",
                        lambda f, d: checked.append(d) or applies(f, d))
    page = list(collection.aggregate([
        {"$match": {"owner": mine}}, {"$sort": {"name": -1, "_id": -1}}, {"$limit": 3},
        {"$project": {"name": 1}},
    ]))
    assert [d["name"] for d in page] == ["m4", "m3", "m2"]
    assert set(page[0]) == {"_id", "name"}
    assert len(copies) == 3
    assert checked == []  # {"owner": id} alone: the index answers it exactly
    page = list(collection.aggregate([
        {"$match": {"owner": mine, "name": {"$lt": "m3"}}}, {"$sort": {"name": 1}}]))
    assert [d["name"] for d in page] == ["m0", "m1", "m2"]
    assert len(checked) == 5  # only the owner's documents were looked at


def test_a_lookup_by_id_reads_one_document(crowded, monkeypatch):
    collection, mine = crowded
    target = collection.find_one({"owner": mine, "name": "m2"})
    checked = []
    applies = mongomock.filtering.filter_applies
    monkeypatch.setattr(embedded.filtering, "filter_applies",
                        lambda f, d: checked.append(d) or applies(f, d))
    assert collection.find_one({"_id": target["_id"], "owner": mine})["name"] == "m2"
    assert collection.find_one({"_id": target["_id"], "owner": OWNERS[1]}) is None
    # one document each: the match decided by plain equality of the owner (no filter run),
    # the mismatch left to mongomock's filter, on that one document only
    assert checked == [target]


def test_results_are_copies_the_caller_may_change(crowded):
    collection, mine = crowded
    page = list(collection.aggregate([{"$match": {"owner": mine}}, {"$limit": 1}]))
    page[0]["name"] = "changed"
    found = collection.find_one({"owner": mine})
    found["owner"] = OWNERS[1]
    assert collection.count_documents({"owner": mine, "name": "m0"}) == 1


def test_a_write_is_seen_by_the_next_indexed_read(crowded):
    collection, mine = crowded
    assert collection.count_documents({"owner": mine}) == 5
    collection.update_one({"owner": OWNERS[1]}, {"$set": {"owner": mine}})
    collection.insert_one({"owner": mine, "name": "new"})
    collection.delete_one({"owner": mine, "name": "m0"})
    assert collection.count_documents({"owner": mine}) == 6
    collection.database.drop_collection("todos")
    assert collection.count_documents({"owner": mine}) == 0


def test_hint_is_accepted_and_ignored(crowded):
    collection, mine = crowded
    hint = [("owner", 1), ("name", 1)]
    assert len(list(collection.find({"owner": mine}, hint=hint))) == 5
    assert len(list(collection.aggregate([{"$match": {"owner": mine}}], hint=hint))) == 5
    assert collection.count_documents({"owner": mine}, hint=hint) == 5


def test_a_page_from_an_ordered_index_reads_only_its_range(monkeypatch):
    """With the (owner, name, _id) index declared, a page after a cursor among 3,000 of the
    owner's documents reads the page and its look-ahead, whichever way it goes."""
    collection = EmbeddedClient().db.todos
    collection.create_index([("owner", 1), ("name", 1), ("_id", 1)])
    mine = OWNERS[0]
    collection.insert_many([{"owner": mine, "name": f"m{i:04}"} for i in range(3000)])
    collection.insert_many([{"owner": OWNERS[1], "name": f"o{i}"} for i in range(100)])
    checked = []
    applies = mongomock.filtering.filter_applies
    monkeypatch.setattr(embedded.filtering, "filter_applies",
                        lambda f, d: checked.append(d) or applies(f, d))
    for order, op, expected in ((1, "$gt", ["m1501", "m1502", "m1503"]),
                                (-1, "$lt", ["m1499", "m1498", "m1497"])):
        checked.clear()
        page = list(collection.aggregate([
            {"$match": {"$and": [{"owner": mine}, {"name": {op: "m1500"}}]}},
            {"$sort": {"name": order, "_id": order}}, {"$limit": 3}]))
        assert [d["name"] for d in page] == expected
        assert len(checked) == 3
    collection.update_one({"name": "m1501"}, {"$set": {"name": "m1500a"}})  # moves, in place
    collection.delete_one({"name": "m1502"})
    page = list(collection.aggregate([
        {"$match": {"$and": [{"owner": mine}, {"name": {"$gt": "m1500"}}]}},
        {"$sort": {"name": 1, "_id": 1}}, {"$limit": 3}]))
    assert [d["name"] for d in page] == ["m1500a", "m1503", "m1504"]


def test_copies_share_no_mutable_value_with_the_store(crowded):
    collection, mine = crowded
    collection.update_many({"owner": mine}, {"$set": {"tags": ["a"], "meta": {"k": [1]}}})
    for page in (list(collection.aggregate([{"$match": {"owner": mine}}, {"$sort": {"name": 1}},
                                            {"$limit": 2}])),
                 list(collection.aggregate([{"$match": {"owner": mine}}, {"$sort": {"name": 1}},
                                            {"$limit": 2}, {"$project": {"tags": 1, "meta": 1}}])),
                 [collection.find_one({"_id": collection.find_one({"owner": mine})["_id"]})]):
        for document in page:
            document["tags"].append("changed")
            document["meta"]["k"].append(2)
    stored = list(collection.find({"owner": mine}))
    assert stored and all(d["tags"] == ["a"] and d["meta"] == {"k": [1]} for d in stored)


def test_a_plain_inclusion_project_gives_mongomocks_fields_in_its_order(crowded):
    collection, mine = crowded
    pipeline = [{"$match": {"owner": mine}}, {"$sort": {"name": 1}}, {"$limit": 3},
                {"$project": {"owner": 1, "name": True}}]
    ours = list(collection.aggregate(pipeline))
    theirs = list(mongomock.collection.Collection.aggregate(collection, pipeline))
    assert len(ours) == 3
    assert [list(d.items()) for d in ours] == [list(d.items()) for d in theirs]
def test_expiry_reads_only_the_documents_that_expired(monkeypatch):
    """Under a TTL index, a lookup among 2,000 living documents looks at the earliest living
    one only, and still removes the ones whose time came."""
    collection = EmbeddedClient().db.revoked
    collection.create_index([("expires", 1)], expireAfterSeconds=0)
    collection.insert_many([{"_id": i, "expires": datetime(2100, 1, 1)} for i in range(2000)])
    collection.insert_many([{"_id": -i, "expires": datetime(2000, 1, 1)} for i in range(1, 3)])
    looked = []
    store = collection._store
    original = store._value_meets_expiry
    monkeypatch.setattr(store, "_value_meets_expiry",
                        lambda value, seconds, now: looked.append(value) or original(
                            value, seconds, now))
    assert collection.find_one({"_id": 5}) == {"_id": 5, "expires": datetime(2100, 1, 1)}
    assert collection.find_one({"_id": -1}) is None
    # each access of the store (a lookup makes a few) looks at the earliest living document
    # only; mongomock's scan looks at all 2,000 each time
    assert 0 < len(looked) <= 10
    collection.update_one({"_id": 7}, {"$set": {"expires": datetime(2000, 1, 1)}})
    assert collection.count_documents({}) == 1999


def test_an_index_declared_with_a_dicts_items_is_usable():
    """GridFS declares its indexes' keys as ``dict.items()`` (export files, jobs/files.py):
    counting such a collection with a filter used to raise a TypeError."""
    collection = EmbeddedClient().db["fs.files"]
    collection.create_index({"filename": 1, "uploadDate": 1}.items())
    collection.insert_many([{"filename": "a", "uploadDate": i, "owner": "o"} for i in range(3)])
    assert collection.count_documents({"owner": "o"}) == 3
    assert [d["uploadDate"] for d in collection.aggregate(
        [{"$match": {"filename": "a"}}, {"$sort": {"uploadDate": -1}}])] == [2, 1, 0]


def test_pages_follow_indexes_created_and_dropped_after_use():
    """The ordered indexes a page may walk are remembered between reads (every read asks):
    an index created, dropped, or all of them dropped at once is seen by the next page."""
    collection = EmbeddedClient().db.todos
    plain = mongomock.MongoClient().db.todos
    documents = [{"_id": IDS[i], "owner": OWNERS[i % 2], "name": NAMES[i % len(NAMES)],
                  "n": i % 3} for i in range(12)]
    page = [{"$match": {"owner": OWNERS[0]}}, {"$sort": {"n": -1, "_id": 1}}, {"$limit": 4}]
    for target in (collection, plain):
        target.insert_many(copy.deepcopy(documents))
    store = collection._store
    steps = [lambda c: c.create_index([("owner", 1), ("name", 1)]),
             lambda c: c.create_index([("owner", 1), ("n", -1), ("_id", 1)], name="by_n"),
             lambda c: c.drop_index("by_n"),
             lambda c: c.create_index([("owner", 1), ("n", 1), ("_id", 1)]),
             lambda c: c.drop_indexes()]
    walked = []
    for step in steps:
        for target in (collection, plain):
            step(target)
        fields = embedded_sorted._signature(store)
        assert fields == tuple(filter(None, map(embedded_sorted._usable_fields,
                                                store.indexes.values())))
        walked.append(("owner", "n", "_id") in fields)
        assert list(collection.aggregate(page)) == list(plain.aggregate(page))
    assert walked == [False, True, False, True, False]
