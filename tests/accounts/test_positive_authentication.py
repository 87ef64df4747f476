"""Authentication is positive (issue 19, items 8 and 10): a token is good only while its
session exists, so a wiped store ends it, and a login that races an account deletion or a
password change (it read the user before, and finished checking the password after) ends
itself instead of outliving the sweep of sessions."""

import pytest

from mongo_todos.accounts import auth as auth_module
from mongo_todos.store.documents import Session, User
from tests.conftest import assert_problem, bearer


def _racing_check(monkeypatch, app, change):
    """Make the password check run ``change`` (a deletion or a password change of the user
    being logged in) while it "hashes", as a slow scrypt racing another request would (in
    the password-hash thread, as another request: with an app context of its own)."""
    real = auth_module.check_password_hash

    def check(stored_hash, password):
        with app.app_context():
            user = User.objects(password_hash=stored_hash).first()
            if user is not None:
                change(user.id)
        return real(stored_hash, password)

    monkeypatch.setattr(auth_module, "check_password_hash", check)


def _sessions(app) -> int:
    with app.app_context():
        return Session._get_collection().count_documents({})


@pytest.mark.parametrize("change", ["deletion", "password-change"])
def test_a_login_racing_a_deletion_or_password_change_ends_itself(app, client, auth, monkeypatch, change):
    from mongo_todos.accounts.users import delete_account, set_password

    auth.register("alice", "correct horse")
    if change == "deletion":
        _racing_check(monkeypatch, app, lambda user_id: delete_account(user_id))
    else:
        _racing_check(monkeypatch, app, lambda user_id: set_password(user_id, "battery staple"))
    response = client.post("/api/v1/tokens", auth=("alice", "correct horse"))
    assert_problem(response, 401, type="credentials-invalid")
    assert _sessions(app) == 0  # nothing left that could refresh for SESSION_MAX_AGE


def test_a_login_not_raced_still_works(app, client, auth, monkeypatch):
    auth.register("alice", "correct horse")
    _racing_check(monkeypatch, app, lambda user_id: None)
    tokens = auth.login("alice")
    assert client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_a_restart_of_the_embedded_store_with_fixed_keys_ends_old_tokens(make_app):
    first = make_app()  # TEST_ENV fixes SECRET_KEY and JWT_SECRET_KEY
    client = first.test_client()
    client.post("/api/v1/users", json={"username": "alice", "password": "correct horse"})
    live = client.post("/api/v1/tokens", auth=("alice", "correct horse")).get_json()
    ended = client.post("/api/v1/tokens", auth=("alice", "correct horse")).get_json()
    assert client.delete("/api/v1/tokens", headers=bearer(ended["access_token"])).status_code == 204
    assert client.get("/api/v1/todos", headers=bearer(live["access_token"])).status_code == 200

    restarted = make_app().test_client()  # same keys, a fresh (wiped) embedded store
    for tokens in (live, ended):
        h = bearer(tokens["access_token"])
        assert_problem(restarted.get("/api/v1/todos", headers=h), 401, type="token-revoked")
        assert_problem(restarted.post("/api/v1/todos", json={"name": "x"}, headers=h), 401,
                       type="token-revoked")
        assert_problem(restarted.post("/api/v1/tokens/refresh",
                                      headers=bearer(tokens["refresh_token"])), 401)
