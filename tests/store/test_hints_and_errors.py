"""What the driver sends and how what it gets back maps to problems, against the scripted wire
server (tests/support/mongo_wire.py): list pages hint by key pattern, and the store's
transient and configuration failures are 503s, not 500s."""

from __future__ import annotations

import time

import bson
import pytest
from bson import ObjectId
from pymongo.errors import BulkWriteError, ConfigurationError

from mongo_todos.accounts.auth import token_pair
from mongo_todos.store.embedded import EmbeddedCollection
from mongo_todos.store.mongodb import database_error, outcome
from tests.conftest import assert_problem, bearer
from tests.store.test_driver_failures import (
    NOTHING,
    OWNER,
    UNKNOWN,
    FakeMongo,
    app_for,
    token_for,
    writes,
)


def test_a_page_hints_its_index_by_key_pattern_not_by_name():
    # /readyz accepts an index with the right keys under another name; a hint by name would
    # make every list a 503 there, a hint by keys uses whichever index has them
    aggregates = []

    def script(name, command):
        if name == "aggregate":
            aggregates.append(command)

    with FakeMongo(script) as server:
        app = app_for(server)
        response = app.test_client().get("/api/v1/todos?sort=due_at", headers=token_for(app))
    assert response.status_code == 200, response.get_json()
    assert [list(c["hint"].items()) for c in aggregates] == [
        [("owner", 1), ("due_sort", 1), ("_id", 1)]]


def test_exceeded_time_limit_after_the_drivers_retry_is_a_503_with_retry_after():
    exceeded = {"ok": 0.0, "code": 262, "codeName": "ExceededTimeLimit",
                "errmsg": "operation exceeded time limit"}
    with FakeMongo(lambda name, command: exceeded if name == "aggregate" else None) as server:
        app = app_for(server)
        response = app.test_client().get("/api/v1/todos", headers=token_for(app))
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"]
    assert "time budget" in body["detail"] and NOTHING in body["detail"]


@pytest.mark.parametrize("code, name", [(100, "UnsatisfiableWriteConcern"),
                                        (79, "UnknownReplWriteConcern")])
def test_a_write_concern_the_deployment_cannot_meet_is_a_503_without_retry_after(code, name):
    refused = {"ok": 0.0, "code": code, "codeName": name, "errmsg": "write concern not met"}
    with FakeMongo(writes(refused)) as server:
        app = app_for(server)
        response = app.test_client().post("/api/v1/todos", json={"name": "x"},
                                          headers=token_for(app))
    body = assert_problem(response, 503)
    assert "Retry-After" not in response.headers
    assert "not set up" in body["detail"] and UNKNOWN in body["detail"]


def test_a_configuration_error_is_a_503_without_retry_after(client, auth, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise ConfigurationError("unknown option replicaset")

    headers = auth.headers()
    monkeypatch.setattr(EmbeddedCollection, "aggregate", refuse)
    response = client.get("/api/v1/todos", headers=headers)
    body = assert_problem(response, 503)
    assert "Retry-After" not in response.headers and "MONGODB_URI" in body["detail"]


def test_a_bulk_write_only_a_majority_did_not_confirm_is_unconfirmed(app):
    unconfirmed = BulkWriteError({"writeErrors": [], "writeConcernErrors": [
        {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication"}]})
    failed = BulkWriteError({"writeErrors": [{"index": 0, "code": 11000}],
                             "writeConcernErrors": []})
    assert database_error(unconfirmed) is unconfirmed and database_error(failed) is None
    with app.test_request_context(method="POST"):
        assert outcome(unconfirmed, "POST", tracked=False) == "unconfirmed"


def test_the_refresh_fallback_read_asks_for_majority_read_concern():
    # after a refused rotation, the read that tells reuse from an ended session decides from
    # majority-committed state only: a rotation that a failover rolls back must not end a login
    finds = []

    def script(name, command):
        if name == "find":
            finds.append(command)
            if "readConcern" in command:  # the fallback: the login has ended meanwhile
                return {"cursor": {"id": bson.Int64(0), "ns": "mongo_todos.sessions",
                                   "firstBatch": []}, "ok": 1.0}
        if name == "update":
            return {"ok": 1.0, "n": 0, "nModified": 0}
        return None

    with FakeMongo(script) as server:
        app = app_for(server)
        with app.app_context():
            now = int(time.time())
            # the scripted server knows the login "f" of OWNER (the request's session lookup)
            refresh = token_pair(ObjectId(OWNER), "f", "spent", "access", now, now + 3600)[
                "refresh_token"]
        response = app.test_client().post("/api/v1/tokens/refresh", headers=bearer(refresh))
    assert_problem(response, 401)
    fallback = [c for c in finds if c["find"] == "sessions"]
    assert fallback and fallback[-1]["filter"] == {"_id": "f"}
    assert fallback[-1]["readConcern"] == {"level": "majority"}


def test_db_init_on_mongodb_sets_the_todos_schema_validator():
    collmods = []

    def script(name, command):
        if name == "collMod":
            collmods.append(command)
        return {"ok": 1.0} if name in ("collMod", "createIndexes", "insert") else None

    with FakeMongo(script) as server:
        result = app_for(server).test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    (command,) = collmods
    assert command["collMod"] == "todos"
    assert command["validationLevel"] == "moderate" and command["validationAction"] == "error"
    schema = command["validator"]["$jsonSchema"]
    assert {"owner", "name", "name_key", "task_key", "created_at", "updated_at", "due_sort",
            "version"} <= set(schema["required"])
    assert schema["properties"]["due_sort"] == {"bsonType": "date"}
    assert schema["properties"]["owner"] == {"bsonType": "objectId"}
    # the validator follows the indexes: collMod needs the collection createIndexes made
    assert server.commands.index("collMod") > server.commands.index("createIndexes")
