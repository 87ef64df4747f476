"""Ending sessions in bulk when a majority cannot confirm it (issue 19, item 7): ``insert_many``
reports a write-concern failure as a BulkWriteError with ``writeConcernErrors`` and no
``writeErrors``; the three requests that end sessions in bulk must answer the service's 503
"not confirmed", never a 204 that claims the other logins are over."""

from __future__ import annotations

import bson
import pytest
from werkzeug.security import generate_password_hash

from tests.conftest import TEST_CONFIG, assert_problem
from tests.store.test_driver_failures import UNCONFIRMED, WRITE_CONCERN_TIMEOUT, app_for, token_for
from tests.support.mongo_wire import FakeMongo

OWNER = bson.ObjectId("6560f0c2a1b2c3d4e5f60718")
PASSWORD = "correct horse"


def cursor(collection: str, docs: list[dict]) -> dict:
    return {"cursor": {"id": bson.Int64(0), "ns": f"mongo_todos.{collection}", "firstBatch": docs},
            "ok": 1.0}


def script(name, command):
    """One account with two sessions ("f", the caller's, and "g"); every insert is applied
    by the primary but not confirmed by a majority; other writes succeed."""
    if name == "find" and command["find"] == "sessions":
        return cursor("sessions", [{"_id": "g", "user": OWNER}])
    if name == "find" and command["find"] == "users":
        return cursor("users", [{
            "_id": OWNER, "username": "alice", "username_key": "alice",
            "password_hash": generate_password_hash(PASSWORD, TEST_CONFIG["PASSWORD_HASH_METHOD"]),
        }])
    if name == "insert":
        return WRITE_CONCERN_TIMEOUT
    if name in ("update", "delete"):
        return {"ok": 1.0, "n": 1, "nModified": 1}
    return None


@pytest.mark.parametrize(("method", "path", "body"), [
    ("delete", "/api/v1/users/me/sessions", None),
    ("put", "/api/v1/users/me/password", {"current_password": PASSWORD, "new_password": "new horse battery"}),
    ("delete", "/api/v1/users/me", {"password": PASSWORD}),
], ids=["log-out-everywhere-else", "password-change", "account-deletion"])
def test_unconfirmed_bulk_revocation_is_a_503_not_a_204(method, path, body):
    with FakeMongo(script) as server:
        app = app_for(server)
        response = getattr(app.test_client(), method)(path, json=body, headers=token_for(app))
        assert "insert" in server.commands
    assert UNCONFIRMED in assert_problem(response, 503)["detail"]
