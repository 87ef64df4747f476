"""Bulk changes: by the list's filters, each todo changed as if PATCHed (new ETag and
updated_at) or deleted; bad filters and bodies are 422."""

from __future__ import annotations

import pytest

from mongo_todos.store.documents import Job
from tests.conftest import assert_problem
from tests.jobs.conftest import create_todos, start


@pytest.fixture
def todos(client, headers):
    return create_todos(client, headers, {"name": "a", "tags": ["home"]},
                        {"name": "b", "tags": ["home"], "done": True},
                        {"name": "c", "tags": ["work"]})


def current(client, headers, todo):
    response = client.get(todo["url"], headers=headers)
    return response.status_code, response.headers.get("ETag"), response.get_json()


def test_set_changes_each_selected_todo_as_a_patch_would(client, headers, todos):
    before = {t["name"]: current(client, headers, t) for t in todos}
    job = start(client, headers, "/api/v1/todos/bulk",
                json={"filter": {"tag": "home"}, "set": {"done": True}})
    assert job["result"] == {"matched": 2, "modified": 1}
    after = {t["name"]: current(client, headers, t) for t in todos}
    assert after["a"][2]["done"] is True
    assert after["a"][1] != before["a"][1]  # a new ETag
    assert after["a"][2]["updated_at"] > before["a"][2]["updated_at"]
    assert after["b"] == before["b"] and after["c"] == before["c"]  # nothing to change


def test_tags_are_added_and_removed(client, headers, todos):
    job = start(client, headers, "/api/v1/todos/bulk",
                json={"filter": {}, "add_tags": ["x", "home"], "remove_tags": ["work"]})
    assert job["result"] == {"matched": 3, "modified": 3}
    tags = {t["name"]: current(client, headers, t)[2]["tags"] for t in todos}
    assert tags == {"a": ["home", "x"], "b": ["home", "x"], "c": ["x", "home"]}


def test_a_todo_would_pass_20_tags_keeps_its_own(client, headers):
    full, = create_todos(client, headers, {"name": "full", "tags": [f"t{i}" for i in range(20)]})
    job = start(client, headers, "/api/v1/todos/bulk", json={"filter": {}, "add_tags": ["new"]})
    assert job["result"] == {"matched": 1, "modified": 0}
    assert current(client, headers, full)[2]["tags"] == full["tags"]


def test_delete_removes_the_selected_todos(client, headers, todos):
    job = start(client, headers, "/api/v1/todos/bulk",
                json={"filter": {"done": False}, "delete": True})
    assert job["result"] == {"matched": 2, "deleted": 2}
    # deleted as a DELETE deletes: the owner's deleted todo is a 410 (the changes feed's)
    assert [current(client, headers, t)[0] for t in todos] == [410, 200, 410]


def test_bulk_touches_only_the_callers_todos(client, headers, todos, auth):
    mallory = auth.headers("mallory")
    job = start(client, mallory, "/api/v1/todos/bulk", json={"filter": {}, "delete": True})
    assert job["result"] == {"matched": 0, "deleted": 0}
    assert all(current(client, headers, t)[0] == 200 for t in todos)


@pytest.mark.parametrize("body,fields", [
    ({}, {"filter"}),
    ({"filter": {}}, {"_body"}),
    ({"filter": {"done": 1}, "delete": True}, {"filter.done"}),
    ({"filter": {"sort": "name"}, "delete": True}, {"filter.sort"}),
    ({"filter": {"tag": ""}, "delete": True}, {"filter.tag"}),
    ({"filter": {}, "delete": False}, {"delete"}),
    ({"filter": {}, "delete": True, "set": {"done": True}}, {"delete"}),
    ({"filter": {}, "set": {"name": "x"}}, {"set.name", "set.done"}),
    ({"filter": {}, "add_tags": ["a", "a"]}, {"add_tags"}),
    ({"filter": {}, "add_tags": []}, {"add_tags"}),
    ({"filter": {}, "rename": "x"}, {"rename"}),
])
def test_bad_filters_and_bodies_are_422_and_change_nothing(client, headers, todos, app,
                                                           body, fields):
    response = client.post("/api/v1/todos/bulk", json=body, headers=headers)
    assert_problem(response, 422, *fields)
    with app.app_context():
        assert Job.objects.count() == 0
