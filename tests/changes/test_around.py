"""Around the feed: `etag` in every representation, 410 todo-deleted for the owner's deleted
todo, and PUT with If-None-Match: * creating at a client-made id."""

from __future__ import annotations

import pytest
from bson import ObjectId

from mongo_todos.todos import idempotency, store
from tests.changes.conftest import CHANGES
from tests.conftest import assert_problem

TODOS = "/api/v1/todos"


@pytest.fixture
def todo(client, headers):
    return client.post(TODOS, json={"name": "buy"}, headers=headers)


def test_every_representation_carries_its_etag(client, headers, todo):
    assert todo.get_json()["etag"] == todo.headers["ETag"]
    url = todo.headers["Location"]
    got = client.get(url, headers=headers)
    assert got.get_json()["etag"] == got.headers["ETag"] == todo.headers["ETag"]
    patched = client.patch(url, json={"done": True}, headers=headers)
    assert patched.get_json()["etag"] == patched.headers["ETag"] != todo.headers["ETag"]
    listed = client.get(TODOS, headers=headers).get_json()["items"][0]
    changed = client.get(CHANGES, headers=headers).get_json()["items"][0]
    assert listed["etag"] == changed["etag"] == patched.headers["ETag"]


def test_the_body_etag_is_enough_for_a_conditional_write(client, headers, todo):
    listed = client.get(TODOS, headers=headers).get_json()["items"][0]
    ok = client.patch(listed["url"], json={"done": True},
                      headers={**headers, "If-Match": listed["etag"]})
    assert ok.status_code == 200
    stale = client.patch(listed["url"], json={"done": False},
                         headers={**headers, "If-Match": listed["etag"]})
    assert_problem(stale, 412)


@pytest.mark.parametrize("method, body", [("get", None), ("put", {"name": "x"}),
                                          ("patch", {"done": True}), ("delete", None)])
def test_the_owners_deleted_todo_is_410_another_account_404(client, headers, auth, todo,
                                                            method, body):
    url = todo.headers["Location"]
    client.delete(url, headers=headers)
    answer = getattr(client, method)(url, json=body, headers=headers)
    assert_problem(answer, 410, type="todo-deleted")
    bob = auth.headers("bob")
    other = getattr(client, method)(url, json=body, headers=bob)
    never = getattr(client, method)(f"{TODOS}/{ObjectId()}", json=body, headers=bob)
    assert_problem(other, 404)
    assert other.get_json() == never.get_json()


def test_an_unknown_id_stays_404(client, headers):
    assert_problem(client.get(f"{TODOS}/{ObjectId()}", headers=headers), 404)
    assert_problem(client.delete(f"{TODOS}/{ObjectId()}", headers=headers), 404)
    # and a failed delete leaves no tombstone behind: still 404, not 410
    missing = f"{TODOS}/{ObjectId()}"
    client.delete(missing, headers=headers)
    assert_problem(client.get(missing, headers=headers), 404)


def test_put_with_if_none_match_star_creates_at_a_client_made_id(client, headers):
    todo_id = str(ObjectId())
    url = f"http://localhost{TODOS}/{todo_id}"
    created = client.put(url, json={"name": "offline", "tags": ["x"]},
                         headers={**headers, "If-None-Match": "*"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["id"] == todo_id and body["url"] == url and body["tags"] == ["x"]
    assert created.headers["Location"] == url
    assert created.headers["ETag"] == body["etag"]
    assert client.get(url, headers=headers).get_json() == body
    assert client.get(CHANGES, headers=headers).get_json()["items"] == [{**body, "deleted": False}]


def test_put_create_refuses_an_id_in_use_in_any_account_alike(client, headers, auth, todo):
    url = todo.headers["Location"]
    mine = client.put(url, json={"name": "again"}, headers={**headers, "If-None-Match": "*"})
    theirs = client.put(url, json={"name": "again"},
                        headers={**auth.headers("bob"), "If-None-Match": "*"})
    assert_problem(mine, 412)
    assert_problem(theirs, 412)
    assert mine.get_json() == theirs.get_json()  # no leak: the same answer
    assert client.get(url, headers=headers).get_json()["name"] == "buy"  # no overwrite


def test_put_create_refuses_a_deleted_id(client, headers, auth, todo):
    url = todo.headers["Location"]
    client.delete(url, headers=headers)
    for who in (headers, auth.headers("bob")):
        assert_problem(client.put(url, json={"name": "again"}, headers={**who, "If-None-Match": "*"}),
                       412)


def test_put_without_if_none_match_to_an_unknown_id_stays_404(client, headers):
    url = f"{TODOS}/{ObjectId()}"
    assert_problem(client.put(url, json={"name": "x"}, headers=headers), 404)
    assert_problem(client.put(f"{TODOS}/nothex", json={"name": "x"},
                              headers={**headers, "If-None-Match": "*"}), 404)


def test_put_create_validates_like_post(client, headers):
    answer = client.put(f"{TODOS}/{ObjectId()}", json={"name": ""},
                        headers={**headers, "If-None-Match": "*"})
    assert_problem(answer, 422, "name")


def test_an_id_claimed_with_put_does_not_break_another_accounts_post(client, auth, headers,
                                                                      monkeypatch):
    """ObjectIds the server makes are predictable (time, process, counter): an account that
    claims the next ones with PUT If-None-Match: * must not make other accounts' POSTs fail."""
    claimed = ObjectId()
    assert client.put(f"{TODOS}/{claimed}", json={"name": "squat"},
                      headers={**headers, "If-None-Match": "*"}).status_code == 201
    made = iter([claimed])
    monkeypatch.setattr(store, "ObjectId",
                        lambda *a: ObjectId(*a) if a else next(made, None) or ObjectId())
    bob = auth.headers("bob")
    created = client.post(TODOS, json={"name": "mine"}, headers=bob)
    assert created.status_code == 201, created.get_data()
    assert created.get_json()["id"] != str(claimed)
    assert client.get(created.headers["Location"], headers=bob).get_json()["name"] == "mine"
    assert client.get(f"{TODOS}/{claimed}", headers=headers).get_json()["name"] == "squat"


def test_an_idempotent_post_gets_an_id_no_client_can_claim_first(client, auth, headers,
                                                                  monkeypatch):
    """The id an Idempotency-Key reserves is not ObjectId()'s next one (here: one that
    another account claimed with PUT If-None-Match: *, as if it had guessed it)."""
    claimed = ObjectId()
    assert client.put(f"{TODOS}/{claimed}", json={"name": "squat"},
                      headers={**headers, "If-None-Match": "*"}).status_code == 201
    made = iter([claimed])
    monkeypatch.setattr(idempotency, "ObjectId",
                        lambda *a: ObjectId(*a) if a else next(made, None) or ObjectId())
    bob = {**auth.headers("bob"), "Idempotency-Key": "k1"}
    created = client.post(TODOS, json={"name": "mine"}, headers=bob)
    assert created.status_code == 201, created.get_data()
    assert created.get_json()["id"] != str(claimed)
    again = client.post(TODOS, json={"name": "mine"}, headers=bob)
    assert again.status_code == 201 and again.get_json()["id"] == created.get_json()["id"]
