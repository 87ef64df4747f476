"""Account lifecycle: password change, account deletion (and its retry after a failure
halfway), and the one username normalisation shared by registration and login."""

import pytest
from bson import ObjectId
from pymongo.errors import ServerSelectionTimeoutError

from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import assert_problem, bearer

PASSWORD = "/api/v1/users/me/password"
ME = "/api/v1/users/me"


def _works(client, tokens) -> bool:
    return client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200


def _refresh(client, tokens):
    return client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"]))


# --- password change -----------------------------------------------------------------------

def test_password_change_ends_every_other_session_and_keeps_the_callers(client, auth):
    auth.register("alice", "correct horse")
    mine, other = auth.login(), auth.login()
    response = client.put(PASSWORD, headers=bearer(mine["access_token"]),
                          json={"current_password": "correct horse", "new_password": "battery staple"})
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(ME, headers=bearer(other["access_token"])), 401, type="token-revoked")
    assert_problem(_refresh(client, other), 401, type="token-revoked")
    assert _works(client, mine)
    assert _refresh(client, mine).status_code == 200
    assert_problem(client.post("/api/v1/tokens", auth=("alice", "correct horse")), 401,
                   type="credentials-invalid")
    assert client.post("/api/v1/tokens", auth=("alice", "battery staple")).status_code == 200


def test_wrong_current_password_is_403_and_changes_nothing(client, auth):
    auth.register("alice", "correct horse")
    mine, other = auth.login(), auth.login()
    response = client.put(PASSWORD, headers=bearer(mine["access_token"]),
                          json={"current_password": "wrong horse", "new_password": "battery staple"})
    body = assert_problem(response, 403, type="password-incorrect")
    assert "password" in body["detail"]
    assert _works(client, other) and _works(client, mine)
    assert client.post("/api/v1/tokens", auth=("alice", "correct horse")).status_code == 200


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({"current_password": "correct horse", "new_password": "short"}, {"new_password"}),
        ({"current_password": "correct horse", "new_password": "p" * 129}, {"new_password"}),
        ({"new_password": "battery staple"}, {"current_password"}),
        ({"current_password": "correct horse"}, {"new_password"}),
        ({"current_password": {"$ne": 1}, "new_password": "battery staple"}, {"current_password"}),
        ({"current_password": "correct horse", "new_password": "battery staple", "x": 1}, {"x"}),
    ],
)
def test_invalid_password_changes_are_422_and_change_nothing(client, auth, payload, fields):
    h = auth.headers("alice", "correct horse")
    assert_problem(client.put(PASSWORD, json=payload, headers=h), 422, *fields)
    assert client.post("/api/v1/tokens", auth=("alice", "correct horse")).status_code == 200


def test_password_change_needs_an_access_token(client, auth):
    auth.register()
    tokens = auth.login()
    body = {"current_password": "correct horse", "new_password": "battery staple"}
    assert_problem(client.put(PASSWORD, json=body), 401)
    assert_problem(client.put(PASSWORD, json=body, headers=bearer(tokens["refresh_token"])), 401)


# --- account deletion ----------------------------------------------------------------------

def _account_with_data(client, auth):
    auth.register("alice", "correct horse")
    mine, other = auth.login("alice"), auth.login("alice")
    h = bearer(mine["access_token"])
    for n in range(3):
        client.post("/api/v1/todos", json={"name": f"t{n}"}, headers={**h, "Idempotency-Key": f"k{n}"})
    owner = ObjectId(client.get(ME, headers=h).get_json()["id"])
    return mine, other, owner


def _stored(app, owner):
    from mongo_todos.store.documents import IdempotencyRecord, Session, Todo, User

    with app.app_context():
        return {
            "users": User._get_collection().count_documents({"_id": owner}),
            "todos": Todo._get_collection().count_documents({"owner": owner}),
            "sessions": Session._get_collection().count_documents({"user": owner}),
            "idempotency": IdempotencyRecord._get_collection().count_documents(
                {"_id": {"$regex": f"^{owner}:"}}),
        }


def test_deleting_the_account_removes_everything_and_frees_the_name(app, client, auth):
    auth.register("bob")
    bob = auth.login("bob")
    client.post("/api/v1/todos", json={"name": "bob's"}, headers=bearer(bob["access_token"]))
    mine, other, owner = _account_with_data(client, auth)
    assert _stored(app, owner) == {"users": 1, "todos": 3, "sessions": 2, "idempotency": 3}
    response = client.delete(ME, json={"password": "correct horse"},
                             headers=bearer(mine["access_token"]))
    assert response.status_code == 204 and response.data == b""
    assert _stored(app, owner) == {"users": 0, "todos": 0, "sessions": 0, "idempotency": 0}
    for tokens in (mine, other):
        assert_problem(client.get("/api/v1/todos", headers=bearer(tokens["access_token"])), 401,
                       type="token-revoked")
        assert_problem(_refresh(client, tokens), 401, type="token-revoked")
    assert_problem(client.post("/api/v1/tokens", auth=("alice", "correct horse")), 401,
                   type="credentials-invalid")
    # the name is free again: a new, empty account
    again = client.post("/api/v1/users", json={"username": "ALICE", "password": "new password"})
    assert again.status_code == 201 and again.get_json()["id"] != str(owner)
    fresh = auth.login("ALICE", "new password")
    assert client.get("/api/v1/todos", headers=bearer(fresh["access_token"])).get_json()["items"] == []
    # another account is untouched
    bobs = client.get("/api/v1/todos", headers=bearer(bob["access_token"])).get_json()["items"]
    assert [t["name"] for t in bobs] == ["bob's"]


def test_deleting_the_account_with_a_wrong_password_is_403_and_deletes_nothing(app, client, auth):
    mine, other, owner = _account_with_data(client, auth)
    response = client.delete(ME, json={"password": "wrong horse"}, headers=bearer(mine["access_token"]))
    assert_problem(response, 403, type="password-incorrect")
    assert _stored(app, owner) == {"users": 1, "todos": 3, "sessions": 2, "idempotency": 3}
    assert _works(client, other)


@pytest.mark.parametrize("payload, fields", [({}, {"password"}), ({"password": 1}, {"password"}),
                                              ({"password": "x", "y": 1}, {"y"})])
def test_deleting_the_account_needs_the_password_in_the_body(client, auth, payload, fields):
    h = auth.headers()
    assert_problem(client.delete(ME, json=payload, headers=h), 422, *fields)
    assert client.get(ME, headers=h).status_code == 200


def _fail_once(monkeypatch, collection: str, method: str, skip: int):
    """The ``skip + 1``-th ``method`` on ``collection`` fails as if the database went away."""
    original = getattr(EmbeddedCollection, method)
    state = {"calls": 0}

    def failing(self, *args, **kwargs):
        if self.name == collection:
            state["calls"] += 1
            if state["calls"] == skip + 1:
                raise ServerSelectionTimeoutError("injected outage")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedCollection, method, failing)


@pytest.mark.parametrize("collection, method, skip", [
    ("revoked_families", "insert_many", 0),  # the account marked deleted, nothing else yet
    ("sessions", "delete_many", 0),     # other sessions revoked, still listed
    ("todos", "delete_many", 0),        # other sessions ended, no data gone yet
    ("idempotency_keys", "delete_many", 0),  # todos gone, idempotency records left
    ("users", "delete_one", 0),         # all data gone, the account record left
    ("sessions", "delete_one", 0),      # the account gone, the caller's session left
    ("revoked_families", "update_one", 0),  # the caller's session unlisted, not yet revoked
])
def test_account_deletion_interrupted_halfway_finishes_on_retry(
        app, client, auth, monkeypatch, collection, method, skip):
    mine, other, owner = _account_with_data(client, auth)
    h = bearer(mine["access_token"])
    _fail_once(monkeypatch, collection, method, skip)
    failed = client.delete(ME, json={"password": "correct horse"}, headers=h)
    assert_problem(failed, 503)
    # whatever the step that failed: no new login
    assert_problem(client.post("/api/v1/tokens", auth=("alice", "correct horse")), 401)
    retry = client.delete(ME, json={"password": "correct horse"}, headers=h)
    assert retry.status_code == 204, retry.get_data(as_text=True)
    assert _stored(app, owner) == {"users": 0, "todos": 0, "sessions": 0, "idempotency": 0}
    for tokens in (mine, other):
        assert_problem(client.get("/api/v1/todos", headers=bearer(tokens["access_token"])), 401,
                       type="token-revoked")
    assert client.post("/api/v1/users", json={"username": "alice", "password": "x" * 8}).status_code == 201


# --- usernames: one normalisation ----------------------------------------------------------

@pytest.mark.parametrize("lookalike", [
    "\u212a",          # KELVIN SIGN: NFKC + casefold would make it "k"
    "\uff4b",          # FULLWIDTH LATIN SMALL LETTER K
    "k\n",
])
def test_a_lookalike_of_an_ascii_name_does_not_log_in(client, auth, lookalike):
    auth.register("kkk", "correct horse")
    name = lookalike[0] + "kk" + lookalike[1:]
    for response in (client.post("/api/v1/tokens", json={"username": name, "password": "correct horse"}),
                     client.post("/api/v1/tokens", auth=(name, "correct horse"))):
        assert_problem(response, 401, type="credentials-invalid")
    refused = client.post("/api/v1/users", json={"username": name, "password": "correct horse"})
    assert_problem(refused, 422, "username")


def test_login_ignores_ascii_case_only(client, auth):
    auth.register("Kim.Doe", "correct horse")
    assert client.post("/api/v1/tokens", auth=("kIM.dOE", "correct horse")).status_code == 200


def test_password_checks_share_the_login_budget_per_user(make_app):
    from tests.conftest import Auth

    client = make_app(env={"RATELIMIT_ENABLED": "true", "RATELIMIT_TOKEN": "3 per minute",
                           "RATELIMIT_DEFAULT": "100 per minute"}).test_client()
    auth = Auth(client)
    auth.register("alice")
    auth.register("bob")
    h = bearer(auth.login("alice")["access_token"])
    wrong = {"current_password": "guess", "new_password": "battery staple"}
    assert [client.put(PASSWORD, json=wrong, headers=h).status_code for _ in range(2)] == [403, 403]
    assert client.delete(ME, json={"password": "guess"}, headers=h).status_code == 403
    assert_problem(client.put(PASSWORD, json=wrong, headers=h), 429)
    assert_problem(client.delete(ME, json={"password": "correct horse"}, headers=h), 429)
    # another user's budget is their own
    other = bearer(auth.login("bob")["access_token"])
    assert client.put(PASSWORD, json=wrong, headers=other).status_code == 403
    assert client.get(ME, headers=h).status_code == 200  # other requests are not affected


def test_openapi_documents_the_account_and_session_operations(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    delete_me = paths["/api/v1/users/me"]["delete"]
    body = delete_me["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert schema["required"] == ["password"]
    assert {"204", "401", "403", "422"} <= set(delete_me["responses"])
    change = paths["/api/v1/users/me/password"]["put"]
    assert "requestBody" in change and {"204", "403", "422"} <= set(change["responses"])
    sessions = paths["/api/v1/users/me/sessions"]
    assert {"get", "delete"} <= set(sessions)
    assert {"get", "delete"} <= set(paths["/api/v1/users/me/sessions/{session_id}"])
    assert "404" in paths["/api/v1/users/me/sessions/{session_id}"]["delete"]["responses"]
    for operation in (delete_me, change, sessions["get"], sessions["delete"]):
        assert operation["summary"]
        assert operation.get("security") != []  # they take the bearer token
    tokens = spec["components"]["schemas"]["TokenPair"]["properties"]
    assert "refresh_expires_in" in tokens
    assert "reuse" in paths["/api/v1/tokens/refresh"]["post"]["description"].lower()
