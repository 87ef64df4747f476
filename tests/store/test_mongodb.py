"""The MongoDB client: its defaults (majority writes, primary reads, timeouts) that the URI
may override, its request budget, and the hashed shard key on every todo query and write."""

from __future__ import annotations

import pytest

from mongo_todos import ConfigError, create_app
from mongo_todos.store.documents import SHARD_KEY_INDEX, Todo
from mongo_todos.store.embedded import EmbeddedCollection
from mongo_todos.store.mongodb import client_options
from tests.conftest import TEST_ENV


def test_client_defaults_majority_writes_primary_reads_and_timeouts():
    options = client_options("mongodb://db1,db2/app?replicaSet=rs0")
    assert options["w"] == "majority" and options["readPreference"] == "primary"
    assert options["serverSelectionTimeoutMS"] == options["connectTimeoutMS"] == 3000
    assert "db" not in options  # the URI names it


def test_the_uri_overrides_every_default():
    options = client_options("mongodb://db/?W=1&readPreference=secondaryPreferred"
                             "&serverSelectionTimeoutMS=100&connectTimeoutMS=50")
    for name in ("w", "readPreference", "serverSelectionTimeoutMS", "connectTimeoutMS"):
        assert name not in options
    assert options["db"] == "mongo_todos"


@pytest.mark.parametrize("value", ["-1", "soon", "1.5"])
def test_an_invalid_request_budget_stops_the_start_up(value):
    with pytest.raises(ConfigError, match="MONGODB_REQUEST_TIMEOUT_MS"):
        create_app(env={**TEST_ENV, "MONGODB_REQUEST_TIMEOUT_MS": value})


def test_the_shard_key_index_is_declared_and_created(app):
    with app.app_context():
        info = Todo._get_collection().index_information()
    # _id after the hashed owner: one user's todos can split into several chunks
    assert info[SHARD_KEY_INDEX]["key"] == [("owner", "hashed"), ("_id", 1)]


_OPERATIONS = ["find", "find_one", "insert_one", "insert_many", "update_one", "update_many",
               "find_one_and_update", "find_one_and_delete", "find_one_and_replace",
               "delete_one", "delete_many", "aggregate", "count_documents", "replace_one"]


def _carries_owner(query) -> bool:
    if not isinstance(query, dict):
        return False
    return "owner" in query or any(_carries_owner(q) for q in query.get("$and", []))


def test_every_todo_query_and_write_carries_the_shard_key(client, auth, monkeypatch):
    headers = auth.headers()
    calls = []
    depth = [0]  # outermost calls only: mongomock's methods call each other

    def spying(name, original):
        def spy(self, *args, **kwargs):
            if self.name == "todos" and depth[0] == 0:
                calls.append((name, args[0] if args else kwargs.get("filter")))
            depth[0] += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
        return spy

    for name in _OPERATIONS:
        monkeypatch.setattr(EmbeddedCollection, name,
                            spying(name, getattr(EmbeddedCollection, name)))
    created = client.post("/api/v1/todos", json={"name": "a", "task": "x"}, headers=headers)
    url, etag = created.headers["Location"], created.headers["ETag"]
    client.post("/api/v1/todos", json={"name": "b"}, headers={**headers, "Idempotency-Key": "k"})
    client.post("/api/v1/todos", json={"name": "b"}, headers={**headers, "Idempotency-Key": "k"})
    client.get(url, headers=headers)
    page = client.get("/api/v1/todos?limit=1&q=a&count=true&sort=name", headers=headers).get_json()
    client.get("/api/v1/todos?limit=1&sort=name", headers=headers)
    client.get(page["links"]["first"], headers=headers)
    client.patch(url, json={"done": True}, headers={**headers, "If-Match": etag})
    client.patch(url, json={"done": False}, headers={**headers, "If-Match": etag})  # 412 path
    client.put(url, json={"name": "c"}, headers=headers)
    client.delete(url, headers=headers)
    client.delete(url, headers={**headers, "If-Match": etag})  # 404 path
    kinds = {name for name, _ in calls}
    # (a DELETE's find_one_and_delete is the embedded store's: on MongoDB it is a delete_one
    # with the same filter, after a find_one with it; tests/store/test_round_trips.py)
    assert {"insert_one", "find_one", "aggregate", "count_documents", "find_one_and_update",
            "find_one_and_delete"} <= kinds
    for name, query in calls:
        if name == "aggregate":
            query = query[0]["$match"]
        if name == "insert_many":
            assert all("owner" in doc for doc in query), name
        else:
            assert _carries_owner(query), (name, query)
