"""A review of the embedded store's DELETE (mongo_todos.todos.store.delete): the todo's
``delete_one``, then (only if it deleted one) its number and tombstone, all under the store's
one lock (mongo_todos.store.embedded_lock.one_hold). Each test pins one part of
docs/sync.md's argument: the lock covers every collection a reader of the deletion reads; no other client
sees the todo gone without its tombstone; a DELETE that deletes nothing (an unknown id,
another account's todo, a failed If-Match, a todo deleted already) takes no number and
writes nothing, and answers as before."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import mongomock
import pymongo
from bson import ObjectId
from pymongo.errors import AutoReconnect

from mongo_todos.store.embedded_lock import one_hold
from mongo_todos.todos import sequence, store
from tests.conftest import assert_problem

TODOS = "/api/v1/todos"
ROOT = Path(__file__).resolve().parents[2]


def _id(url: str) -> ObjectId:
    return ObjectId(url.rsplit("/", 1)[1])


def test_one_lock_holds_the_todos_their_tombstones_and_the_counters(app):
    with app.app_context():
        hold = one_hold(store.collection())
        assert hold is not None
        assert one_hold(sequence.tombstones()) is hold
        assert one_hold(sequence.counters()) is hold


def test_no_lock_for_mongodb_nor_a_plain_mongomock():
    # (pymongo's client answers ``client.lock`` with a database named "lock")
    client = pymongo.MongoClient("mongodb://127.0.0.1:9", connect=False)
    try:
        assert one_hold(client.db.todos) is None
    finally:
        client.close()
    assert one_hold(mongomock.MongoClient().db.todos) is None


def test_no_other_client_sees_the_todo_gone_without_its_tombstone(app, client, headers,
                                                                 monkeypatch):
    url = client.post(TODOS, json={"name": "x"}, headers=headers).headers["Location"]
    todo_id, seen, waited = _id(url), {}, {}
    original = sequence.tombstone_many

    def read():  # another request, reading while the deletion runs
        with app.app_context():
            seen["todo"] = store.collection().find_one({"_id": todo_id}, {"_id": 1})
            seen["tombstone"] = sequence.tombstones().find_one({"_id": todo_id}, {"seq": 1})

    def tombstone_many(owner, ids, seq):  # the todo is deleted already, the lock still held
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(0.3)
        waited["reader"] = reader.is_alive()  # waiting for the lock, not reading
        original(owner, ids, seq)
        waited["thread"] = reader

    monkeypatch.setattr(sequence, "tombstone_many", tombstone_many)
    assert client.delete(url, headers=headers).status_code == 204
    waited["thread"].join(5)
    assert waited["reader"] is True
    assert seen["todo"] is None and seen["tombstone"] is not None


def test_deletes_that_delete_nothing_take_no_number_and_write_nothing(client, headers, auth,
                                                                     monkeypatch):
    created = client.post(TODOS, json={"name": "mine"}, headers=headers)
    url, stale = created.headers["Location"], created.headers["ETag"]
    assert client.patch(url, json={"done": True}, headers=headers).status_code == 200
    theirs = client.post(TODOS, json={"name": "theirs"},
                         headers=auth.headers("carol")).headers["Location"]
    taken, tombstoned = [], []
    take, tombstone_many = sequence.take, sequence.tombstone_many
    monkeypatch.setattr(sequence, "take", lambda owner: taken.append(owner) or take(owner))
    monkeypatch.setattr(sequence, "tombstone_many", lambda owner, ids, seq: (
        tombstoned.append(ids), tombstone_many(owner, ids, seq)))

    assert_problem(client.delete(f"{TODOS}/{ObjectId()}", headers=headers), 404)
    assert_problem(client.delete(theirs, headers=headers), 404)  # another account's todo
    assert_problem(client.delete(url, headers={**headers, "If-Match": stale}), 412)
    assert taken == [] and tombstoned == []
    assert client.get(theirs, headers=auth.headers("carol")).status_code == 200
    assert client.get(url, headers=headers).status_code == 200

    assert client.delete(url, headers=headers).status_code == 204
    assert len(taken) == 1 and tombstoned == [[_id(url)]]
    assert_problem(client.delete(url, headers=headers), 410, type="todo-deleted")
    assert_problem(client.delete(url, headers={**headers, "If-Match": stale}), 410,
                   type="todo-deleted")
    assert len(taken) == 1 and len(tombstoned) == 1  # the repeats took nothing
    # another account asking for it: a 404, and no tombstone of its own
    assert_problem(client.delete(url, headers=auth.headers("carol")), 404)
    assert len(taken) == 1 and len(tombstoned) == 1


def test_a_tombstone_that_fails_leaves_the_todo_or_its_tombstone(client, headers, monkeypatch):
    # (the review's finding: the deleted todo is put back, as it was, in its lists too)
    url = client.post(TODOS, json={"name": "x"}, headers=headers).headers["Location"]
    before = client.get(url, headers=headers).get_json()

    def unavailable(owner, ids, seq):
        raise AutoReconnect("the tombstone's write did not land")

    with monkeypatch.context() as patch:
        patch.setattr(sequence, "tombstone_many", unavailable)
        assert client.delete(url, headers=headers).status_code == 503
    after = client.get(url, headers=headers)
    assert after.status_code == 200 and after.get_json() == before
    assert [t["id"] for t in client.get(TODOS, headers=headers).get_json()["items"]] == [
        before["id"]]
    # and the next DELETE goes through, with its tombstone
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 410


# --- gevent --------------------------------------------------------------------------------------

_UNDER_GEVENT = '''
from gevent import monkey
monkey.patch_all()
import gevent
from mongo_todos import create_app
from mongo_todos.todos import leases, sequence
from tests.conftest import TEST_CONFIG, TEST_ENV

app = create_app(dict(TEST_CONFIG), env=dict(TEST_ENV))
web = app.test_client()
web.post("/api/v1/users", json={"username": "alice", "password": "correct horse"})
token = web.post("/api/v1/tokens", auth=("alice", "correct horse")).get_json()["access_token"]
h = {"Authorization": "Bearer " + token}
urls = [web.post("/api/v1/todos", json={"name": str(i)}, headers=h).headers["Location"]
        for i in range(30)]
leases.RELEASE_DELAY = 0.001
sequence.RELEASER._pid = None  # the next finished write starts a releaser greenlet: a DELETE
original, failures, todos, token = sequence.tombstone_many, [], {}, [None]

def tombstone_many(owner, ids, seq):  # a yield between the delete and its tombstone
    gevent.sleep(0)
    original(owner, ids, seq)

sequence.tombstone_many = tombstone_many

def deleter(mine):
    client = app.test_client()
    for url in mine:
        status = client.delete(url, headers=h).status_code
        if status != 204:
            failures.append(f"DELETE {status}")

def creator():
    client = app.test_client()
    for i in range(10):
        client.post("/api/v1/todos", json={"name": f"n{i}"}, headers=h)
        gevent.sleep(0)

def poll(client):
    query = {"since": token[0]} if token[0] else {}
    body = client.get("/api/v1/todos/changes", query_string=query, headers=h).get_json()
    for change in body["items"]:
        if change["deleted"]:
            todos.pop(change["id"], None)
        else:
            todos[change["id"]] = change["name"]
    token[0] = body["since"]
    return body

def syncer():
    client = app.test_client()
    for _ in range(40):
        poll(client)
        gevent.sleep(0)

with gevent.Timeout(30):
    gevent.joinall([gevent.spawn(deleter, urls[i::3]) for i in range(3)]
                   + [gevent.spawn(creator), gevent.spawn(syncer)], raise_error=True)
    gevent.sleep(0.05)  # the releaser greenlet's last round
    while poll(web)["has_more"]:
        pass
listed = web.get("/api/v1/todos?limit=100", headers=h).get_json()["items"]
assert failures == [], failures[:3]
assert todos == {t["id"]: t["name"] for t in listed}, (len(todos), len(listed))
assert len(listed) == 10
print("ok")
'''


def test_under_gevent_deletes_the_feed_and_the_releaser_greenlet_finish_and_agree():
    """One gevent worker on the embedded store: three greenlets deleting (each yielding
    between its delete and its tombstone, inside the store's lock; the releaser greenlet
    started inside one of them), one creating, one syncing through the changes feed, and the
    releaser greenlet flushing through the store: no deadlock between the store's FairLock
    and the releaser's lock, every DELETE a 204, and the synced copy is the server's."""
    result = subprocess.run([sys.executable, "-c", _UNDER_GEVENT], capture_output=True,
                            text=True, timeout=90, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
