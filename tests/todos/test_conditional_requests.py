"""HTTP semantics: conditional requests, caching headers, races, CORS, readiness."""


import pytest

from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import assert_problem, race_patches


@pytest.fixture
def headers(auth):
    return auth.headers()


def test_list_has_an_etag_and_answers_304(client, headers):
    client.post("/api/v1/todos", json={"name": "a"}, headers=headers)
    first = client.get("/api/v1/todos", headers=headers)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert "Authorization" in first.headers["Vary"]
    again = client.get("/api/v1/todos", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    # any change to a listed todo, or a new one, changes the list's ETag
    todo = first.get_json()["items"][0]
    client.patch(todo["url"], json={"done": True}, headers=headers)
    changed = client.get("/api/v1/todos", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    client.post("/api/v1/todos", json={"name": "b"}, headers=headers)
    assert client.get("/api/v1/todos", headers=headers).headers["ETag"] != changed.headers["ETag"]


def test_list_etag_depends_on_the_query(client, headers):
    client.post("/api/v1/todos", json={"name": "a"}, headers=headers)
    assert (client.get("/api/v1/todos?sort=name", headers=headers).headers["ETag"]
            != client.get("/api/v1/todos?sort=-name", headers=headers).headers["ETag"])


def test_token_responses_are_never_cached(client, auth):
    auth.register()
    tokens = client.post("/api/v1/tokens", auth=("alice", "correct horse"))
    assert tokens.headers["Cache-Control"] == "no-store"
    refreshed = client.post("/api/v1/tokens/refresh",
                            headers={"Authorization": f"Bearer {tokens.get_json()['refresh_token']}"})
    assert refreshed.headers["Cache-Control"] == "no-store"


def test_concurrent_writes_with_one_etag_exactly_one_wins(app, headers, monkeypatch):
    import time


    # widen the gap between finding and changing the document, as a slow database would:
    # the check and the write must still act as one
    find_one = EmbeddedCollection.find_one

    def slow_find_one(self, *args, **kwargs):
        found = find_one(self, *args, **kwargs)
        time.sleep(0.01)
        return found

    monkeypatch.setattr(EmbeddedCollection, "find_one", slow_find_one)
    statuses, url, etag = race_patches(app, headers)
    assert sorted(statuses) == [200] + [412] * 7
    final = app.test_client().get(url, headers=headers)
    assert final.get_json()["task"].startswith("writer ")
    assert final.headers["ETag"] != etag


def test_readyz_reports_the_database(client, monkeypatch):
    assert client.get("/readyz").get_json() == {"status": "ok", "checks": {"mongodb": "ok", "indexes": "ok"}}
    import mongomock
    from pymongo.errors import ServerSelectionTimeoutError

    def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(mongomock.database.Database, "command", down)
    response = client.get("/readyz")
    body = assert_problem(response, 503)
    assert "mongodb unavailable" in body["detail"]
    assert response.headers["Retry-After"] == "5"


class TestCors:
    ORIGIN = "https://app.example"

    def test_off_by_default(self, client):
        response = client.get("/api/v1/users/me", headers={"Origin": self.ORIGIN})
        assert "Access-Control-Allow-Origin" not in response.headers

    @pytest.fixture
    def cors_client(self, make_app):
        app = make_app(env={"CORS_ORIGINS": self.ORIGIN, "RATELIMIT_ENABLED": "true",
                            "RATELIMIT_DEFAULT": "2 per minute"})
        return app.test_client()

    def test_preflight_needs_no_token_and_is_not_counted(self, cors_client):
        for _ in range(5):
            response = cors_client.options(
                "/api/v1/todos/6560f0c2a1b2c3d4e5f60718",
                headers={"Origin": self.ORIGIN, "Access-Control-Request-Method": "PATCH",
                         "Access-Control-Request-Headers": "Authorization, If-Match, Content-Type"},
            )
            assert response.status_code == 200
            assert response.headers["Access-Control-Allow-Origin"] == self.ORIGIN
            assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
            allowed = response.headers["Access-Control-Allow-Headers"].lower()
            assert {"authorization", "if-match", "content-type"} <= {h.strip() for h in allowed.split(",")}
            assert "X-RateLimit-Limit" not in response.headers
        # the budget is untouched by the preflights
        actual = cors_client.get("/api/v1/users/me", headers={"Origin": self.ORIGIN})
        assert actual.headers["X-RateLimit-Remaining"] == "1"

    def test_scripts_can_read_the_api_headers(self, cors_client):
        response = cors_client.get("/api/v1/users/me", headers={"Origin": self.ORIGIN})
        exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"etag", "link", "location", "x-ratelimit-limit", "x-ratelimit-remaining",
                "x-ratelimit-reset", "retry-after"} <= exposed
        assert response.headers["Access-Control-Allow-Origin"] == self.ORIGIN

    def test_other_origins_are_not_allowed(self, cors_client):
        response = cors_client.get("/api/v1/users/me", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in response.headers
