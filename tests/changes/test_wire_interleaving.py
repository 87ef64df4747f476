"""The worst interleaving of two writers, through the real pymongo driver, on the scripted
wire-protocol server (tests/support/mongo_wire.py) backed by an in-memory database: writer A
reserves its number and stalls before its write reaches the server; writer B reserves and
writes; a reader polls; only then does A's write land. The reader must not skip A: it sees
nothing while A is in flight, then A and B in order: at once when it runs in the writers'
process (which knows both leases finished), once the leases are released when it stands for
another process's reader."""

from __future__ import annotations

import threading

import bson
import mongomock
import pytest
from bson import ObjectId

from mongo_todos import create_app
from mongo_todos.changes import feed
from mongo_todos.todos import store
from tests.conftest import TEST_CONFIG, TEST_ENV
from tests.support.mongo_wire import FakeMongo

BASE = "http://localhost/api/v1/todos/"


class Backend:
    """Answers the commands the feed and the todo store send, from a mongomock database;
    ``gate(name, command)`` may block a command's answer (the server is then mid-command)."""

    def __init__(self, gate):
        self.db = mongomock.MongoClient().db
        self.gate = gate
        self.log: list[tuple[str, str]] = []

    def __call__(self, name, command):
        handler = getattr(self, "_" + name, None)
        if handler is None:
            return {"ok": 1.0}
        collection = self.db[command[name]]
        self.log.append((name, command[name]))
        self.gate(name, command)
        return handler(collection, command)

    def _find(self, collection, command):
        cursor = collection.find(command.get("filter", {}), command.get("projection"))
        if command.get("sort"):
            cursor = cursor.sort(list(command["sort"].items()))
        if command.get("limit"):
            cursor = cursor.limit(command["limit"])
        return {"cursor": {"id": bson.Int64(0), "ns": f"db.{collection.name}",
                           "firstBatch": list(cursor)}, "ok": 1.0}

    def _aggregate(self, collection, command):
        return {"cursor": {"id": bson.Int64(0), "ns": f"db.{collection.name}",
                           "firstBatch": list(collection.aggregate(command["pipeline"]))},
                "ok": 1.0}

    def _insert(self, collection, command):
        collection.insert_many(command["documents"])
        return {"n": len(command["documents"]), "ok": 1.0}

    def _update(self, collection, command):
        n = modified = 0
        for one in command["updates"]:
            run = collection.update_many if one.get("multi") else collection.update_one
            result = run(one["q"], one["u"], upsert=one.get("upsert", False))
            n, modified = n + result.matched_count, modified + result.modified_count
        return {"n": n, "nModified": modified, "ok": 1.0}

    def _findAndModify(self, collection, command):  # noqa: N802 (the command's name)
        if command.get("remove"):
            value = collection.find_one_and_delete(command["query"])
        else:
            value = collection.find_one_and_update(
                command["query"], command["update"], projection=command.get("fields"),
                upsert=command.get("upsert", False), return_document=command.get("new", False))
        return {"value": value, "lastErrorObject": {"n": int(value is not None)}, "ok": 1.0}

    def _delete(self, collection, command):
        n = 0
        for one in command["deletes"]:
            run = collection.delete_one if one.get("limit") == 1 else collection.delete_many
            n += run(one["q"]).deleted_count
        return {"n": n, "ok": 1.0}


@pytest.mark.parametrize("numbers", ["own reservations", "one block"])
@pytest.mark.parametrize("reader", ["in the writers' process", "in another process"])
def test_a_reader_never_skips_a_writer_that_reserved_first_and_committed_last(request, reader,
                                                                              numbers):
    releaser = request.getfixturevalue("elsewhere" if reader == "in another process"
                                       else "releaser")
    a_sent, a_may_land = threading.Event(), threading.Event()

    def gate(name, command):
        if name == "insert" and command["insert"] == "todos" and \
                command["documents"][0]["name"] == "A":
            a_sent.set()
            assert a_may_land.wait(30)

    backend = Backend(gate)
    owner = ObjectId()
    with FakeMongo(backend) as server:
        app = create_app({**TEST_CONFIG, "TODO_QUOTA": 0},
                         env={**TEST_ENV, "MONGODB_URI": server.uri,
                              "MONGODB_REQUEST_TIMEOUT_MS": "0"})
        errors = []

        def writer_a():
            try:
                with app.app_context():
                    store.create(owner, {"name": "A"})
            except BaseException as error:  # reported below
                errors.append(error)

        with app.app_context():
            if numbers == "one block":  # C first: A's reservation then takes a block of two
                store.create(owner, {"name": "C"})  # numbers, and B the second one of them
                releaser.flush()  # C's lease released, as the releaser would a moment later
            start = feed.changes(owner, None, 10, BASE)
            assert [c["name"] for c in start.items] == (["C"] if numbers == "one block" else [])
            a = threading.Thread(target=writer_a)
            a.start()
            assert a_sent.wait(30)  # A has reserved; its insert is held at the server
            b = store.create(owner, {"name": "B"})  # B reserves after A, writes, commits
            during = feed.changes(owner, start.since, 10, BASE)
            a_may_land.set()
            a.join(30)
            assert not errors, errors
            landed = feed.changes(owner, during.since, 10, BASE)
            releaser.flush()
            after = feed.changes(owner, landed.since, 10, BASE)
    assert during.items == []  # B is finished, but A's lower number is still in flight
    changes = landed.items if reader == "in the writers' process" else after.items
    assert [(c["name"], c["deleted"]) for c in changes] == [("A", False), ("B", False)]
    assert changes[1]["id"] == str(b["_id"])
    if reader == "in another process":  # it learns of A and B once their leases are released
        assert landed.items == []
    else:
        assert after.items == []
    # the writes in the order they reached the server: A reserved and sent its insert, held
    # there; B reserved and wrote; A's insert was answered only after the reader's poll; the
    # releaser then released both leases in one update
    # (in one block: C reserved, wrote and was released; A reserved two numbers, B took the
    # second)
    writes = [entry for entry in backend.log if entry[0] in ("insert", "update",
                                                              "findAndModify")]
    reservation, insert = ("findAndModify", "sync_counters"), ("insert", "todos")
    if numbers == "one block":
        assert writes == [reservation, insert, ("update", "sync_counters"), reservation,
                          insert, insert, ("update", "sync_counters")]
    else:
        assert writes == [reservation, insert, reservation, insert, ("update", "sync_counters")]
