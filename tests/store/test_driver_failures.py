"""Driver failures that mongomock cannot produce, injected for real: the pymongo driver talks
to a scripted server on a loopback port (tests/support/mongo_wire.py) that stops answering, drops the
connection, or reports a write-concern error. Every one is a prompt 503 problem whose detail
says whether anything may have changed."""

from __future__ import annotations

import time

import bson
import pytest
from flask_jwt_extended import create_access_token

from mongo_todos import create_app
from tests.conftest import TEST_CONFIG, TEST_ENV, assert_problem, bearer
from tests.support.mongo_wire import DROP, HANG
from tests.support.mongo_wire import FakeMongo as WireServer

OWNER = "6560f0c2a1b2c3d4e5f60718"

BUDGET_MS = 800
#: Seconds allowed beyond the budget (a shared, noisy machine); the point is "not minutes".
SLACK = 4
NOTHING = "Nothing was changed"
UNKNOWN = "may or may not have been applied"
UNCONFIRMED = "not confirmed by a majority"
WRITE_CONCERN_TIMEOUT = {"ok": 1.0, "n": 1, "writeConcernError": {
    "code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out",
    "errInfo": {"wtimeout": True}}}
WRITE_CONCERN_FAILED = {"ok": 1.0, "n": 1, "writeConcernError": {
    "code": 100, "codeName": "UnsatisfiableWriteConcern", "errmsg": "Not enough data-bearing nodes"}}


class FakeMongo(WireServer):
    """The scripted server, where the token of :func:`token_for` has a live session (its
    lookup authenticates every request) unless the script answers that lookup itself."""

    def __init__(self, script, **kwargs):
        def logged_in(name, command):
            reply = script(name, command)
            if reply is None and name == "find" and command["find"] == "sessions":
                return {"cursor": {"id": bson.Int64(0), "ns": "mongo_todos.sessions",
                                   "firstBatch": [{"_id": "f", "user": bson.ObjectId(OWNER)}]},
                        "ok": 1.0}
            return reply

        super().__init__(logged_in, **kwargs)


def app_for(server: FakeMongo, budget_ms: int = BUDGET_MS):
    return create_app(TEST_CONFIG, env={**TEST_ENV, "MONGODB_URI": server.uri,
                                        "MONGODB_REQUEST_TIMEOUT_MS": str(budget_ms)})


def token_for(app) -> dict:
    with app.app_context():
        return bearer(create_access_token(OWNER, additional_claims={"fam": "f"}))


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def writes(reply):
    """Reads answer (empty results), the listed writes get ``reply``."""
    return lambda name, command: reply if name in ("insert", "update", "findAndModify", "delete") else None


@pytest.mark.parametrize("handshake", [False, True], ids=["silent-from-connect", "silent-after-handshake"])
def test_a_server_that_accepts_and_never_answers_is_a_prompt_503(handshake):
    with FakeMongo(lambda name, command: HANG, handshake=handshake) as server:
        app = app_for(server)
        response, elapsed = timed(lambda: app.test_client().get("/api/v1/todos", headers=token_for(app)))
    body = assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert NOTHING in body["detail"]
    # no handshake: no server to select; after it: the query's answer never comes
    assert ("time budget" if handshake else "unreachable") in body["detail"]
    assert elapsed < BUDGET_MS / 1000 + SLACK, elapsed  # bounded by the budget, not minutes


def test_a_server_that_drops_every_connection_is_a_prompt_503():
    with FakeMongo(lambda name, command: DROP, handshake=False) as server:
        app = app_for(server)
        response, elapsed = timed(lambda: app.test_client().get("/api/v1/todos", headers=token_for(app)))
    assert NOTHING in assert_problem(response, 503)["detail"]
    assert elapsed < BUDGET_MS / 1000 + SLACK, elapsed


def test_a_query_longer_than_the_budget_is_a_503_and_the_server_is_told_the_limit():
    seen = []

    def script(name, command):
        if name == "aggregate":
            seen.append(command)
            return HANG
        return None

    with FakeMongo(script) as server:
        app = app_for(server)
        response, elapsed = timed(lambda: app.test_client().get("/api/v1/todos", headers=token_for(app)))
    body = assert_problem(response, 503)
    assert "time budget" in body["detail"] and NOTHING in body["detail"]
    assert elapsed < BUDGET_MS / 1000 + SLACK
    # the driver passes what is left of the budget to the server, which stops the query too
    assert 0 < seen[0]["maxTimeMS"] <= BUDGET_MS


def test_a_write_whose_answer_never_comes_has_an_unknown_outcome():
    # the todo's insert hangs; the changes feed's reservation before it is answered
    with FakeMongo(lambda name, command: HANG if name == "insert" else None) as server:
        app = app_for(server)
        response, elapsed = timed(lambda: app.test_client().post(
            "/api/v1/todos", json={"name": "x"}, headers=token_for(app)))
        assert "insert" in server.commands
    body = assert_problem(response, 503)
    assert UNKNOWN in body["detail"] and NOTHING not in body["detail"]
    assert elapsed < BUDGET_MS / 1000 + SLACK


def test_a_write_cut_off_by_a_dropped_connection_has_an_unknown_outcome():
    with FakeMongo(writes(DROP)) as server:
        app = app_for(server)
        response = app.test_client().patch("/api/v1/todos/6560f0c2a1b2c3d4e5f60718",
                                           json={"done": True}, headers=token_for(app))
        assert "findAndModify" in server.commands
    body = assert_problem(response, 503)
    assert UNKNOWN in body["detail"] and NOTHING not in body["detail"]


def test_a_write_request_that_fails_before_writing_changed_nothing():
    # the revocation check (a read) hangs: the insert is never sent
    with FakeMongo(lambda name, command: HANG if name == "find" else None) as server:
        app = app_for(server)
        response = app.test_client().post("/api/v1/todos", json={"name": "x"}, headers=token_for(app))
        assert "insert" not in server.commands
    assert NOTHING in assert_problem(response, 503)["detail"]


@pytest.mark.parametrize("reply", [WRITE_CONCERN_TIMEOUT, WRITE_CONCERN_FAILED],
                         ids=["WTimeoutError", "WriteConcernError"])
def test_write_concern_errors_are_503s_that_say_the_write_may_be_rolled_back(reply):
    with FakeMongo(writes(reply)) as server:
        app = app_for(server)
        response = app.test_client().post("/api/v1/todos", json={"name": "x"}, headers=token_for(app))
    body = assert_problem(response, 503)
    assert UNCONFIRMED in body["detail"] and NOTHING not in body["detail"]


def test_write_concern_error_through_mongoengine_operation_error_is_a_503():
    # registration saves through MongoEngine, which wraps the driver's error in OperationError
    with FakeMongo(writes(WRITE_CONCERN_TIMEOUT)) as server:
        app = app_for(server)
        response = app.test_client().post(
            "/api/v1/users", json={"username": "alice", "password": "correct horse"})
        assert "insert" in server.commands
    body = assert_problem(response, 503)
    assert UNCONFIRMED in body["detail"]


def test_writes_ask_for_majority_and_reads_go_to_the_primary():
    commands = []

    def script(name, command):
        commands.append(command)
        return {"ok": 1.0, "n": 1} if name == "insert" else None

    with FakeMongo(script) as server:
        app = app_for(server)
        response = app.test_client().post("/api/v1/todos", json={"name": "x"}, headers=token_for(app))
    assert response.status_code == 201
    insert = next(c for c in commands if "insert" in c)
    assert insert["writeConcern"]["w"] == "majority"
    assert all(c.get("$readPreference", {"mode": "primary"})["mode"] == "primary" for c in commands)


def test_a_page_on_a_database_without_its_indexes_is_a_503_not_a_500():
    # a deploy that skipped `db init`: MongoDB refuses the list's hint
    bad_hint = {"ok": 0.0, "code": 2, "codeName": "BadValue",
                "errmsg": "error processing query: ns=mongo_todos.todos planner returned error "
                          ":: caused by :: hint provided does not correspond to an existing index"}
    with FakeMongo(lambda name, command: bad_hint if name == "aggregate" else None) as server:
        app = app_for(server)
        response = app.test_client().get("/api/v1/todos", headers=token_for(app))
    body = assert_problem(response, 503)
    assert "db init" in body["detail"] and NOTHING in body["detail"]


NOT_WRITABLE_PRIMARY = {"ok": 0.0, "code": 10107, "codeName": "NotWritablePrimary",
                        "errmsg": "not primary", "errorLabels": ["RetryableWriteError"]}


@pytest.mark.parametrize("first", [NOT_WRITABLE_PRIMARY, DROP], ids=["NotWritablePrimary", "dropped"])
def test_a_retryable_write_error_is_retried_once_and_one_todo_is_stored(first):
    inserts = []

    def script(name, command):
        if name != "insert":
            return None
        inserts.append(command)
        return first if len(inserts) == 1 else {"ok": 1.0, "n": 1}

    with FakeMongo(script) as server:  # a replica-set primary: the driver may retry writes
        app = app_for(server, budget_ms=5000)
        response = app.test_client().post("/api/v1/todos", json={"name": "x"}, headers=token_for(app))
    assert response.status_code == 201, response.get_json()
    assert len(inserts) == 2
    # the same transaction number twice: the server would apply it once, however often it is sent
    assert inserts[0]["txnNumber"] == inserts[1]["txnNumber"]
    assert inserts[0]["lsid"] == inserts[1]["lsid"]
    assert inserts[0]["documents"] == inserts[1]["documents"]
