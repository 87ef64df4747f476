"""Authentication abuse, secrets that must not leak, security headers, request ids and logs."""

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/healthz", "/nope", "/api/v1/openapi.json"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_docs_page_csp_allows_only_its_own_assets(client):
    response = client.get("/docs")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src" not in csp  # no inline script
    assert "<script>" not in response.get_data(as_text=True)
    init = client.get("/docs/init.js")
    assert init.status_code == 200 and "SwaggerUIBundle" in init.get_data(as_text=True)


def test_request_id_is_generated_and_echoed(client):
    response = client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != response.headers["X-Request-ID"]


def test_client_request_id_is_kept_when_sane(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    forged = client.get("/healthz", headers={"X-Request-ID": "x <script>"})
    assert forged.headers["X-Request-ID"] != "x <script>"
    assert len(client.get("/healthz", headers={"X-Request-ID": "y" * 200}).headers["X-Request-ID"]) == 32


def test_log_lines_are_json_with_the_request_id(client, headers_for_error, capsys):
    from mongo_todos.web.logs import JsonFormatter, RequestIdFilter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("mongo_todos")
    logger.addHandler(handler)
    try:
        response = client.get("/api/v1/todos", headers={**headers_for_error, "X-Request-ID": "trace-me"})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 500
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    entry = next(e for e in lines if e["level"] == "ERROR")
    assert entry["request_id"] == "trace-me" and entry["logger"] == "mongo_todos.errors"
    assert "Traceback" in entry["exception"] and entry["time"].endswith("Z")


@pytest.fixture
def headers_for_error(auth, monkeypatch):
    from mongo_todos.todos import views as todos

    monkeypatch.setattr(todos, "paginate", lambda *a, **k: 1 / 0)
    return auth.headers()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["name", "task", "done", "due_at", "tags", "id", "$set", "owner", "x"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(field_names, json_values, max_size=6) | json_values,
       method=st.sampled_from(["post", "put", "patch"]))
def test_arbitrary_json_bodies_never_cause_a_server_error(app, body, method):
    client = app.test_client()
    credentials = {"username": "fuzzer", "password": "correct horse"}
    client.post("/api/v1/users", json=credentials)
    token = client.post("/api/v1/tokens", json=credentials).get_json()["access_token"]
    url = "/api/v1/todos" if method == "post" else "/api/v1/todos/6560f0c2a1b2c3d4e5f60718"
    response = getattr(client, method)(url, json=body, headers=bearer(token))
    assert response.status_code in (200, 201, 400, 404, 422)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(
    st.sampled_from(["limit", "cursor", "sort", "done", "tag", "q", "due_before", "due_after",
                     "count", "q[$ne]", "$where"]),
    st.text(max_size=40), max_size=5))
def test_arbitrary_query_parameters_never_cause_a_server_error(app, params):
    client = app.test_client()
    credentials = {"username": "fuzzer", "password": "correct horse"}
    client.post("/api/v1/users", json=credentials)
    token = client.post("/api/v1/tokens", json=credentials).get_json()["access_token"]
    response = client.get("/api/v1/todos", query_string=params, headers=bearer(token))
    assert response.status_code in (200, 400, 422)
