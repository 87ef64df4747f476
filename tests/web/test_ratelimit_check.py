"""The application limit's own check path (mongo_todos/web/ratelimit_check.py): the same
buckets and headers as flask-limiter's, once per response, and the library's fallback when
the storage fails."""

import logging

from tests.conftest import assert_problem


def test_each_header_once_and_the_librarys_own_hooks_are_gone(limited):
    app, client = limited(RATELIMIT_DEFAULT="5 per minute")
    response = client.get("/api/v1/todos")
    assert response.headers.getlist("X-RateLimit-Limit") == ["5"]
    assert response.headers.getlist("X-RateLimit-Remaining") == ["4"]
    assert len(response.headers.getlist("X-RateLimit-Reset")) == 1
    assert response.headers.getlist("X-Request-ID") == [response.headers["X-Request-ID"]]
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    limiter = app.extensions["mongo_todos_limiter"]
    hooks = app.before_request_funcs[None] + app.after_request_funcs[None]
    assert all(getattr(hook, "__self__", None) is not limiter for hook in hooks)


def test_the_bucket_is_the_librarys(limited):
    """The same storage key as flask-limiter's own path for the application limit: processes
    of the old and the new code, or a Redis shared with them, count one budget."""
    app, client = limited(RATELIMIT_DEFAULT="5 per minute")
    limiter = app.extensions["mongo_todos_limiter"]
    with app.test_request_context("/api/v1/todos", environ_base={"REMOTE_ADDR": "198.51.100.6"}):
        limiter._check_request_limit()  # the library's path
    client.get("/api/v1/todos", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    keys = sorted(k for k in limiter.storage.storage if "198.51.100." in k)
    assert keys == [f"LIMITER/mongo_todos/addr:198.51.100.{n}/global/5/1/minute" for n in (6, 7)]


def test_a_changed_limit_takes_effect_without_a_restart(limited):
    app, client = limited(RATELIMIT_DEFAULT="5 per minute")
    assert client.get("/api/v1/todos").headers["X-RateLimit-Limit"] == "5"
    app.config["RATELIMIT_DEFAULT"] = "2 per minute"
    statuses = [client.get("/api/v1/todos").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_several_limits_the_narrowest_window_first(limited):
    app, client = limited(RATELIMIT_DEFAULT="100 per hour; 2 per minute")
    first = client.get("/api/v1/todos")
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
    client.get("/api/v1/todos")
    refused = client.get("/api/v1/todos")
    assert "2 per 1 minute" in assert_problem(refused, 429)["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_preflights_are_not_counted(limited):
    app, client = limited(RATELIMIT_DEFAULT="5 per minute")
    assert "X-RateLimit-Limit" not in client.options("/api/v1/todos").headers
    assert client.get("/api/v1/todos").headers["X-RateLimit-Remaining"] == "4"


def test_an_unreachable_storage_falls_back_to_memory_once(limited, caplog):
    app, client = limited(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
                          RATELIMIT_DEFAULT="3 per minute")
    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        statuses = [client.get("/api/v1/todos").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]  # the fallback counts with the same limit
    warnings = [r for r in caplog.records if "storage unreachable" in r.getMessage()]
    assert len(warnings) == 1


def test_a_storage_failing_after_the_check_still_gives_headers(limited, monkeypatch, caplog):
    app, client = limited(RATELIMIT_DEFAULT="5 per minute")
    limiter = app.extensions["mongo_todos_limiter"]

    def broken(*args, **kwargs):
        raise ConnectionError("storage went away")
    monkeypatch.setattr(limiter._limiter, "get_window_stats", broken)
    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        response = client.get("/api/v1/todos")
    assert response.status_code == 401
    assert response.headers["X-RateLimit-Limit"] == "5"  # read from the in-memory fallback
    assert limiter._storage_dead
    assert any("storage unreachable" in r.getMessage() for r in caplog.records)
