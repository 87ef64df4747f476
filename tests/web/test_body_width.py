"""Bounded errors: a body of absurdly many keys or items is refused whole (one small 422),
and a 422 lists at most MAX_FIELD_ERRORS fields plus a count of the rest."""

import json

import pytest

from mongo_todos.web.errors import MAX_FIELD_ERRORS
from mongo_todos.web.request_body import MAX_ITEMS, MAX_KEYS
from tests.conftest import assert_problem


@pytest.fixture
def headers(auth):
    return auth.headers()


def _post(client, path, body, headers=None):
    data = json.dumps(body, separators=(",", ":"))  # compact: 88,000 keys stay under 1 MiB
    return client.post(path, data=data, content_type="application/json", headers=headers or {})


def test_a_body_of_88000_unknown_keys_gets_one_small_422(client):
    body = {"username": "wide", "password": "correct horse"}
    body.update({f"k{i:05d}": 1 for i in range(88_000)})
    response = _post(client, "/api/v1/users", body)
    problem = assert_problem(response, 422)
    assert len(response.get_data()) < 10_000
    assert f"more than {MAX_KEYS} keys" in problem["detail"]
    assert "errors" not in problem


def test_255000_empty_tags_get_one_small_422(client, headers):
    response = _post(client, "/api/v1/todos", {"name": "x", "tags": [{}] * 255_000}, headers)
    problem = assert_problem(response, 422)
    assert len(response.get_data()) < 10_000
    assert f"more than {MAX_ITEMS} items" in problem["detail"]


def test_a_body_at_the_limits_reaches_the_schema(client, headers):
    body = {"name": "x", "tags": ["a"] * MAX_ITEMS}
    assert_problem(_post(client, "/api/v1/todos", body, headers), 422, "tags")


def test_a_422_lists_at_most_max_field_errors_and_counts_the_rest(client, headers):
    body = {"name": "x"} | {f"k{i:02d}": 1 for i in range(MAX_KEYS - 1)}
    response = _post(client, "/api/v1/todos", body, headers)
    problem = assert_problem(response, 422)
    assert sorted(problem["errors"]) == [f"k{i:02d}" for i in range(MAX_FIELD_ERRORS)]
    left_out = MAX_KEYS - 1 - MAX_FIELD_ERRORS
    assert problem["detail"].endswith(f"and {left_out} more (not listed).")


def test_a_normal_validation_error_is_unchanged(client, headers):
    problem = assert_problem(_post(client, "/api/v1/todos", {"name": ""}, headers), 422, "name")
    assert problem["detail"] == "The request has invalid fields: name."
