"""Sessions: listing and ending logins, logout with either token, refresh retries within the
reuse leeway, reuse after it, and the absolute session lifetime."""

import threading
from datetime import timedelta

import jwt as pyjwt
import pytest

from tests.conftest import assert_problem, bearer

SESSIONS = "/api/v1/users/me/sessions"


def _refresh(client, tokens):
    return client.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"]))


def _works(client, tokens) -> bool:
    return client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_sessions_list_the_account_logins_with_where_and_when(client, auth):
    auth.register()
    laptop = client.post("/api/v1/tokens", auth=("alice", "correct horse"),
                         headers={"User-Agent": "laptop-browser/1.0"}).get_json()
    phone = client.post("/api/v1/tokens", auth=("alice", "correct horse"),
                        headers={"User-Agent": "phone-app/2.0"},
                        environ_base={"REMOTE_ADDR": "192.0.2.7"}).get_json()
    assert _refresh(client, phone).status_code == 200
    response = client.get(SESSIONS, headers=bearer(laptop["access_token"]))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    items = response.get_json()["items"]
    assert [i["user_agent"] for i in items] == ["laptop-browser/1.0", "phone-app/2.0"]
    assert [i["current"] for i in items] == [True, False]
    assert [i["address"] for i in items] == ["127.0.0.1", "192.0.2.7"]
    assert items[0]["last_refreshed_at"] is None and items[1]["last_refreshed_at"].endswith("Z")
    assert items[0]["started_at"].endswith("Z")
    assert set(items[0]) == {"id", "current", "started_at", "last_refreshed_at", "user_agent",
                             "address", "url"}
    one = client.get(items[1]["url"], headers=bearer(laptop["access_token"]))
    assert one.status_code == 200 and one.get_json() == items[1]
    assert one.headers["Cache-Control"] == "no-store"


def test_sessions_list_only_active_logins_of_the_caller(client, auth):
    auth.register("alice")
    auth.register("bob")
    ended = auth.login("alice")
    client.delete("/api/v1/tokens", headers=bearer(ended["access_token"]))
    auth.login("bob")
    alice = auth.login("alice")
    items = client.get(SESSIONS, headers=bearer(alice["access_token"])).get_json()["items"]
    assert len(items) == 1 and items[0]["current"] is True


def test_ending_one_session_stops_its_tokens_at_once(client, auth):
    auth.register()
    mine, other = auth.login(), auth.login()
    items = client.get(SESSIONS, headers=bearer(mine["access_token"])).get_json()["items"]
    other_id = next(i["id"] for i in items if not i["current"])
    response = client.delete(f"{SESSIONS}/{other_id}", headers=bearer(mine["access_token"]))
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get("/api/v1/users/me", headers=bearer(other["access_token"])), 401,
                   type="token-revoked")
    assert_problem(_refresh(client, other), 401, type="token-revoked")
    assert _works(client, mine)
    assert_problem(client.delete(f"{SESSIONS}/{other_id}", headers=bearer(mine["access_token"])), 404)


@pytest.mark.parametrize("session_id", ["nothex", "0" * 32, "A" * 32, "0" * 31 + "%0A"])
def test_unknown_or_malformed_session_id_is_404(client, auth, session_id):
    h = auth.headers()
    assert_problem(client.delete(f"{SESSIONS}/{session_id}", headers=h), 404)
    assert_problem(client.get(f"{SESSIONS}/{session_id}", headers=h), 404)


def test_another_accounts_session_is_404_and_untouched(client, auth):
    auth.register("alice")
    auth.register("bob")
    alice, bob = auth.login("alice"), auth.login("bob")
    bob_id = client.get(SESSIONS, headers=bearer(bob["access_token"])).get_json()["items"][0]["id"]
    assert_problem(client.delete(f"{SESSIONS}/{bob_id}", headers=bearer(alice["access_token"])), 404)
    assert_problem(client.get(f"{SESSIONS}/{bob_id}", headers=bearer(alice["access_token"])), 404)
    assert _works(client, bob)


def test_ending_the_callers_own_session_is_a_logout(client, auth):
    auth.register()
    mine = auth.login()
    own_id = client.get(SESSIONS, headers=bearer(mine["access_token"])).get_json()["items"][0]["id"]
    assert client.delete(f"{SESSIONS}/{own_id}", headers=bearer(mine["access_token"])).status_code == 204
    assert not _works(client, mine)


def test_log_out_everywhere_else_keeps_only_the_callers_session(client, auth):
    auth.register()
    others = [auth.login() for _ in range(3)]
    mine = auth.login()
    response = client.delete(SESSIONS, headers=bearer(mine["access_token"]))
    assert response.status_code == 204
    for tokens in others:
        assert_problem(client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])), 401)
        assert_problem(_refresh(client, tokens), 401)
    assert _works(client, mine) and _refresh(client, mine).status_code == 200
    items = client.get(SESSIONS, headers=bearer(mine["access_token"])).get_json()["items"]
    assert len(items) == 1 and items[0]["current"]
    # nothing left to end: still a 204
    assert client.delete(SESSIONS, headers=bearer(mine["access_token"])).status_code == 204


def test_sessions_need_an_access_token(client, auth):
    auth.register()
    tokens = auth.login()
    assert_problem(client.get(SESSIONS), 401)
    assert_problem(client.get(SESSIONS, headers=bearer(tokens["refresh_token"])), 401)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_logout_accepts_the_access_or_the_refresh_token(client, auth, kind):
    auth.register()
    tokens, other = auth.login(), auth.login()
    response = client.delete("/api/v1/tokens", headers=bearer(tokens[kind]))
    assert response.status_code == 204
    assert_problem(client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])), 401)
    assert_problem(_refresh(client, tokens), 401)
    assert _works(client, other)
    items = client.get(SESSIONS, headers=bearer(other["access_token"])).get_json()["items"]
    assert len(items) == 1


def test_token_responses_carry_both_lifetimes(client, auth):
    auth.register()
    tokens = auth.login()
    assert tokens["expires_in"] == 900 and tokens["refresh_expires_in"] == 2592000
    refreshed = _refresh(client, tokens).get_json()
    assert refreshed["expires_in"] == 900 and refreshed["refresh_expires_in"] == 2592000


# --- refresh reuse -------------------------------------------------------------------------

def test_refresh_retried_within_the_leeway_gets_the_same_pair(client, auth, clock):
    auth.register()
    tokens = auth.login()
    first = _refresh(client, tokens)
    clock.advance(seconds=25)  # the leeway is 30 s; a little room for a slow machine
    retry = _refresh(client, tokens)
    assert retry.status_code == 200 and retry.headers["Cache-Control"] == "no-store"
    assert retry.get_json()["access_token"] == first.get_json()["access_token"]
    assert retry.get_json()["refresh_token"] == first.get_json()["refresh_token"]
    assert _works(client, retry.get_json())
    assert _refresh(client, retry.get_json()).status_code == 200


def test_refresh_reused_after_the_leeway_revokes_the_session(client, auth, clock):
    auth.register()
    tokens = auth.login()
    new = _refresh(client, tokens).get_json()
    clock.advance(seconds=30)
    body = assert_problem(_refresh(client, tokens), 401, type="token-revoked")
    assert "already used" in body["detail"]
    assert not _works(client, new)
    assert_problem(_refresh(client, new), 401, type="token-revoked")


def test_reuse_of_an_older_token_revokes_even_within_the_leeway(client, auth):
    auth.register()
    first = auth.login()
    second = _refresh(client, first).get_json()
    third = _refresh(client, second).get_json()
    # the first token is two rotations old: not an honest retry of the latest refresh
    assert_problem(_refresh(client, first), 401, type="token-revoked")
    assert not _works(client, third)


def test_leeway_zero_turns_the_tolerance_off(make_app):
    from tests.conftest import Auth

    client = make_app(JWT_REFRESH_REUSE_LEEWAY=timedelta(0)).test_client()
    auth = Auth(client)
    auth.register()
    tokens = auth.login()
    new = _refresh(client, tokens).get_json()
    assert_problem(_refresh(client, tokens), 401, type="token-revoked")
    assert not _works(client, new)


def test_two_concurrent_refreshes_of_one_token_both_stay_logged_in(app, auth):
    auth.register()
    tokens = auth.login()
    racers = 6
    barrier = threading.Barrier(racers)
    results = []

    def refresher():
        own = app.test_client()
        barrier.wait()
        results.append(_refresh(own, tokens))

    threads = [threading.Thread(target=refresher) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.status_code for r in results] == [200] * racers
    pairs = {(r.get_json()["access_token"], r.get_json()["refresh_token"]) for r in results}
    assert len(pairs) == 1  # one rotation; the others got its pair
    client = app.test_client()
    (access, refresh), = pairs
    assert _works(client, {"access_token": access})
    assert _refresh(client, {"refresh_token": refresh}).status_code == 200


# --- absolute lifetime ---------------------------------------------------------------------

def test_session_past_its_maximum_age_is_refused_at_refresh(client, auth, clock):
    auth.register()
    tokens = auth.login()
    clock.advance(days=45)
    tokens = _refresh(client, tokens).get_json()  # refreshing does not extend the session
    clock.advance(days=45, seconds=1)
    assert_problem(_refresh(client, tokens), 401, type="session-expired")
    # the session is over: it leaves the list, and its tokens are revoked
    other = auth.login()
    items = client.get(SESSIONS, headers=bearer(other["access_token"])).get_json()["items"]
    assert len(items) == 1 and items[0]["current"]
    assert_problem(client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])), 401)


def test_tokens_never_outlive_the_session(make_app):
    from tests.conftest import Auth

    client = make_app(SESSION_MAX_AGE=timedelta(seconds=600)).test_client()
    auth = Auth(client)
    auth.register()
    tokens = auth.login()
    assert tokens["expires_in"] == 600 and tokens["refresh_expires_in"] == 600
    for kind in ("access_token", "refresh_token"):
        claims = pyjwt.decode(tokens[kind], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 600


def test_a_lowered_maximum_age_applies_at_the_next_refresh(app, client, auth, clock):
    auth.register()
    tokens = auth.login()
    clock.advance(days=2)
    app.config["SESSION_MAX_AGE"] = timedelta(days=1)
    assert_problem(_refresh(client, tokens), 401, type="session-expired")


# --- settings ------------------------------------------------------------------------------

def test_session_settings_have_defaults_and_are_validated():
    from mongo_todos import ConfigError
    from mongo_todos.settings import from_env

    config = from_env({})
    assert config["JWT_REFRESH_REUSE_LEEWAY"] == timedelta(seconds=30)
    assert config["SESSION_MAX_AGE"] == timedelta(days=90)
    config = from_env({"JWT_REFRESH_REUSE_LEEWAY": "0", "SESSION_MAX_AGE": "3600"})
    assert config["JWT_REFRESH_REUSE_LEEWAY"] == timedelta(0)
    assert config["SESSION_MAX_AGE"] == timedelta(hours=1)
    for env, message in [({"JWT_REFRESH_REUSE_LEEWAY": "-1"}, "at least 0"),
                         ({"JWT_REFRESH_REUSE_LEEWAY": "soon"}, "not a whole number"),
                         ({"SESSION_MAX_AGE": "59"}, "SESSION_MAX_AGE='59' must be at least 60")]:
        with pytest.raises(ConfigError, match=message):
            from_env(env)


def _signed(app, kind, **claims):
    from flask_jwt_extended import create_access_token, create_refresh_token

    with app.app_context():
        make = create_access_token if kind == "access" else create_refresh_token
        return make("6560f0c2a1b2c3d4e5f60718", additional_claims={"fam": "f" * 32, **claims})


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_a_token_expired_with_its_session_says_the_session_is_over(app, client, kind):
    import time

    past = int(time.time()) - 10
    ended = _signed(app, kind, iat=past - 60, nbf=past - 60, exp=past, sxp=past)
    path, method = ("/api/v1/users/me", client.get) if kind == "access" else (
        "/api/v1/tokens/refresh", client.post)
    assert_problem(method(path, headers=bearer(ended)), 401, type="session-expired")
    # expired before its session's end: an ordinary expiry (refreshing may help)
    expired = _signed(app, kind, iat=past - 60, nbf=past - 60, exp=past, sxp=past + 3600)
    assert_problem(method(path, headers=bearer(expired)), 401, type="token-expired")


def test_a_refreshed_session_record_expires_with_the_session(make_app):
    """Rotation keeps the record's expiry at the session's end, like login does: the CLI's
    count, the API's list and MongoDB's TTL monitor then agree on which sessions are active."""
    from mongo_todos.store.documents import Session
    from tests.conftest import Auth

    app = make_app(SESSION_MAX_AGE=timedelta(seconds=600))
    client = app.test_client()
    auth = Auth(client)
    auth.register()
    tokens = auth.login()
    refreshed = _refresh(client, tokens)
    assert refreshed.status_code == 200, refreshed.get_json()
    with app.app_context():
        [record] = Session._get_collection().find({})
    assert record["last_refreshed_at"] is not None
    assert record["expires_at"] <= record["started_at"] + timedelta(seconds=601)


def test_the_cli_counts_the_sessions_the_api_lists(app, client, auth, clock):
    """`users list`, `users show` and GET /users/me/sessions share one notion of active."""
    auth.register()
    tokens = auth.login()
    assert _refresh(client, tokens).status_code == 200
    runner = app.test_cli_runner()
    assert "sessions 1" in runner.invoke(args=["users", "list"]).output
    app.config["SESSION_MAX_AGE"] = timedelta(days=1)  # lowered after the login
    clock.advance(days=2)
    listed = runner.invoke(args=["users", "list"])
    shown = runner.invoke(args=["users", "show", "alice"])
    assert listed.exit_code == 0 and shown.exit_code == 0, listed.output + shown.output
    assert "sessions 0" in listed.output
    assert "sessions: 0" in shown.output
