"""Database round trips per request type, pinned: a regression (a read before a write, a
lookup per item) shows up here. Counted on the embedded store as calls into the collection
API, outermost only (mongomock's find_one calls its own find, which is still one round trip)."""

import threading
import time

import pytest

from mongo_todos.store.embedded import EmbeddedCollection
from mongo_todos.todos import leases, sequence
from mongo_todos.todos import store as todo_store
from tests.conftest import bearer

OPERATIONS = ["find", "find_one", "insert_one", "insert_many", "update_one", "update_many",
              "find_one_and_update", "find_one_and_delete", "delete_one", "delete_many",
              "aggregate", "count_documents", "replace_one"]


@pytest.fixture
def round_trips(monkeypatch):
    calls = []
    depth = threading.local()
    # the test's thread, which runs its requests: not the changes feed's releaser thread
    home = threading.get_ident()

    def wrap(name, original):
        def counted(self, *args, **kwargs):
            outermost = getattr(depth, "n", 0) == 0
            if outermost and threading.get_ident() == home:
                calls.append(f"{self.name}.{name}")
            depth.n = getattr(depth, "n", 0) + 1
            try:
                return original(self, *args, **kwargs)
            finally:
                depth.n -= 1
        return counted

    for name in OPERATIONS:
        monkeypatch.setattr(EmbeddedCollection, name,
                            wrap(name, getattr(EmbeddedCollection, name)))

    class Counter:
        def during(self, action):
            calls.clear()
            response = action()
            return response, list(calls)

    return Counter()


def test_round_trips_per_request(client, auth, round_trips, releaser, monkeypatch, clock):
    # a deletion checks the tombstone cap at random, once in TRIM_EVERY: never here
    monkeypatch.setattr(sequence, "TRIM_EVERY", float("inf"))
    auth.register()
    tokens = auth.login()
    h = bearer(tokens["access_token"])
    todo = client.post("/api/v1/todos", json={"name": "x"}, headers=h)
    url, etag = todo.headers["Location"], todo.headers["ETag"]

    def trips(action, status):
        response, calls = round_trips.during(action)
        assert response.status_code == status, response.get_data(as_text=True)
        return calls

    revocation = "sessions.find_one"  # the session lookup of every authenticated request
    assert trips(lambda: client.post("/api/v1/users", json={"username": "bob", "password": "correct horse"}), 201) == ["users.insert_one"]
    assert trips(lambda: client.post("/api/v1/tokens", auth=("bob", "correct horse")), 200) == ["users.find", "sessions.insert_one", "users.find_one"]
    assert trips(lambda: client.get("/api/v1/users/me", headers=h), 200) == [revocation, "users.find"]
    assert trips(lambda: client.get(url, headers=h), 200) == [revocation, "todos.find_one"]
    assert trips(lambda: client.get(url, headers={**h, "If-None-Match": etag}), 304) == [revocation, "todos.find_one"]
    assert trips(lambda: client.get("/api/v1/todos", headers=h), 200) == [revocation, "todos.aggregate"]
    assert trips(lambda: client.get("/api/v1/todos?count=true", headers=h), 200) == [revocation, "todos.aggregate", "todos.count_documents"]
    # every todo write takes a number of the changes feed (todos/sequence.py): from this
    # process's open block of the account, or with a reservation of a new block (one number
    # for a lone write; in a burst twice what the last block handed out, so a reservation
    # here every second, then fourth write); a lease is released by the next reservation, or
    # by the releaser thread (held off here). "x" above took block [1].
    reserve = "sync_counters.find_one_and_update"
    assert trips(lambda: client.post("/api/v1/todos", json={"name": "y"}, headers=h), 201) == [revocation, "todos.count_documents", reserve, "todos.insert_one"]  # TODO_QUOTA; [2, 3]
    assert trips(lambda: client.patch(url, json={"done": True}, headers={**h, "If-Match": etag}), 200) == [revocation, "todos.find_one_and_update"]  # 3
    assert trips(lambda: client.put(url, json={"name": "z"}, headers=h), 200) == [revocation, reserve, "todos.find_one_and_update"]  # [4 .. 7]
    assert trips(lambda: client.patch(url, json={"done": False}, headers={**h, "If-Match": etag}), 412) == [revocation, "todos.find_one_and_update", "todos.find_one"]  # 5
    keyed = {**h, "Idempotency-Key": "k"}
    assert trips(lambda: client.post("/api/v1/todos", json={"name": "k"}, headers=keyed), 201) == [revocation, "idempotency_keys.insert_one", "todos.count_documents", "todos.insert_one", "idempotency_keys.update_one"]  # 6
    assert trips(lambda: client.post("/api/v1/todos", json={"name": "k"}, headers=keyed), 201) == [revocation, "idempotency_keys.insert_one", "idempotency_keys.find_one"]
    # a delete, on the embedded store: the delete, then (it deleted a todo) its tombstone,
    # both under the store's lock; on MongoDB a read first and the tombstone before the
    # delete (test_delete_on_mongodb_reads_then_tombstones_then_deletes below)
    assert trips(lambda: client.delete(url, headers=h), 204) == [revocation, "todos.find_one_and_delete", "todo_tombstones.insert_one"]  # 7
    url2 = client.post("/api/v1/todos", json={"name": "v"}, headers=h).headers["Location"]
    assert trips(lambda: client.put(url2, json={"name": "v2"}, headers=h), 200) == [revocation, "todos.find_one_and_update"]  # [8 .. 15]: 9
    releaser.flush()  # closes the open block
    clock.advance(seconds=2)  # and a while later, a lone write: a block of one number
    assert trips(lambda: client.delete(url2, headers=h), 204) == [revocation, "todos.find_one_and_delete", reserve, "todo_tombstones.insert_one"]
    # a delete that deletes nothing takes no number and writes no tombstone
    assert trips(lambda: client.delete(url, headers=h), 410) == [revocation, "todos.find_one_and_delete", "todo_tombstones.find_one"]
    # the changes feed: a poll with nothing new reads the counter only; one with changes the
    # two ranges (todos, tombstones), whether a trim forgot tombstones meanwhile, and whether
    # the tombstoned todos are gone
    since = client.get("/api/v1/todos/changes", headers=h).get_json()["since"]
    changes = f"/api/v1/todos/changes?since={since}"
    assert trips(lambda: client.get(changes, headers=h), 200) == [revocation, "sync_counters.find_one"]
    client.delete(todo2 := client.post("/api/v1/todos", json={"name": "w"}, headers=h).headers["Location"], headers=h)
    assert trips(lambda: client.get(changes, headers=h), 200) == [revocation, "sync_counters.find_one", "todos.aggregate", "todo_tombstones.aggregate", "sync_counters.find_one", "todos.find"]
    assert trips(lambda: client.get(todo2, headers=h), 410) == [revocation, "todos.find_one", "todo_tombstones.find_one"]
    assert round_trips.during(releaser.flush)[1] == ["sync_counters.update_one"]  # all leases
    assert trips(lambda: client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"])), 200) == [revocation, "sessions.update_one"]
    assert trips(lambda: client.delete("/api/v1/tokens", headers=h), 204) == [revocation, "revoked_families.update_one", "sessions.delete_one"]


def test_delete_on_mongodb_reads_then_tombstones_then_deletes(client, auth, round_trips,
                                                             monkeypatch):
    """Without the embedded store's one lock (on MongoDB
    :func:`~mongo_todos.store.embedded_lock.one_hold` is None) a deletion reads first (no tombstone for an id the account does not
    have), then writes the tombstone, then deletes (a crash between leaves a tombstone of a
    living todo, never a deletion nobody hears of)."""
    monkeypatch.setattr(sequence, "TRIM_EVERY", float("inf"))
    monkeypatch.setattr(todo_store, "one_hold", lambda collection: None)
    h = auth.headers()
    url = client.post("/api/v1/todos", json={"name": "x"}, headers=h).headers["Location"]
    other = client.post("/api/v1/todos", json={"name": "y"},
                        headers=auth.headers("carol")).headers["Location"]
    response, calls = round_trips.during(lambda: client.delete(url, headers=h))
    assert response.status_code == 204
    assert calls == ["sessions.find_one", "todos.find_one", "sync_counters.find_one_and_update",
                     "todo_tombstones.insert_one", "todos.delete_one"]
    response, calls = round_trips.during(lambda: client.delete(other, headers=h))
    assert response.status_code == 404
    assert calls == ["sessions.find_one", "todos.find_one", "todo_tombstones.find_one"]
    assert client.get(other, headers=auth.headers("carol")).status_code == 200
    assert client.get(url, headers=h).status_code == 410


def test_only_the_requests_own_round_trips_count(client, auth, round_trips, monkeypatch):
    # the changes feed's releaser thread writes on its own, whenever a request's lease waits
    monkeypatch.setattr(leases, "RELEASE_DELAY", 0)
    client.post("/api/v1/todos", json={"name": "x"}, headers=auth.headers())
    assert round_trips.during(lambda: time.sleep(0.3))[1] == []


def test_round_trips_of_pages_after_a_cursor(client, auth, round_trips):
    h = auth.headers()
    for name in ("a", "b", "c", "d"):  # distinct names; all four undated (one due_sort)
        client.post("/api/v1/todos", json={"name": name}, headers=h)

    def trips(url):
        response, calls = round_trips.during(lambda: client.get(url, headers=h))
        assert response.status_code == 200
        return response.get_json()["links"], calls

    revocation = "sessions.find_one"  # the session lookup of every authenticated request
    links, _ = trips("/api/v1/todos?sort=name&limit=2")
    # distinct keys: the first page's look-ahead showed the key run ends at the cursor
    links, calls = trips(links["next"])
    assert calls == [revocation, "todos.aggregate"]
    # back: the page's first key differs from its cursor's, so that key's run cannot go on
    # before it either, and one query reads the previous page
    _, calls = trips(links["prev"])
    assert calls == [revocation, "todos.aggregate"]
    # a run of equal keys that goes on past the page: one query for the rest of the run ...
    links, _ = trips("/api/v1/todos?sort=due_at&limit=1")
    links, calls = trips(links["next"])
    assert calls == [revocation, "todos.aggregate"]
    # ... and two when the run ends inside the page (the rest of it, then the keys beyond)
    _, calls = trips(links["next"].replace("limit=1", "limit=3"))
    assert calls == [revocation, "todos.aggregate", "todos.aggregate"]


def test_round_trips_of_account_and_session_requests(client, auth, round_trips):
    """The account operations stay bounded: no lookup per session, whatever their number."""
    auth.register()
    h = bearer(auth.login()["access_token"])
    for _ in range(3):
        auth.login()

    def trips(action, status):
        response, calls = round_trips.during(action)
        assert response.status_code == status, response.get_data(as_text=True)
        return calls

    revocation = "sessions.find_one"  # the session lookup of every authenticated request
    assert trips(lambda: client.get("/api/v1/users/me/sessions", headers=h), 200) == [revocation, "sessions.find"]
    other = client.get("/api/v1/users/me/sessions", headers=h).get_json()["items"][-1]["url"]
    assert trips(lambda: client.delete(other, headers=h), 204) == [
        revocation, "sessions.find_one", "revoked_families.update_one", "sessions.delete_one"]
    assert trips(lambda: client.delete("/api/v1/users/me/sessions", headers=h), 204) == [
        revocation, "sessions.find", "revoked_families.insert_many", "sessions.delete_many"]
    assert trips(lambda: client.put("/api/v1/users/me/password", json={"current_password": "correct horse", "new_password": "battery staple"}, headers=h), 204) == [
        revocation, "users.find", "users.update_one", "sessions.find"]  # no other session left
    assert trips(lambda: client.delete("/api/v1/users/me", json={"password": "battery staple"}, headers=h), 204) == [
        revocation, "users.find", "users.update_one", "sessions.find", "todos.delete_many",
        "idempotency_keys.delete_many", "todo_tombstones.delete_many", "sync_counters.delete_one",
        # the account's jobs and their files (the jobs' eraser, accounts/erasure.py)
        "jobs.find", "jobs.delete_many", "exports.files.find", "imports.files.find",
        "users.delete_one", "sessions.find",
        "revoked_families.update_one", "sessions.delete_one"]
