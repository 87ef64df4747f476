"""One error path: every error is application/problem+json with the right status, and no
input (generated bodies and query strings included) causes a server error."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import assert_problem, bearer


@pytest.fixture
def headers(auth):
    return auth.headers()


def test_unknown_route_is_404_problem(client):
    response = client.get("/nope")
    assert_problem(response, 404)
    assert b"<html" not in response.data.lower()


def test_wrong_method_is_405_with_allow(client):
    response = client.put("/api/v1/users/me")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize(
    "body, detail",
    [
        (b'{"name": ', "not valid UTF-8 JSON"),
        (b"\xff\xfe{}", "not valid UTF-8 JSON"),
        (b'{"name": NaN}', "not valid UTF-8 JSON"),
        (b"[" * 100000 + b"]" * 100000, "not valid UTF-8 JSON"),
        (b'["a list"]', "must be a JSON object"),
        (b'"a string"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_bad_json_bodies_are_400(client, headers, body, detail):
    response = client.post(
        "/api/v1/todos", data=body, content_type="application/json", headers=headers
    )
    assert detail in assert_problem(response, 400)["detail"]


def test_non_json_content_type_is_415(client, headers):
    response = client.post("/api/v1/todos", data="name=x", headers=headers,
                           content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415)


def test_unexpected_exception_is_500_without_trace(app, client, headers, monkeypatch, caplog):
    from mongo_todos.todos import store

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "paginate", broken)
    response = client.get("/api/v1/todos", headers=headers)
    body = assert_problem(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text  # but the operator sees it in the log
    assert body["title"] == "Internal Server Error"


@pytest.mark.parametrize("error", [ServerSelectionTimeoutError("down"), AutoReconnect("gone")])
def test_database_outage_is_503_with_retry_after(client, headers, monkeypatch, error):

    def unreachable(*args, **kwargs):
        raise error

    monkeypatch.setattr(EmbeddedCollection, "find_one", unreachable)
    response = client.get("/api/v1/todos/6560f0c2a1b2c3d4e5f60718", headers=headers)
    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0


def test_body_nesting_is_limited(client, headers):
    deep = {"name": "x", "extra": [[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]}
    response = client.post("/api/v1/todos", json=deep, headers=headers)
    assert "nests deeper than 20" in assert_problem(response, 400)["detail"]
    shallow = {"name": "x", "extra": [[["x"]]]}
    assert_problem(client.post("/api/v1/todos", json=shallow, headers=headers), 422, "extra")


@pytest.mark.parametrize("method", ["put", "patch"])
def test_bad_bodies_on_every_write_are_400(client, headers, method):
    created = client.post("/api/v1/todos", json={"name": "x"}, headers=headers).headers["Location"]
    response = getattr(client, method)(created, data=b"[1]", content_type="application/json",
                                       headers=headers)
    assert_problem(response, 400)
    assert_problem(getattr(client, method)(created, data=b"name=x", headers=headers,
                                           content_type="text/plain"), 415)


def test_error_bodies_end_with_a_newline(client):
    """So a terminal prompt does not run into the body (curl, httpie)."""
    for response in (client.get("/nope"), client.get("/api/v1/users/me"),
                     client.post("/api/v1/users", data="{", content_type="application/json")):
        assert response.mimetype == "application/problem+json"
        assert response.get_data().endswith(b"}\n")


def test_missing_token_is_its_own_problem_type(client):
    body = client.get("/api/v1/users/me").get_json()
    assert body["type"] == "/api/v1/problems/token-missing"
    garbage = client.get("/api/v1/users/me", headers={"Authorization": "Bearer x.y.z"}).get_json()
    assert garbage["type"] == "/api/v1/problems/token-invalid"


def test_a_typed_problem_carries_its_types_title(client):
    from mongo_todos.web.errors import PROBLEM_TYPES

    body = client.get("/api/v1/users/me").get_json()
    assert body["title"] == PROBLEM_TYPES["token-missing"][0]
    plain = client.get("/nope").get_json()
    assert plain["type"] == "/api/v1/problems/not-found" and plain["title"] == "Not found"
    assert client.delete("/healthz").get_json()["title"] == "Method Not Allowed"


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
