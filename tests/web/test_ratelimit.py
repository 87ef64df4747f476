"""Rate limiting in one process (memory storage): one budget per caller, headers, 429s, keys,
the login limit, exemptions."""

import pytest

from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import assert_problem, bearer


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


def test_requests_with_an_access_token_are_counted_per_user(limited, auth):
    app, client = limited(RATELIMIT_DEFAULT="6 per minute", RATELIMIT_TOKEN="100 per minute")
    auth.client = client
    # registering and logging in are counted by address (no token yet): 4 of the address's 6
    alice, bob = auth.headers("alice"), auth.headers("bob")
    for _ in range(6):
        assert client.get("/api/v1/todos", headers=alice).status_code == 200
    assert_problem(client.get("/api/v1/todos", headers=alice), 429)
    # same address, another user: a budget of its own
    assert client.get("/api/v1/todos", headers=bob).status_code == 200


def test_one_budget_per_caller_across_all_routes(limited, auth):
    # issue 10, point 3: the default limit was counted per route (about 10x the budget)
    app, client = limited(RATELIMIT_DEFAULT="6 per minute", RATELIMIT_TOKEN="100 per minute")
    auth.client = client
    alice = auth.headers("alice")
    spent = [
        client.get("/api/v1/todos", headers=alice),
        client.get("/api/v1/users/me", headers=alice),
        client.post("/api/v1/todos", json={"name": "one"}, headers=alice),
        client.get("/api/v1/todos/000000000000000000000000", headers=alice),  # 404
        client.get("/api/v1/nowhere", headers=alice),  # no such route
        client.put("/api/v1/users/me", headers=alice),  # 405
    ]
    assert [r.status_code for r in spent] == [200, 200, 201, 404, 404, 405]
    assert [r.headers["X-RateLimit-Remaining"] for r in spent] == ["5", "4", "3", "2", "1", "0"]
    assert_problem(client.get("/api/v1/users/me", headers=alice), 429)


def test_wrong_method_and_unknown_path_responses_carry_rate_limit_headers(limited):
    app, client = limited(RATELIMIT_DEFAULT="5 per minute")
    for response in (client.delete("/api/v1/users"), client.get("/no/such/page")):
        assert response.status_code in (404, 405)
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert int(response.headers["X-RateLimit-Remaining"]) < 5


def test_bad_tokens_are_counted_per_address(limited):
    app, client = limited(RATELIMIT_DEFAULT="2 per minute")
    for _ in range(2):
        assert client.get("/api/v1/todos", headers=bearer("garbage")).status_code == 401
    assert_problem(client.get("/api/v1/todos", headers=bearer("other-garbage")), 429)


def test_registration_is_counted_per_address_whatever_token_is_sent(limited, auth):
    # issue 10, point 3: a well-signed token moved registration floods into the user's bucket
    app, client = limited(RATELIMIT_DEFAULT="5 per minute", RATELIMIT_TOKEN="100 per minute")
    auth.client = client
    auth.register("alice")  # 1 of the address's 5
    tokens = auth.login("alice")  # 2
    for n in range(3):  # 3, 4, 5
        response = client.post("/api/v1/users", json={"username": f"flood{n}", "password": "x" * 12},
                               headers=bearer(tokens["access_token"]))
        assert response.status_code == 201
    flood = client.post("/api/v1/users", json={"username": "flood9", "password": "x" * 12},
                        headers=bearer(tokens["access_token"]))
    assert_problem(flood, 429)
    # the access token still has its own, untouched budget on authenticated routes
    me = client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.headers["X-RateLimit-Remaining"] == "4"


@pytest.mark.parametrize("which", ["refresh", "logged-out access"])
def test_refresh_and_revoked_tokens_stay_in_the_address_bucket(limited, auth, which):
    # issue 10, point 3: any well-signed token escaped the per-address limit
    app, client = limited(RATELIMIT_DEFAULT="5 per minute", RATELIMIT_TOKEN="100 per minute")
    auth.client = client
    auth.register("alice")  # address: 1
    tokens = auth.login("alice")  # address: 2
    if which == "refresh":
        token = tokens["refresh_token"]
    else:
        token = tokens["access_token"]
        logout = client.delete("/api/v1/tokens", headers=bearer(token))  # user bucket (still valid)
        assert logout.status_code == 204
    for _ in range(3):  # address: 3, 4, 5
        assert client.get("/api/v1/todos", headers=bearer(token)).status_code == 401
    assert_problem(client.get("/api/v1/todos", headers=bearer(token)), 429)
    # and so is every other anonymous request from that address
    assert_problem(client.get("/api/v1/users/me"), 429)


def test_token_endpoint_has_its_own_stricter_limit_per_address(limited, auth):
    app, client = limited(RATELIMIT_DEFAULT="100 per minute", RATELIMIT_TOKEN="3 per minute")
    auth.client = client
    auth.register("alice")
    auth.register("bob")
    for name in ("alice", "bob", "carol"):
        response = client.post("/api/v1/tokens", auth=(name, "wrong password"))
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


def test_login_limit_also_counts_per_username_across_addresses(limited, auth):
    app, client = limited(RATELIMIT_DEFAULT="100 per minute", RATELIMIT_TOKEN="3 per minute")
    auth.client = client
    auth.register("alice")
    auth.register("bob")
    for n in range(3):  # one guess from each of three addresses, one of them in a JSON body
        kwargs = {"environ_base": {"REMOTE_ADDR": f"10.0.0.{n}"}}
        if n == 2:
            response = client.post("/api/v1/tokens", json={"username": "ALICE", "password": "nope"},
                                   **kwargs)
        else:
            response = client.post("/api/v1/tokens", auth=("alice", "nope"), **kwargs)
        assert response.status_code == 401
    # a fourth address is still refused for alice (usernames are case-insensitive)...
    fourth = client.post("/api/v1/tokens", auth=("Alice", "correct horse"),
                         environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert_problem(fourth, 429)
    # ...but bob logs in from it
    bob = client.post("/api/v1/tokens", auth=("bob", "correct horse"),
                      environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert bob.status_code == 200


def test_a_login_body_the_view_refuses_is_still_counted_not_a_server_error(limited):
    app, client = limited(RATELIMIT_DEFAULT="100 per minute", RATELIMIT_TOKEN="2 per minute")
    bad = [client.post("/api/v1/tokens", data="{not json", content_type="application/json"),
           client.post("/api/v1/tokens", data="x", content_type="text/plain")]
    assert [r.status_code for r in bad] == [400, 415]
    assert_problem(client.post("/api/v1/tokens", auth=("alice", "x")), 429)


def test_several_workers_on_memory_storage_are_warned_about():
    from mongo_todos.web.ratelimit import shared_storage_warning

    warning = shared_storage_warning({}, workers=3)
    assert "3 workers" in warning and "redis://" in warning
    assert shared_storage_warning({}, workers=1) is None
    assert shared_storage_warning({"RATELIMIT_STORAGE_URI": "redis://r:6379/0"}, workers=3) is None
    assert shared_storage_warning({"RATELIMIT_ENABLED": "false"}, workers=3) is None


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


def test_the_revocation_lookup_is_made_once_per_request_with_limits_on(limited, auth, monkeypatch):

    app, client = limited(RATELIMIT_DEFAULT="100 per minute", RATELIMIT_TOKEN="100 per minute")
    auth.client = client
    headers = auth.headers("alice")
    lookups = []
    original = EmbeddedCollection.find_one

    def counted(self, *args, **kwargs):
        if self.name == "sessions":
            lookups.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedCollection, "find_one", counted)
    response = client.get("/api/v1/todos", headers=headers)
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "99"
    assert len(lookups) == 1  # the limiter asked, the view reused the answer


def test_429_detail_says_the_real_number_of_seconds(limited):
    app, client = limited(RATELIMIT_DEFAULT="1 per minute")
    client.get("/api/v1/users/me")
    response = client.get("/api/v1/users/me")
    body = assert_problem(response, 429)
    seconds = response.headers["Retry-After"]
    assert 0 < int(seconds) <= 60
    assert body["detail"] == f"Rate limit exceeded (1 per 1 minute); retry after {seconds} seconds."
    assert response.get_data().endswith(b"\n")


def test_an_unparseable_basic_header_does_not_switch_the_login_limit_off(limited, auth):
    # review: the key function raised on "Basic é", the limiter swallowed the error and skipped
    # every limit, while the view read the JSON body's credentials: unlimited password guessing
    app, client = limited(RATELIMIT_DEFAULT="100 per minute", RATELIMIT_TOKEN="3 per minute")
    auth.client = client
    auth.register("alice")
    guesses = [client.post("/api/v1/tokens", json={"username": "alice", "password": f"guess {n}"},
                           headers={"Authorization": "Basic é"}) for n in range(3)]
    assert [r.status_code for r in guesses] == [401, 401, 401]
    assert [r.headers["X-RateLimit-Remaining"] for r in guesses] == ["2", "1", "0"]
    right = client.post("/api/v1/tokens", json={"username": "alice", "password": "correct horse"},
                        headers={"Authorization": "Basic é"})
    assert_problem(right, 429)


def test_a_key_function_that_raises_counts_the_address(app):
    """flask-limiter skips a limit whose key function raises (RATELIMIT_SWALLOW_ERRORS): every
    key function the service registers is wrapped so an error counts the address instead."""
    from mongo_todos.web import ratelimit

    def broken_key():
        raise RuntimeError("boom")

    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        assert ratelimit.never_raises(broken_key)() == "broken_key-addr:203.0.113.9"
        assert ratelimit.never_raises(lambda: "user:1")() == "user:1"
    limiter = app.extensions["mongo_todos_limiter"]
    assert limiter._key_func.__wrapped__.__name__ == "rate_limit_key"


def test_ipv6_clients_are_counted_per_64_prefix(limited):
    """A /64 is one subscriber's: its 2^64 addresses must not be as many buckets."""
    app, client = limited(RATELIMIT_DEFAULT="3 per minute")
    for n in range(1, 4):
        response = client.get("/api/v1/users/me", environ_base={"REMOTE_ADDR": f"2001:db8::{n}"})
        assert response.status_code == 401
    assert_problem(client.get("/api/v1/users/me",
                              environ_base={"REMOTE_ADDR": "2001:db8::ffff:1"}), 429)
    other = client.get("/api/v1/users/me", environ_base={"REMOTE_ADDR": "2001:db8:0:1::1"})
    assert other.status_code == 401 and other.headers["X-RateLimit-Remaining"] == "2"
    v4 = client.get("/api/v1/users/me", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert v4.status_code == 401 and v4.headers["X-RateLimit-Remaining"] == "2"


@pytest.mark.parametrize("remote_addr, key", [
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("::FFFF:c000:201", "192.0.2.1"),  # the same address, written in hex
    ("192.0.2.1", "192.0.2.1"),
    ("::1", "::/64"),
    ("2001:db8::7%eth0", "2001:db8::/64"),
    ("not an address", "not an address"),
])
def test_an_ipv4_mapped_address_is_keyed_as_its_ipv4_address(app, remote_addr, key):
    # issue 19, item 5: on a dual-stack bind every IPv4 client was ::/64, with ::1
    from mongo_todos.web.ratelimit import client_address

    with app.test_request_context(environ_base={"REMOTE_ADDR": remote_addr}):
        assert client_address() == key


def test_ipv4_clients_on_a_dual_stack_bind_have_buckets_of_their_own(limited):
    app, client = limited(RATELIMIT_DEFAULT="3 per minute")
    for _ in range(3):
        response = client.get("/api/v1/users/me", environ_base={"REMOTE_ADDR": "::ffff:192.0.2.1"})
        assert response.status_code == 401
    assert_problem(client.get("/api/v1/users/me",
                              environ_base={"REMOTE_ADDR": "::ffff:192.0.2.1"}), 429)
    # the same client over an IPv4 socket is the same bucket
    assert_problem(client.get("/api/v1/users/me", environ_base={"REMOTE_ADDR": "192.0.2.1"}), 429)
    for other in ("::ffff:192.0.2.2", "::1"):
        response = client.get("/api/v1/users/me", environ_base={"REMOTE_ADDR": other})
        assert response.status_code == 401 and response.headers["X-RateLimit-Remaining"] == "2"
