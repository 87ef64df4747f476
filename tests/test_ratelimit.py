"""Rate limiting in one process (memory storage): headers, 429s, keys, exemptions."""

import pytest

from conftest import assert_problem, bearer


@pytest.fixture
def limited(make_app):
    def _make(**env):
        app = make_app(env={"RATELIMIT_ENABLED": "true", **env})
        return app, app.test_client()

    return _make


def test_limited_responses_carry_rate_limit_headers(limited, auth):
    app, client = limited(RATELIMIT_DEFAULT="5 per minute")
    response = client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    assert "Retry-After" not in response.headers  # only meaningful on a 429


def test_over_the_limit_is_a_429_problem_with_retry_after(limited):
    app, client = limited(RATELIMIT_DEFAULT="3 per minute")
    statuses = [client.get("/api/v1/users/me").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    response = client.get("/api/v1/users/me")
    body = assert_problem(response, 429)
    assert "3 per 1 minute" in body["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_requests_with_a_token_are_counted_per_user(limited, auth):
    app, client = limited(RATELIMIT_DEFAULT="4 per minute", RATELIMIT_TOKEN="100 per minute")
    auth.client = client
    # registering and logging in are counted by address (no token yet)
    alice, bob = auth.headers("alice"), auth.headers("bob")
    for _ in range(4):
        assert client.get("/api/v1/todos", headers=alice).status_code == 200
    assert_problem(client.get("/api/v1/todos", headers=alice), 429)
    # same address, another user: a budget of its own
    assert client.get("/api/v1/todos", headers=bob).status_code == 200


def test_bad_tokens_are_counted_per_address(limited):
    app, client = limited(RATELIMIT_DEFAULT="2 per minute")
    for _ in range(2):
        assert client.get("/api/v1/todos", headers=bearer("garbage")).status_code == 401
    assert_problem(client.get("/api/v1/todos", headers=bearer("other-garbage")), 429)


def test_token_endpoint_has_its_own_stricter_limit_per_address(limited, auth):
    app, client = limited(RATELIMIT_DEFAULT="100 per minute", RATELIMIT_TOKEN="3 per minute")
    auth.client = client
    auth.register("alice")
    for _ in range(3):
        response = client.post("/api/v1/tokens", auth=("alice", "wrong password"))
        assert response.status_code == 401
        assert response.headers["X-RateLimit-Limit"] == "3"
    # even the right password waits: guessing is slowed down
    assert_problem(client.post("/api/v1/tokens", auth=("alice", "correct horse")), 429)
    # other addresses are not affected
    other = client.post("/api/v1/tokens", auth=("alice", "correct horse"),
                        environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200
    # the rest of the API keeps the default limit
    assert client.get("/api/v1/users/me").headers["X-RateLimit-Limit"] == "100"


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(limited):
    app, client = limited(RATELIMIT_DEFAULT="1 per minute")
    client.get("/api/v1/users/me", headers={"X-Forwarded-For": "1.1.1.1"})
    # a spoofed header does not buy a new budget
    assert_problem(client.get("/api/v1/users/me", headers={"X-Forwarded-For": "2.2.2.2"}), 429)


def test_forwarded_for_from_a_trusted_proxy_is_the_client(limited):
    app, client = limited(RATELIMIT_DEFAULT="1 per minute", TRUSTED_PROXY_COUNT="1")
    assert client.get("/api/v1/users/me", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 401
    assert_problem(client.get("/api/v1/users/me", headers={"X-Forwarded-For": "1.1.1.1"}), 429)
    assert client.get("/api/v1/users/me", headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 401
    # with one trusted proxy only the last entry counts: a client cannot prepend its own
    spoofed = client.get("/api/v1/users/me", headers={"X-Forwarded-For": "9.9.9.9, 1.1.1.1"})
    assert_problem(spoofed, 429)


def test_health_probes_are_not_limited(limited):
    app, client = limited(RATELIMIT_DEFAULT="1 per minute")
    for _ in range(5):
        response = client.get("/healthz")
        assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers


def test_limits_can_be_switched_off(make_app):
    client = make_app(env={"RATELIMIT_ENABLED": "false", "RATELIMIT_DEFAULT": "1 per minute"}).test_client()
    for _ in range(3):
        response = client.get("/api/v1/users/me")
        assert response.status_code == 401 and "X-RateLimit-Limit" not in response.headers
