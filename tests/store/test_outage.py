"""Database outages: a real driver against a server that is not there, and faults injected
mid-request. Every endpoint answers 503 with Retry-After, quickly, and nothing is half-done."""

import time

import pytest
from flask_jwt_extended import create_access_token
from pymongo.errors import AutoReconnect

from mongo_todos import create_app
from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import TEST_CONFIG, TEST_ENV, assert_problem, bearer
from tests.support.servers import free_port

OPERATIONS = [
    ("post", "/api/v1/users", {"username": "alice", "password": "correct horse"}),
    ("post", "/api/v1/tokens", {"username": "alice", "password": "correct horse"}),
    ("get", "/api/v1/users/me", None),
    ("get", "/api/v1/todos", None),
    ("post", "/api/v1/todos", {"name": "x"}),
    ("get", "/api/v1/todos/6560f0c2a1b2c3d4e5f60718", None),
    ("put", "/api/v1/todos/6560f0c2a1b2c3d4e5f60718", {"name": "x"}),
    ("patch", "/api/v1/todos/6560f0c2a1b2c3d4e5f60718", {"done": True}),
    ("delete", "/api/v1/todos/6560f0c2a1b2c3d4e5f60718", None),
    ("delete", "/api/v1/tokens", None),
]


@pytest.fixture(scope="module")
def unreachable_app():
    """The real pymongo driver pointed at a loopback port where nothing listens."""
    uri = f"mongodb://127.0.0.1:{free_port()}/mongo_todos?serverSelectionTimeoutMS=300"
    # the request's time budget is what bounds the wait for a server inside a request
    return create_app(TEST_CONFIG, env={**TEST_ENV, "MONGODB_URI": uri,
                                        "MONGODB_REQUEST_TIMEOUT_MS": "1000"})


@pytest.mark.parametrize("method, path, body", OPERATIONS)
def test_every_endpoint_is_a_quick_503_when_mongodb_is_unreachable(unreachable_app, method, path, body):
    with unreachable_app.app_context():
        token = create_access_token("6560f0c2a1b2c3d4e5f60718", additional_claims={"fam": "f"})
    client = unreachable_app.test_client()
    started = time.monotonic()
    response = getattr(client, method)(path, json=body, headers=bearer(token))
    assert time.monotonic() - started < 3
    body = assert_problem(response, 503)
    assert "Nothing was changed" in body["detail"]
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("method, path, body", [OPERATIONS[0], OPERATIONS[1], OPERATIONS[3]])
def test_an_outage_503_carries_the_services_retry_after_with_rate_limits_on(method, path, body):
    # issue 19, item 9: flask-limiter's after_request wrote its window's reset (55-59 s) over it
    from mongo_todos.web.errors import DB_RETRY_AFTER

    uri = f"mongodb://127.0.0.1:{free_port()}/mongo_todos?serverSelectionTimeoutMS=300"
    app = create_app(TEST_CONFIG, env={**TEST_ENV, "MONGODB_URI": uri, "RATELIMIT_ENABLED": "true",
                                       "MONGODB_REQUEST_TIMEOUT_MS": "1000"})
    with app.app_context():
        token = create_access_token("6560f0c2a1b2c3d4e5f60718", additional_claims={"fam": "f"})
    response = getattr(app.test_client(), method)(path, json=body, headers=bearer(token))
    assert_problem(response, 503)
    assert "X-RateLimit-Remaining" in response.headers  # the limiter did count it
    assert response.headers.get_all("Retry-After") == [str(DB_RETRY_AFTER)]


def test_refresh_is_a_503_when_mongodb_is_unreachable(unreachable_app):
    from flask_jwt_extended import create_refresh_token

    with unreachable_app.app_context():
        token = create_refresh_token("6560f0c2a1b2c3d4e5f60718", additional_claims={"fam": "f"})
    response = unreachable_app.test_client().post("/api/v1/tokens/refresh", headers=bearer(token))
    assert_problem(response, 503)


def test_probes_during_an_outage(unreachable_app):
    client = unreachable_app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert "mongodb unavailable: ServerSelectionTimeoutError" in assert_problem(ready, 503)["detail"]


def test_service_recovers_without_restart(client, auth, monkeypatch):

    headers = auth.headers()
    original = EmbeddedCollection.find

    def down(*args, **kwargs):
        raise AutoReconnect("connection reset")

    monkeypatch.setattr(EmbeddedCollection, "find", down)
    body = assert_problem(client.get("/api/v1/users/me", headers=headers), 503)
    assert "Nothing was changed" in body["detail"]  # a read changes nothing
    monkeypatch.setattr(EmbeddedCollection, "find", original)
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200


@pytest.mark.parametrize("applied", [False, True], ids=["before-the-write", "reply-lost"])
def test_refresh_interrupted_by_an_outage_leaves_the_token_usable(client, auth, monkeypatch,
                                                                   applied):

    auth.register()
    tokens = auth.login()
    original = EmbeddedCollection.update_one

    def down(self, *args, **kwargs):
        if applied:  # the rotation happened, but its reply never reached the service
            original(self, *args, **kwargs)
        raise AutoReconnect("connection reset")

    monkeypatch.setattr(EmbeddedCollection, "update_one", down)
    failed = client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"]))
    assert_problem(failed, 503)
    monkeypatch.setattr(EmbeddedCollection, "update_one", original)
    # the retry is not mistaken for a stolen token (when the rotation had happened, it is
    # within the reuse leeway and gets the pair that rotation made)
    retry = client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"]))
    assert retry.status_code == 200
    again = client.post("/api/v1/tokens/refresh",
                        headers=bearer(retry.get_json()["refresh_token"]))
    assert again.status_code == 200


def test_failed_create_stores_nothing(client, auth, monkeypatch):

    headers = auth.headers()
    monkeypatch.setattr(EmbeddedCollection, "insert_one",
                        lambda *a, **k: (_ for _ in ()).throw(AutoReconnect("reset")))
    body = assert_problem(client.post("/api/v1/todos", json={"name": "x"}, headers=headers), 503)
    # a connection lost during a write: the client is not told that nothing changed
    assert "may or may not have been applied" in body["detail"]
    assert "Nothing was changed" not in body["detail"]
    monkeypatch.undo()
    assert client.get("/api/v1/todos?count=true", headers=headers).get_json()["page"]["total"] == 0
