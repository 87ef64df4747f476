"""Tokens: login, rotation with reuse detection, logout, and every bad-token case as a 401."""

from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_jwt_header,
    verify_jwt_in_request,
)

from mongo_todos.web import api
from tests.conftest import assert_problem, bearer


def test_login_with_basic_credentials(client, auth):
    auth.register("alice", "correct horse")
    response = client.post("/api/v1/tokens", auth=("alice", "correct horse"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 2592000
    assert body["access_token"].count(".") == 2 and body["refresh_token"].count(".") == 2


def test_login_with_json_credentials_ignores_username_case(client, auth):
    auth.register("Alice", "correct horse")
    response = client.post("/api/v1/tokens", json={"username": "aLiCe", "password": "correct horse"})
    assert response.status_code == 200
    me = client.get("/api/v1/users/me", headers=bearer(response.get_json()["access_token"]))
    assert me.get_json()["username"] == "Alice"


def test_wrong_password_and_unknown_user_get_the_same_401(client, auth):
    auth.register("alice", "correct horse")
    wrong = client.post("/api/v1/tokens", auth=("alice", "wrong horse"))
    unknown = client.post("/api/v1/tokens", auth=("nobody", "wrong horse"))
    assert_problem(wrong, 401)
    assert wrong.get_json() == unknown.get_json()
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_login_without_credentials_is_401(client):
    response = client.post("/api/v1/tokens")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({"username": {"$ne": None}, "password": "x"}, {"username"}),
        ({"username": "alice"}, {"password"}),
        ({"username": "alice", "password": "x", "extra": 1}, {"extra"}),
    ],
)
def test_malformed_json_credentials_are_422(client, payload, fields):
    assert_problem(client.post("/api/v1/tokens", json=payload), 422, *fields)


def test_refresh_rotates_the_pair(client, auth):
    auth.register()
    tokens = auth.login()
    response = client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    new = response.get_json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert client.get("/api/v1/users/me", headers=bearer(new["access_token"])).status_code == 200
    again = client.post("/api/v1/tokens/refresh", headers=bearer(new["refresh_token"]))
    assert again.status_code == 200


def test_reused_refresh_token_revokes_family(client, auth, clock):
    auth.register()
    first = auth.login()
    second = client.post("/api/v1/tokens/refresh", headers=bearer(first["refresh_token"])).get_json()
    # the spent token comes back after the reuse leeway (a thief, or a replay): the login ends
    clock.advance(seconds=31)
    reuse = client.post("/api/v1/tokens/refresh", headers=bearer(first["refresh_token"]))
    body = assert_problem(reuse, 401)
    assert "already used" in body["detail"]
    for token in (second["access_token"], first["access_token"]):
        assert_problem(client.get("/api/v1/users/me", headers=bearer(token)), 401)
    assert_problem(
        client.post("/api/v1/tokens/refresh", headers=bearer(second["refresh_token"])), 401
    )


def test_reuse_does_not_touch_other_logins(client, auth):
    auth.register()
    victim, other = auth.login(), auth.login()
    client.post("/api/v1/tokens/refresh", headers=bearer(victim["refresh_token"]))
    client.post("/api/v1/tokens/refresh", headers=bearer(victim["refresh_token"]))
    assert client.get("/api/v1/users/me", headers=bearer(other["access_token"])).status_code == 200


def test_logout_revokes_access_and_refresh_tokens(client, auth):
    auth.register()
    tokens = auth.login()
    response = client.delete("/api/v1/tokens", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])), 401)
    assert_problem(
        client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"])), 401
    )


def test_revocation_records_have_ttl_indexes(app):
    from mongo_todos.store.documents import RevokedFamily, Session

    with app.app_context():
        for document in (Session, RevokedFamily):
            info = document._get_collection().index_information()
            ttl = [i for i in info.values() if "expireAfterSeconds" in i]
            assert ttl and ttl[0]["key"] == [("expires_at", 1)]
            assert ttl[0]["expireAfterSeconds"] == 0


def _token(app, kind, **kwargs):
    with app.app_context():
        make = create_access_token if kind == "access" else create_refresh_token
        return make("6560f0c2a1b2c3d4e5f60718", **kwargs)


@pytest.mark.parametrize(
    "header, detail",
    [
        (None, "needs 'Authorization: Bearer"),
        ({"Authorization": "Bearer"}, "Expected 'Authorization: Bearer <JWT>'"),
        ({"Authorization": "Bearer not-a-jwt"}, "not valid"),
        ({"Authorization": "Basic YWxpY2U6eA=="}, "needs"),
        # alg "none" with a plausible payload
        ({"Authorization": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
          "eyJzdWIiOiI2NTYwZjBjMmExYjJjM2Q0ZTVmNjA3MTgiLCJ0eXBlIjoiYWNjZXNzIn0."}, "not valid"),
    ],
)
def test_bad_tokens_are_401_problems(client, header, detail):
    response = client.get("/api/v1/todos", headers=header or {})
    body = assert_problem(response, 401)
    assert detail in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_signed_with_another_key_is_401(app, make_app):
    foreign = make_app(JWT_SECRET_KEY="another-jwt-secret-key-long-enough-0123456")
    token = _token(foreign, "access", additional_claims={"fam": "x"})
    response = app.test_client().get("/api/v1/todos", headers=bearer(token))
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    detail = assert_problem(response, 401)["detail"]
    # says the likely why: a restart of the embedded default makes new random keys
    assert "Signature verification failed" in detail and "restarted with new keys" in detail


def test_expired_token_is_401(app, client):
    token = _token(app, "access", expires_delta=timedelta(seconds=-1), additional_claims={"fam": "x"})
    assert "expired" in assert_problem(client.get("/api/v1/todos", headers=bearer(token)), 401)["detail"]


def test_refresh_token_is_refused_as_access_token(client, auth):
    auth.register()
    tokens = auth.login()
    assert_problem(client.get("/api/v1/todos", headers=bearer(tokens["refresh_token"])), 401)


def test_access_token_is_refused_for_refresh(client, auth):
    auth.register()
    tokens = auth.login()
    response = client.post("/api/v1/tokens/refresh", headers=bearer(tokens["access_token"]))
    assert_problem(response, 401)


def test_token_without_family_is_refused(app, client):
    token = _token(app, "access")  # validly signed, but not issued by a login
    assert "revoked" in assert_problem(client.get("/api/v1/todos", headers=bearer(token)), 401)["detail"]


@pytest.mark.parametrize("ratelimit", ["false", "true"])
def test_a_basic_header_with_non_ascii_characters_is_401_not_500(make_app, ratelimit):
    # review: Werkzeug's Authorization parser raised ValueError on "Basic éé" (a 500)
    client = make_app(env={"RATELIMIT_ENABLED": ratelimit}).test_client()
    response = client.post("/api/v1/tokens", headers={"Authorization": "Basic éé"})
    assert_problem(response, 401, type="token-missing")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_responses_are_never_cached(client, auth):
    auth.register()
    tokens = client.post("/api/v1/tokens", auth=("alice", "correct horse"))
    assert tokens.headers["Cache-Control"] == "no-store"
    refreshed = client.post("/api/v1/tokens/refresh",
                            headers={"Authorization": f"Bearer {tokens.get_json()['refresh_token']}"})
    assert refreshed.headers["Cache-Control"] == "no-store"


def test_a_verified_tokens_header_comes_from_the_cache_and_is_the_libraries(app, client, auth):
    """The header flask-jwt-extended reads again after verifying a token is served from the
    verified-token cache, equal to PyJWT's reading; a token never verified is read as before."""
    headers = auth.headers()
    token = headers["Authorization"].split()[1]
    with app.test_request_context(headers=headers):
        verify_jwt_in_request()
        assert get_jwt_header() == pyjwt.get_unverified_header(token)
        cached = app.extensions[api._VERIFIED_JWTS][token][1]
        assert api._unverified_header(token) == cached == pyjwt.get_unverified_header(token)
        assert api._unverified_header(token) is not cached  # a copy: callers cannot change it
        other = _token(app, "access", additional_claims={"fam": "x"}, additional_headers={"kid": "k1"})
        assert api._unverified_header(other)["kid"] == "k1"  # never verified: read as before
