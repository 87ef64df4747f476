"""A review of the embedded DELETE's put-back (mongo_todos.todos.store.delete): a deletion
whose number or tombstone fails re-inserts the copy ``find_one_and_delete`` answered, before
the store's lock is let go. Each test pins one thing a reader could tell apart: the stored
document (fields, types, order), the lists, counts and indexes, the changes feed, and the
releaser's state for the number taken; and the point writes' one wrapper
(mongo_todos.store.embedded ``_direct``) against plain mongomock."""

from __future__ import annotations

import threading
from datetime import datetime

import mongomock
import pytest
from bson import ObjectId
from mongomock.collection import Collection
from pymongo.errors import AutoReconnect

from mongo_todos.store import embedded_point
from mongo_todos.store.embedded import EmbeddedClient, EmbeddedCollection
from mongo_todos.store.embedded_sorted import ORDERED
from mongo_todos.todos import sequence, store
from mongo_todos.todos.pagination import SORTS
from tests.changes.conftest import Replica, owner_of

TODOS = "/api/v1/todos"


class Killed(BaseException):
    """Not an Exception: what a kill thrown into a greenlet looks like to ``stamped``."""


def _id(url: str) -> ObjectId:
    return ObjectId(url.rsplit("/", 1)[1])


def _todo(client, headers) -> str:
    """A todo written twice (version 2), between a twin and a neighbour: the put-back stores
    it after them (mongomock's order), so every list sort must break its ties by ``_id``."""
    body = {"name": "Put back", "task": "t", "tags": ["a", "b"],
            "due_at": "2031-02-03T04:05:06.789Z", "done": True}
    client.post(TODOS, json=body, headers=headers)
    url = client.post(TODOS, json={**body, "done": False}, headers=headers).headers["Location"]
    etag = client.get(url, headers=headers).headers["ETag"]
    assert client.patch(url, json={"done": True}, headers={**headers, "If-Match": etag}
                        ).status_code == 200  # version 2, a later seq
    client.post(TODOS, json={**body, "name": "a neighbour"}, headers=headers)
    return url


def _raw(app, todo_id):
    """The stored document as the store holds it: every field with its type, in order."""
    with app.app_context():
        stored = store.collection()._store._documents[todo_id]
        return [(key, type(value), value) for key, value in stored.items()]


def _seen(app, client, headers, owner) -> dict:
    """Everything a reader can ask about the account's todos."""
    with app.app_context():
        todos = store.collection()
        ordered = todos._store.__dict__.get(ORDERED)
        entries = None if ordered is None else sorted(
            (index.partition_field, index.fields, tuple(e[:-2] + e[-1:] for e in part.entries))
            for index in ordered.indexes for part in index.partitions.values())
        by_owner = sorted(d["_id"] for d in todos.find({"owner": owner}, {"_id": 1}))
        count = todos.count_documents({"owner": owner})
    pages = {sort: client.get(TODOS, query_string={"sort": sort}, headers=headers).get_json()
             for sort in SORTS}
    return {"pages": pages, "entries": entries, "by_owner": by_owner, "count": count,
            "feed": Replica(client, headers).sync()["items"]}


def _failing_tombstones(monkeypatch, error: BaseException) -> None:
    def failing(owner, ids, seq):
        raise error

    monkeypatch.setattr(sequence, "tombstone_many", failing)


@pytest.mark.parametrize("error", [AutoReconnect("lost"), RuntimeError("a bug"), Killed()],
                         ids=["database", "known", "base-exception"])
def test_the_put_back_is_the_deleted_todo_exactly(app, client, headers, monkeypatch, error):
    url = _todo(client, headers)
    todo_id, owner = _id(url), owner_of(client, headers)
    raw, seen = _raw(app, todo_id), _seen(app, client, headers, owner)
    with monkeypatch.context() as patch:
        _failing_tombstones(patch, error)
        with app.test_request_context(), pytest.raises(type(error)):
            store.delete({"_id": todo_id, "owner": owner})
    assert _raw(app, todo_id) == raw
    assert _seen(app, client, headers, owner) == seen
    with app.app_context():
        assert sequence.tombstones().find_one({"_id": todo_id}) is None
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 410


def test_a_known_failure_settles_its_number_and_the_feed_does_not_wait(app, client, headers,
                                                                       monkeypatch, releaser):
    url = _todo(client, headers)
    owner, replica = owner_of(client, headers), Replica(client, headers)
    replica.sync()
    with monkeypatch.context() as patch:
        _failing_tombstones(patch, RuntimeError("a bug"))
        with app.test_request_context(), pytest.raises(RuntimeError):
            store.delete({"_id": _id(url), "owner": owner})
    with app.app_context():
        counter = sequence.counters().find_one({"_id": owner})
        assert sequence.safe_point(owner) == counter["seq"]  # the number taken is passed
    assert not any(block.pending for held in releaser._held.values() for block in held.values())
    renamed = client.patch(url, json={"name": "after"}, headers=headers)
    assert renamed.status_code == 200
    assert [t["name"] for t in replica.sync()["items"]] == ["after"]


@pytest.mark.parametrize("error", [AutoReconnect("lost"), Killed()], ids=["database", "base"])
def test_an_unknown_outcome_holds_the_feed_back_one_lease_at_most(app, client, headers,
                                                                  monkeypatch, releaser, clock,
                                                                  error):
    # on the embedded store nothing landed (the todo is back), but stamped cannot tell: the
    # number is left to its lease, as docs/sync.md says of an unknown outcome
    url = _todo(client, headers)
    owner, replica = owner_of(client, headers), Replica(client, headers)
    replica.sync()
    with monkeypatch.context() as patch:
        _failing_tombstones(patch, error)
        with app.test_request_context(), pytest.raises(type(error)):
            store.delete({"_id": _id(url), "owner": owner})
    assert client.patch(url, json={"name": "after"}, headers=headers).status_code == 200
    assert replica.sync()["items"] == []  # held back below the number left to its lease
    clock.advance(seconds=sequence.LEASE.total_seconds() + 1)
    assert [t["name"] for t in replica.sync()["items"]] == ["after"]


def _fail_after_the_tombstone(patch, where: str) -> None:
    if where == "trim":  # tombstone_many's trim, after its insert (or its renumbering)
        def trim_fails(owner):
            raise RuntimeError("the trim after the tombstone")

        patch.setattr(sequence, "trim", trim_fails)
        patch.setattr(sequence.random, "random", lambda: 0.0)
    else:  # stamped's commit, after the block: the number is never settled
        def commit_fails(reservation, deferred=False):
            raise RuntimeError("the commit after the tombstone")

        patch.setattr(sequence, "commit", commit_fails)


@pytest.mark.parametrize("where", ["trim", "commit"])
@pytest.mark.parametrize("times", [1, 2], ids=["insert", "renumber"])
def test_a_failure_after_the_tombstone_landed_leaves_a_harmless_tombstone(
        app, client, headers, monkeypatch, releaser, clock, where, times):
    url = _todo(client, headers)
    todo_id, owner = _id(url), owner_of(client, headers)
    replica = Replica(client, headers)
    replica.sync()
    raw = _raw(app, todo_id)
    for _ in range(times):  # the second time, tombstone_many finds the first's: renumbers it
        with monkeypatch.context() as patch:
            _fail_after_the_tombstone(patch, where)
            with app.test_request_context(), pytest.raises(RuntimeError):
                store.delete({"_id": todo_id, "owner": owner})
    assert _raw(app, todo_id) == raw
    with app.app_context():
        landed = sequence.tombstones().find_one({"_id": todo_id})
    assert landed is not None and landed["seq"] > dict((k, v) for k, _, v in raw)["seq"]
    assert replica.sync()["items"] == []  # a tombstone of a living todo means nothing
    assert client.get(url, headers=headers).status_code == 200
    # the next DELETE renumbers it: the deletion is heard of (after the lease of a number
    # never settled, for the commit that failed)
    assert client.delete(url, headers=headers).status_code == 204
    with app.app_context():
        assert sequence.tombstones().find_one({"_id": todo_id})["seq"] > landed["seq"]
    if where == "commit":
        clock.advance(seconds=sequence.LEASE.total_seconds() + 1)
    assert [(t["id"], t["deleted"]) for t in replica.sync()["items"]] == [(str(todo_id), True)]


# --- the point writes' one wrapper ----------------------------------------------------------

def test_the_wrappers_keep_their_names_docs_and_the_lock():
    for name in ("find_one_and_update", "update_one", "delete_one", "find_one_and_delete"):
        method = getattr(EmbeddedCollection, name)
        assert method.__name__ == name and method.__doc__ == getattr(Collection, name).__doc__
    client = EmbeddedClient()
    collection = client.db.c
    collection.insert_one({"_id": 1, "x": 1})
    held = []
    real = embedded_point.find_one_and_delete

    def spy(*args, **kwargs):
        held.append(client.lock._owner == threading.get_ident())
        return real(*args, **kwargs)

    embedded_point.find_one_and_delete, saved = spy, real  # looked up at each call
    try:
        assert collection.find_one_and_delete({"_id": 1}) == {"_id": 1, "x": 1}
    finally:
        embedded_point.find_one_and_delete = saved
    assert held == [True]


WHEN = datetime(2030, 1, 2, 3, 4, 5, 6000)
CALLS = [
    ((), {}), ((None, None), {}), ((), {"projection": None, "sort": None}),
    ((), {"session": None, "hint": None, "collation": None}), ((), {"let": None}),
    ((), {"comment": "c"}), ((), {"hint": "x_1"}), ((["n"],), {}), (({"n": 1},), {}),
    ((None, [("n", 1)]), {}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
@pytest.mark.parametrize("spec", [
    {"_id": "a"}, {"_id": "a", "o": "me"}, {"_id": "a", "o": "you"}, {"_id": "zz"},
    {"_id": "a", "$and": [{"n": {"$gt": 0}}]}, {"_id": "a", "tags": "t"},
])
def test_find_one_and_delete_answers_as_mongomock(args, kwargs, spec):
    stored = [{"_id": "a", "o": "me", "n": 2, "tags": ["t", ["u"]], "at": WHEN,
               "sub": {"k": [1, {"v": 2}]}}, {"_id": "b", "o": "me", "n": 1}]
    wrapped, plain = EmbeddedClient().db.c, mongomock.MongoClient().db.c
    for collection in (wrapped, plain):
        collection.create_index([("o", 1), ("n", 1)])
        collection.insert_many([dict(d) for d in stored])
    found = wrapped.find_one_and_delete(dict(spec), *args, **kwargs)
    expected = plain.find_one_and_delete(dict(spec), *args, **kwargs)
    assert found == expected
    if found is not None:  # the same fields, types and order
        assert [(k, type(v)) for k, v in found.items()] == [
            (k, type(v)) for k, v in expected.items()]
        if "sub" in found:  # a result sharing nothing with the store
            found["sub"]["k"][1]["v"] = "scribbled"
    assert list(wrapped.find()) == list(plain.find())
    assert list(wrapped.find({"o": "me"}).sort("n", 1)) == list(plain.find({"o": "me"}).sort("n", 1))
    assert wrapped.count_documents({"o": "me"}) == plain.count_documents({"o": "me"})


@pytest.mark.parametrize(("name", "args", "kwargs"), [
    ("delete_one", ({"_id": "a"}, None), {}),  # collation, positional (pymongo's order too)
    ("delete_one", ({"_id": "a"}, None, None, None), {}),
    ("delete_one", ({"_id": "a"},), {"collation": None, "hint": None, "session": None}),
    ("update_one", ({"_id": "a"}, {"$set": {"n": 3}}, False, False), {}),
    ("update_one", ({"_id": "a"}, {"$set": {"n": 3}}, False, False, None, None, None, None,
                    None), {}),
    ("update_one", ({"_id": "a"}, {"$set": {"n": 3}}, True), {"array_filters": None}),
    ("find_one_and_update", ({"_id": "a"}, {"$inc": {"n": 1}}, None, None, False), {}),
])
def test_positional_options_reach_the_store_as_mongomock_takes_them(name, args, kwargs):
    wrapped, plain = EmbeddedClient().db.c, mongomock.MongoClient().db.c
    answers = []
    for collection in (wrapped, plain):
        collection.insert_many([{"_id": "a", "n": 1}, {"_id": "b", "n": 2}])
        found = getattr(collection, name)(*args, **kwargs)
        raw = getattr(found, "raw_result", found)
        answers.append({k: v for k, v in raw.items() if k != "connectionId"})  # per client
    assert answers[0] == answers[1]
    assert list(wrapped.find()) == list(plain.find())


@pytest.mark.parametrize("name", ["delete_one", "update_one"])
def test_an_unknown_option_is_a_type_error_as_in_mongomock(name):
    args = ({"_id": "a"},) if name == "delete_one" else ({"_id": "a"}, {"$set": {"n": 3}})
    for collection in (EmbeddedClient().db.c, mongomock.MongoClient().db.c):
        collection.insert_one({"_id": "a", "n": 1})
        with pytest.raises(TypeError, match="comment"):
            getattr(collection, name)(*args, comment="c")
        assert collection.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
