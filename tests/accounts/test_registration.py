"""Accounts: registration, uniqueness, validation and the caller's profile."""

import re

import pytest

from mongo_todos import create_app
from mongo_todos.store.documents import User
from tests.conftest import TEST_ENV, assert_problem


def test_register_returns_the_account_and_its_location(client):
    response = client.post("/api/v1/users", json={"username": "Alice", "password": "correct horse"})
    assert response.status_code == 201
    assert response.headers["Location"] == "http://localhost/api/v1/users/me"
    body = response.get_json()
    assert body["username"] == "Alice"
    assert re.fullmatch(r"[0-9a-f]{24}", body["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["created_at"])
    assert body["url"] == "http://localhost/api/v1/users/me"
    assert set(body) == {"id", "username", "created_at", "url"}


def test_usernames_are_unique_case_insensitively(client, auth):
    auth.register("alice")
    response = client.post("/api/v1/users", json={"username": "ALICE", "password": "another pw"})
    body = assert_problem(response, 409)
    assert "ALICE" in body["detail"]


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({"username": "al", "password": "correct horse"}, {"username"}),
        ({"username": "a" * 33, "password": "correct horse"}, {"username"}),
        ({"username": "al ice", "password": "correct horse"}, {"username"}),
        ({"username": "alice", "password": "short"}, {"password"}),
        ({"username": "alice", "password": "p" * 129}, {"password"}),
        ({"username": {"$ne": None}, "password": "correct horse"}, {"username"}),
        ({"password": "correct horse"}, {"username"}),
        ({"username": "alice", "password": "correct horse", "admin": True}, {"admin"}),
    ],
)
def test_invalid_registrations_are_422_per_field(client, payload, fields):
    response = client.post("/api/v1/users", json=payload)
    body = assert_problem(response, 422, *fields)
    assert all(isinstance(m, str) for msgs in body["errors"].values() for m in msgs)


def test_registration_can_be_closed(make_app):
    client = make_app(REGISTRATION_OPEN=False).test_client()
    response = client.post("/api/v1/users", json={"username": "alice", "password": "correct horse"})
    assert_problem(response, 403)


def test_me_returns_the_caller(client, auth):
    registered = auth.register("alice")
    response = client.get("/api/v1/users/me", headers=auth.headers("alice"))
    assert response.status_code == 200
    assert response.get_json() == registered


def test_password_hash_is_slow_and_salted(app, client, auth):
    from mongo_todos.store.documents import User

    auth.register("alice", "same password")
    auth.register("bob", "same password")
    hashes = [u.password_hash for u in User.objects.order_by("username")]
    assert hashes[0] != hashes[1]
    assert all(h.startswith("pbkdf2:sha256:") for h in hashes)  # the test config's method
    assert "same password" not in hashes[0]


def test_production_hash_is_scrypt(make_app):
    app = make_app(PASSWORD_HASH_METHOD="scrypt")
    with app.app_context():
        from mongo_todos.accounts.auth import hash_password

        assert hash_password("correct horse").startswith("scrypt:")


def test_a_deployment_sizes_the_password_hash_and_old_hashes_still_verify():
    """PASSWORD_HASH_METHOD (mongo_todos.settings) picks the hash of new passwords; a hash made
    with another method keeps verifying (werkzeug reads the method from the stored hash)."""
    user = {"username": "sized", "password": "correct horse"}
    first = create_app({"TESTING": True}, env={**TEST_ENV,
                                               "PASSWORD_HASH_METHOD": "pbkdf2:sha256:100000"})
    with first.app_context():
        assert first.test_client().post("/api/v1/users", json=user).status_code == 201
        stored = User.objects(username=user["username"]).first()
        assert stored.password_hash.startswith("pbkdf2:sha256:100000$")
        first.config["PASSWORD_HASH_METHOD"] = "scrypt:16384:8:1"  # the deployment changes it
        login = first.test_client().post("/api/v1/tokens", auth=(user["username"],
                                                                 user["password"]))
        assert login.status_code == 200 and "access_token" in login.get_json()
