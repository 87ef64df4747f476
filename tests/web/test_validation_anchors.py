"""Validation regexes match the whole value: Python's ``$`` also matches before a final
newline, so ``"alice\\n"`` or an id followed by ``%0A`` must not slip through."""

import pytest

from tests.conftest import assert_problem


@pytest.mark.parametrize("username", ["alice\n", "alice\r\n", "\nalice", "ali\nce"])
def test_username_with_a_newline_is_refused_at_registration(client, username):
    response = client.post("/api/v1/users", json={"username": username, "password": "correct horse"})
    assert_problem(response, 422, "username")


def test_username_with_a_trailing_newline_cannot_log_in(client, auth):
    auth.register("alice")
    response = client.post("/api/v1/tokens", json={"username": "alice\n", "password": "correct horse"})
    assert_problem(response, 401, type="credentials-invalid")


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%00"])
def test_todo_id_followed_by_a_control_character_is_404(client, auth, suffix):
    h = auth.headers()
    todo_id = client.post("/api/v1/todos", json={"name": "x"}, headers=h).get_json()["id"]
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/todos/{todo_id}{suffix}", headers=h,
                                           **({"json": {"done": True}} if method == "patch" else {}))
        assert_problem(response, 404)
    assert client.get(f"/api/v1/todos/{todo_id}", headers=h).get_json()["done"] is False


def test_due_at_with_a_trailing_newline_is_422(client, auth):
    response = client.post("/api/v1/todos", json={"name": "x", "due_at": "2026-11-21T09:30:00Z\n"},
                           headers=auth.headers())
    assert_problem(response, 422, "due_at")


def test_idempotency_key_with_a_trailing_newline_is_422(client, auth):
    # werkzeug's test client refuses newlines in headers: set the raw WSGI value
    response = client.post("/api/v1/todos", json={"name": "x"}, headers=auth.headers(),
                           environ_overrides={"HTTP_IDEMPOTENCY_KEY": "abc\n"})
    assert_problem(response, 422, "Idempotency-Key")
    assert client.get("/api/v1/todos", headers=auth.headers()).get_json()["items"] == []


def test_request_id_with_a_trailing_newline_is_replaced(client):
    response = client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": "abc\n"})
    assert response.headers["X-Request-ID"] != "abc\n"
    assert len(response.headers["X-Request-ID"]) == 32


def test_due_at_with_non_ascii_digits_is_422(client, auth):
    response = client.post("/api/v1/todos", json={"name": "x", "due_at": "\u0662\u0660\u0662\u0666-11-21T09:30:00Z"},
                           headers=auth.headers())
    body = assert_problem(response, 422, "due_at")
    assert "RFC 3339" in body["errors"]["due_at"][0]
