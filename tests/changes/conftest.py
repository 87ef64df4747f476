"""Fixtures of the changes-feed tests: an account's headers, and a client-side copy that
syncs the way docs/sync.md tells a client to."""

from __future__ import annotations

import pytest
from bson import ObjectId

from mongo_todos import dates
from mongo_todos.todos import sequence, store

CHANGES = "/api/v1/todos/changes"


@pytest.fixture
def headers(auth):
    return auth.headers("alice")


class Replica:
    """A syncing client's local copy: todo id -> representation, and the last token."""

    def __init__(self, client, headers: dict, limit: int | None = None):
        self.client, self.headers, self.limit = client, headers, limit
        self.todos: dict[str, dict] = {}
        self.token: str | None = None
        self.pages = 0

    def page(self) -> dict:
        """Ask for one page after the token and apply it; the answer."""
        params = {}
        if self.token is not None:
            params["since"] = self.token
        if self.limit is not None:
            params["limit"] = self.limit
        response = self.client.get(CHANGES, query_string=params, headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        for change in body["items"]:
            if change["deleted"]:
                self.todos.pop(change["id"], None)
            else:
                self.todos[change["id"]] = {k: v for k, v in change.items() if k != "deleted"}
        self.token = body["since"]
        self.pages += 1
        return body

    def sync(self) -> dict:
        """Pages until ``has_more`` is false; the last answer."""
        while (body := self.page())["has_more"]:
            pass
        return body


def server_todos(client, headers: dict) -> dict[str, dict]:
    """Every todo of the account as the list shows it, by id."""
    todos, url = {}, "/api/v1/todos?limit=100"
    while url:
        body = client.get(url, headers=headers).get_json()
        todos.update({todo["id"]: todo for todo in body["items"]})
        url = body["links"]["next"]
    return todos


def owner_of(client, headers: dict) -> ObjectId:
    return ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])


def insert_batch(app, owner: ObjectId, n: int, seq_each: bool = True) -> list[ObjectId]:
    """Insert ``n`` todos as a batch writer (an import job) would: one reservation, numbered
    one each (``seq_each``) or all with the reservation's first number."""
    ids = [ObjectId() for _ in range(n)]
    now = dates.utcnow()
    with app.app_context(), sequence.stamped(owner, n) as reservation:
        store.collection().insert_many([
            {"_id": todo_id, "owner": owner, **store.stored_fields(
                {"name": f"n{i}", "task": "", "due_at": None}),
             "done": False, "tags": [], "created_at": now, "updated_at": now, "version": 1,
             "seq": reservation.first + (i if seq_each else 0)}
            for i, todo_id in enumerate(ids)])
    return ids

