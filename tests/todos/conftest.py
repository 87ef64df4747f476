"""Fixtures of the todo tests: alice's Authorization header and one todo of hers."""

import pytest


@pytest.fixture
def headers(auth):
    return auth.headers("alice")


@pytest.fixture
def todo(client, headers):
    response = client.post(
        "/api/v1/todos", json={"name": "buy", "task": "buy groceries", "tags": ["home"]},
        headers=headers,
    )
    assert response.status_code == 201
    return response
