"""Flask's per-request bookkeeping, trimmed: coroutine checks remembered per function, and
the response's own headers set by one hook."""

import mongo_todos
from tests.conftest import bearer


def test_each_hook_and_view_is_checked_for_a_coroutine_once(app, auth, monkeypatch):
    checked = []
    original = app.ensure_sync.ensure_sync
    monkeypatch.setattr(app.ensure_sync, "ensure_sync", lambda f: checked.append(f) or original(f))
    headers = auth.headers()
    client = app.test_client()
    url = client.post("/api/v1/todos", json={"name": "a"}, headers=headers).headers["Location"]
    client.get(url, headers=headers)
    first = len(checked)
    for _ in range(3):
        assert client.get(url, headers=headers).status_code == 200
    assert len(checked) == first  # nothing new to inspect on the same route


def test_an_unhashable_callable_is_still_answered():
    class Unhashable:
        __hash__ = None

        def __call__(self):
            return "called"

    once = mongo_todos._SyncCheckedOnce(lambda f: f)
    target = Unhashable()
    assert once(target) is target


def test_the_cache_is_bounded():
    once = mongo_todos._SyncCheckedOnce(lambda f: f)
    funcs = [lambda i=i: i for i in range(once.MAX_CACHED + 10)]
    for f in funcs:
        assert once(f) is f
    assert len(once.seen) <= once.MAX_CACHED


def test_one_hook_adds_the_responses_own_headers_in_order(client, auth):
    response = client.get("/api/v1/users/me", headers=bearer("x"))
    names = [name for name, _ in response.headers]
    own = ["X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
           "Cross-Origin-Resource-Policy", "Content-Security-Policy", "X-Request-ID"]
    assert [n for n in names if n in own] == own
    # compress, the 429 detail, and this one: not one hook per header-setting module
    assert len(client.application.after_request_funcs[None]) == 3
