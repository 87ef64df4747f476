"""Credentials leak nowhere: a login costs the same for an unknown user as for a wrong
password, password hashes never leave the server, tokens and passwords never reach the log."""

import logging

from tests.conftest import bearer


def test_unknown_user_and_wrong_password_cost_the_same(app, client, auth, monkeypatch):
    """Both paths check exactly one hash made with the configured method and cost."""
    import mongo_todos.accounts.auth as auth_module

    auth.register("alice")
    checked = []
    original = auth_module.check_password_hash

    def spy(pwhash, password):
        checked.append(pwhash.split("$", 1)[0])
        return original(pwhash, password)

    monkeypatch.setattr(auth_module, "check_password_hash", spy)
    client.post("/api/v1/tokens", auth=("alice", "wrong horse"))
    client.post("/api/v1/tokens", auth=("nobody", "wrong horse"))
    assert len(checked) == 2
    assert checked[0] == checked[1] == app.config["PASSWORD_HASH_METHOD"]


def test_password_hashes_never_leave_the_server(client, auth):
    registered = client.post("/api/v1/users", json={"username": "alice", "password": "correct horse"})
    headers = auth.headers("alice")
    bodies = [registered.get_data(as_text=True),
              client.get("/api/v1/users/me", headers=headers).get_data(as_text=True),
              client.post("/api/v1/tokens", auth=("alice", "correct horse")).get_data(as_text=True)]
    for body in bodies:
        assert "pbkdf2" not in body and "scrypt" not in body and "password" not in body


def test_tokens_and_passwords_never_reach_the_log(client, auth, caplog, clock):
    caplog.set_level(logging.DEBUG)
    tokens = auth.register("alice") and auth.login("alice")
    client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"]))
    clock.advance(seconds=31)  # past the reuse leeway
    client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"]))  # reuse
    client.get("/api/v1/todos", headers=bearer(tokens["access_token"] + "x"))
    client.post("/api/v1/tokens", auth=("alice", "correct horse x"))
    assert any("reuse" in r.getMessage() for r in caplog.records)
    assert any("login failed" in r.getMessage() for r in caplog.records)
    text = caplog.text
    assert tokens["access_token"] not in text and tokens["refresh_token"] not in text
    assert "correct horse" not in text
