"""Conditional requests on todos: ETags and Cache-Control on reads, If-None-Match answered
with 304, If-Match guarding every write (412 when stale or unreadable, 428 when required and
missing), If-Unmodified-Since honoured without If-Match, list ETags that follow the list, and racing writers with one ETag: exactly one wins."""

from datetime import datetime
from email.utils import format_datetime

import pytest

from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import assert_problem, race_patches


def test_get_returns_todo_with_cache_headers(client, headers, todo):
    response = client.get(todo.headers["Location"], headers=headers)
    assert response.status_code == 200
    assert response.get_json() == todo.get_json()
    assert response.headers["ETag"] == todo.headers["ETag"]
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "Authorization" in response.headers["Vary"]


def test_if_none_match_gives_304_without_body(client, headers, todo):
    response = client.get(
        todo.headers["Location"], headers={**headers, "If-None-Match": todo.headers["ETag"]}
    )
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == todo.headers["ETag"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_if_match_mismatch_is_412_and_changes_nothing(client, headers, todo, method):
    url = todo.headers["Location"]
    stale = todo.headers["ETag"]
    client.patch(url, json={"task": "changed"}, headers=headers)
    response = getattr(client, method)(
        url, json={"name": "mine"} if method != "delete" else None,
        headers={**headers, "If-Match": stale},
    )
    assert_problem(response, 412)
    assert client.get(url, headers=headers).get_json()["task"] == "changed"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_if_match_current_etag_succeeds(client, headers, todo, method):
    response = getattr(client, method)(
        todo.headers["Location"], json={"name": "mine"} if method != "delete" else None,
        headers={**headers, "If-Match": todo.headers["ETag"]},
    )
    assert response.status_code == (204 if method == "delete" else 200)


def test_if_match_star_and_lists(client, headers, todo):
    url = todo.headers["Location"]
    star = client.patch(url, json={"done": True}, headers={**headers, "If-Match": "*"})
    assert star.status_code == 200
    listed = client.patch(
        url, json={"done": False},
        headers={**headers, "If-Match": f'"nope", {star.headers["ETag"]}'},
    )
    assert listed.status_code == 200
    weak = client.patch(url, json={"done": True}, headers={**headers, "If-Match": "W/" + listed.headers["ETag"]})
    assert_problem(weak, 412, type="etag-weak")  # If-Match uses the strong comparison
    assert "weak etags" in weak.get_json()["detail"].lower()
    assert client.get(url, headers=headers).get_json()["done"] is False  # nothing written


def test_if_match_on_a_missing_todo_is_404(client, headers):
    response = client.patch(
        "/api/v1/todos/6560f0c2a1b2c3d4e5f60718", json={"done": True},
        headers={**headers, "If-Match": '"6560f0c2a1b2c3d4e5f60718.1"'},
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_require_if_match_gives_428(make_app, auth, method):
    client = make_app(REQUIRE_IF_MATCH=True).test_client()
    auth.client = client
    headers = auth.headers()
    created = client.post("/api/v1/todos", json={"name": "x"}, headers=headers)
    response = getattr(client, method)(
        created.headers["Location"], json={"name": "y"} if method != "delete" else None,
        headers=headers,
    )
    assert_problem(response, 428)
    ok = getattr(client, method)(
        created.headers["Location"], json={"name": "y"} if method != "delete" else None,
        headers={**headers, "If-Match": created.headers["ETag"]},
    )
    assert ok.status_code in (200, 204)


@pytest.mark.parametrize("suffix", ["²", "٣", "9" * 5000, "-1", "1.0", ""])
def test_odd_if_match_versions_are_412_not_500(client, headers, todo, suffix):
    todo_id = todo.get_json()["id"]
    response = client.patch(todo.headers["Location"], json={"done": True},
                            headers={**headers, "If-Match": f'"{todo_id}.{suffix}"'})
    assert_problem(response, 412)


@pytest.mark.parametrize("if_match", ['""', '"", W/""', 'W/""'])
def test_empty_if_match_tags_match_no_version(client, auth, if_match):
    headers = auth.headers()
    url = client.post("/api/v1/todos", json={"name": "x"}, headers=headers).headers["Location"]
    for method in ("delete", "patch", "put"):
        response = getattr(client, method)(url, json={"name": "y"},
                                           headers={**headers, "If-Match": if_match})
        assert response.status_code == 412, (method, response.get_data(as_text=True))
    assert client.get(url, headers=headers).get_json()["name"] == "x"


@pytest.mark.parametrize("if_match", ['"unterminated', '"', ",", 'W/"x'])
def test_a_malformed_if_match_is_412_not_ignored(client, auth, if_match):
    # review: an If-Match Werkzeug cannot parse was taken as no If-Match: the write went through
    headers = auth.headers()
    created = client.post("/api/v1/todos", json={"name": "x"}, headers=headers)
    url = created.headers["Location"]
    for method in ("delete", "patch", "put"):
        response = getattr(client, method)(url, json={"name": "y"},
                                           headers={**headers, "If-Match": if_match})
        assert_problem(response, 412)
    current = client.get(url, headers=headers)
    assert current.get_json()["name"] == "x" and current.headers["ETag"] == created.headers["ETag"]


# -- lists and races ------------------------------------------------------------------------

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


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_if_unmodified_since_before_the_last_change_is_412_and_changes_nothing(
        client, headers, todo, method):
    url = todo.headers["Location"]
    stale = {**headers, "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    response = getattr(client, method)(url, json={"name": "changed"}, headers=stale)
    body = assert_problem(response, 412)
    assert "If-Unmodified-Since" in body["detail"]
    assert client.get(url, headers=headers).get_json() == todo.get_json()


def test_if_unmodified_since_at_or_after_the_last_change_writes(client, headers, todo):
    # an HTTP date counts whole seconds: the todo's own second is "not after" it
    updated = todo.get_json()["updated_at"]  # e.g. 2026-12-04T12:00:00.123Z
    second = datetime.fromisoformat(updated.replace("Z", "+00:00")).replace(microsecond=0)
    date = format_datetime(second, usegmt=True)
    response = client.patch(todo.headers["Location"], json={"done": True},
                            headers={**headers, "If-Unmodified-Since": date})
    assert response.status_code == 200 and response.get_json()["done"] is True


def test_if_match_takes_precedence_and_a_bad_date_is_ignored(client, headers, todo):
    url = todo.headers["Location"]
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    both = {**headers, "If-Match": todo.headers["ETag"], "If-Unmodified-Since": old}
    assert client.patch(url, json={"done": True}, headers=both).status_code == 200
    garbled = {**headers, "If-Unmodified-Since": "yesterday"}
    assert client.patch(url, json={"done": False}, headers=garbled).status_code == 200
