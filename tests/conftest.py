"""Shared fixtures: an app on a fresh embedded (mongomock) store per test, a client, and an
``auth`` helper that registers accounts and logs them in the way a client would."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from mongo_todos import create_app
from mongo_todos.todos import leases, sequence
from tests.support.servers import RedisServer

# CI runs each property (hypothesis, schemathesis) on the same examples every time: a run that
# lands or not must not depend on the draw. Local runs stay random, to keep finding new cases
# (U+001F in a name was one); a failure prints the seed that reproduces it.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: Fast hashing for tests only: the production default (scrypt) is deliberately slow.
TEST_CONFIG = {"TESTING": True, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
#: The environment a test app starts from (not the developer's own).
TEST_ENV = {
    "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
    "JWT_SECRET_KEY": "test-jwt-secret-key-that-is-long-enough-012345",
    "RATELIMIT_ENABLED": "false",
}


@pytest.fixture
def make_app():
    """Build an app with extra configuration (each call starts a fresh in-memory store)."""

    def _make(env: dict | None = None, **config):
        return create_app({**TEST_CONFIG, **config}, env={**TEST_ENV, **(env or {})})

    return _make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def redis_server():
    """A throwaway redis-server on a free loopback port, stopped after the test (tests that
    use it skip when redis-server is not installed; .ci/run installs it)."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Auth:
    """Register and log in accounts through the API."""

    def __init__(self, client):
        self.client = client

    def register(self, username="alice", password="correct horse"):
        response = self.client.post(
            "/api/v1/users", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def login(self, username="alice", password="correct horse"):
        response = self.client.post("/api/v1/tokens", auth=(username, password))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def headers(self, username="alice", password="correct horse"):
        """Register (if needed) and log in; the Authorization header of the access token."""
        exists = self.client.post("/api/v1/tokens", auth=(username, password))
        tokens = exists.get_json() if exists.status_code == 200 else None
        if tokens is None:
            self.register(username, password)
            tokens = self.login(username, password)
        return bearer(tokens["access_token"])


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(client):
    return Auth(client)


def race_patches(app, headers: dict, writers: int = 8) -> tuple[list[int], str, str]:
    """Create a todo, then let ``writers`` threads PATCH it at once with its one ETag.
    Returns their statuses, the todo's URL and the ETag they all sent."""
    import threading

    created = app.test_client().post("/api/v1/todos", json={"name": "race"}, headers=headers)
    url, etag = created.headers["Location"], created.headers["ETag"]
    barrier = threading.Barrier(writers)
    statuses: list[int] = []

    def writer(n: int) -> None:
        own = app.test_client()
        barrier.wait()
        response = own.patch(url, json={"task": f"writer {n}"}, headers={**headers, "If-Match": etag})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return statuses, url, etag


def assert_problem(response, status: int, *fields: str, type: str | None = "") -> dict:
    """The response is a problem+json of ``status``, with errors for exactly ``fields``, and
    of problem ``type`` (a slug; ``None`` for about:blank; default: the status's usual type)."""
    from mongo_todos.web.errors import _TYPE_BY_STATUS, type_uri

    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    expected = _TYPE_BY_STATUS.get(status) if type == "" else type
    if not (type == "" and status == 401):  # 401s name their own token problem
        assert body["type"] == type_uri(expected), body
    assert body["title"] and body["detail"]
    if fields:
        assert set(body.get("errors", {})) == set(fields), body
    return body


class Clock:
    """Moves the service's clock (``mongo_todos.dates.utcnow``) forward, as time passing would."""

    def __init__(self, monkeypatch):
        from datetime import timedelta

        from mongo_todos import dates

        self.offset = timedelta(0)
        real = dates.utcnow
        monkeypatch.setattr(dates, "utcnow", lambda: real() + self.offset)

    def advance(self, **delta):
        from datetime import timedelta

        self.offset += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def releaser(monkeypatch):
    """This process's lease releaser, fresh and slow: leases finished by requests stay
    unreleased in the database until the test calls ``flush()`` (or a reservation of the same
    account takes them along), so what a reader elsewhere sees is deterministic."""
    sequence.RELEASER.flush()  # what earlier tests left, before the test binds its own store
    fresh = leases.Releaser(lambda: sequence.counters())
    monkeypatch.setattr(sequence, "RELEASER", fresh)
    monkeypatch.setattr(leases, "RELEASE_DELAY", 60)
    yield fresh
    # released in the test's own store: its thread, if it reaches its pause only after the
    # test (RELEASE_DELAY is back to 20 ms then), would release them into the next test's
    fresh.flush()


@pytest.fixture
def elsewhere(monkeypatch, releaser):
    """Readers in this test stand for another process's: they do not know which leases this
    process has finished, only what the database says."""
    monkeypatch.setattr(releaser, "known", lambda owner: {})
    return releaser


@pytest.fixture(autouse=True)
def _leases_released_in_their_own_store():
    """Each test's finished changes-feed leases are released before the next test binds its
    store: the releaser thread would otherwise release them a moment later into whichever
    store is bound then (a wire-protocol server logging every command, say)."""
    yield
    sequence.RELEASER.flush()
