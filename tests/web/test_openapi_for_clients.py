"""What the OpenAPI document gives generated clients (issue 22): the refresh token's own
security scheme, the problem type enum, paging links a client follows with the cursor alone,
typed response headers wherever the API sends them, one schema name per input schema."""

from __future__ import annotations

import re

import pytest

from mongo_todos.web.errors import PROBLEM_STATUS, PROBLEM_TYPES, type_uri

#: Headers a client reads to act (versions, where, pages, when to retry, budgets, why).
CLIENT_HEADERS = {"etag", "location", "link", "retry-after", "x-ratelimit-limit",
                  "x-ratelimit-remaining", "x-ratelimit-reset", "www-authenticate",
                  "idempotent-replayed", "cache-control"}


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def test_refresh_token_has_its_own_scheme_on_refresh_and_logout(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["refreshAuth"]["type"] == "http" and schemes["refreshAuth"]["scheme"] == "bearer"
    paths = spec["paths"]
    assert paths["/api/v1/tokens/refresh"]["post"]["security"] == [{"refreshAuth": []}]
    # logout takes either token of the session
    assert paths["/api/v1/tokens"]["delete"]["security"] == [{"bearerAuth": []},
                                                             {"refreshAuth": []}]
    # every other operation keeps the access token (the document's default) or is public
    others = [op.get("security") for path, ops in paths.items() for op in ops.values()
              if isinstance(op, dict) and path not in ("/api/v1/tokens/refresh", "/api/v1/tokens")]
    assert all(s is None or s == [] for s in others)


def test_problem_type_enum_is_every_type_the_api_answers_with(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["Problem"]["properties"]["type"] == {
        "$ref": "#/components/schemas/ProblemTypeUri"}
    enum = schemas["ProblemTypeUri"]["enum"]
    assert enum == [type_uri(slug) for slug in PROBLEM_TYPES] + ["about:blank"]
    assert all(uri.startswith("/api/v1/problems/") for uri in enum[:-1])  # relative, as served


def test_problem_types_registered_later_appear_in_the_enum(make_app, monkeypatch):
    monkeypatch.setitem(PROBLEM_TYPES, "late-type", ("Late type", "Registered after import."))
    monkeypatch.setitem(PROBLEM_STATUS, "late-type", 409)
    spec = make_app().test_client().get("/api/v1/openapi.json").get_json()
    assert "/api/v1/problems/late-type" in spec["components"]["schemas"]["ProblemTypeUri"]["enum"]


def test_a_list_links_to_its_next_and_previous_pages_by_cursor(spec):
    ok = spec["paths"]["/api/v1/todos"]["get"]["responses"]["200"]
    assert ok["links"]["next"]["operationId"] == "listTodos"
    assert ok["links"]["next"]["parameters"] == {"cursor": "$response.body#/page/next_cursor"}
    assert ok["links"]["prev"]["parameters"] == {"cursor": "$response.body#/page/prev_cursor"}
    assert ok["headers"]["Link"]["schema"] == {"type": "string"}
    created = spec["paths"]["/api/v1/todos"]["post"]["responses"]["201"]
    assert created["links"]["GetTodo"] == {
        "operationId": "getTodo", "parameters": {"todo_id": "$response.body#/id"},
        "description": "Read the new todo."}


def test_not_modified_is_declared_with_its_headers_and_no_body(spec):
    for path in ("/api/v1/todos", "/api/v1/todos/{todo_id}"):
        not_modified = spec["paths"][path]["get"]["responses"]["304"]
        assert "content" not in not_modified
        assert not_modified["headers"]["ETag"]["schema"] == {"type": "string"}


def test_input_schemas_are_one_type_and_outputs_have_no_read_only_split(spec):
    schemas = spec["components"]["schemas"]
    text = repr(schemas)
    # UserIn is only ever sent: its password needs no writeOnly (hey-api would split it into
    # UserIn and UserInWritable); Todo is only received: no readOnly either
    assert "writeOnly" not in repr(schemas["UserIn"]) and "password" in schemas["UserIn"][
        "properties"]
    assert "readOnly" not in repr(schemas["Todo"])
    assert "readOnly" not in text and "writeOnly" not in text


def _operation(spec, method: str, path: str) -> dict:
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method in operations:
            return operations[method]
    raise AssertionError(f"{method} {path} is not documented")


def _declared(spec, operation: dict, status: int) -> set[str]:
    response = operation["responses"].get(str(status)) or operation["responses"]["default"]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return {name.lower() for name in response.get("headers", {})}


def test_every_client_header_sent_is_declared_for_its_status(make_app):
    client = make_app(env={"RATELIMIT_ENABLED": "true", "RATELIMIT_TOKEN": "2 per minute"}
                      ).test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    sent = []

    def call(method, path, **kwargs):
        response = getattr(client, method)(path, **kwargs)
        sent.append((method, path, response))
        return response

    call("post", "/api/v1/users", json={"username": "hdr", "password": "correct horse"})
    pair = call("post", "/api/v1/tokens", auth=("hdr", "correct horse")).get_json()
    me = {"Authorization": f"Bearer {pair['access_token']}"}
    todo = call("post", "/api/v1/todos", json={"name": "a"}, headers=me).get_json()
    call("post", "/api/v1/todos", json={"name": "b"}, headers={**me, "Idempotency-Key": "k1"})
    call("post", "/api/v1/todos", json={"name": "b"}, headers={**me, "Idempotency-Key": "k1"})
    page = call("get", "/api/v1/todos?limit=1", headers=me)
    call("get", "/api/v1/todos?limit=1", headers={**me, "If-None-Match": page.headers["ETag"]})
    url = f"/api/v1/todos/{todo['id']}"
    read = call("get", url, headers=me)
    call("get", url, headers={**me, "If-None-Match": read.headers["ETag"]})
    call("patch", url, json={"done": True}, headers={**me, "If-Match": read.headers["ETag"]})
    call("patch", url, json={"done": False}, headers={**me, "If-Match": read.headers["ETag"]})
    call("patch", url, json={"done": "yes"}, headers=me)
    call("get", "/api/v1/todos/" + "0" * 24, headers=me)
    call("get", "/api/v1/todos")
    call("get", "/api/v1/users/me", headers=me)
    call("get", "/api/v1/users/me/sessions", headers=me)
    call("get", "/api/v1")
    refreshed = call("post", "/api/v1/tokens/refresh",
                     headers={"Authorization": f"Bearer {pair['refresh_token']}"}).get_json()
    call("delete", url, headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    call("delete", "/api/v1/tokens", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    for _ in range(3):  # past the login limit: 429 with Retry-After
        call("post", "/api/v1/tokens", auth=("hdr", "wrong password"))
    statuses = set()
    for method, path, response in sent:
        statuses.add(response.status_code)
        headers = {name.lower() for name in response.headers.keys()} & CLIENT_HEADERS
        declared = _declared(spec, _operation(spec, method, path.split("?")[0]),
                             response.status_code)
        assert headers <= declared, (method, path, response.status_code, headers - declared)
    assert {200, 201, 204, 304, 401, 404, 412, 422, 429} <= statuses


def test_the_cursor_alone_gets_the_next_page_of_the_same_listing(client, auth):
    me = auth.headers()
    for n in range(5):
        client.post("/api/v1/todos", json={"name": f"n{n}", "tags": ["x"] if n % 2 else []},
                    headers=me)
    first = client.get("/api/v1/todos?sort=name&tag=x&limit=1&count=true", headers=me).get_json()
    assert [t["name"] for t in first["items"]] == ["n1"] and first["page"]["total"] == 2
    second = client.get(f"/api/v1/todos?cursor={first['page']['next_cursor']}", headers=me)
    assert second.status_code == 200, second.get_json()
    body = second.get_json()
    assert [t["name"] for t in body["items"]] == ["n3"]
    assert body["page"]["limit"] == 1 and body["page"]["total"] == 2
    assert body["page"]["has_next"] is False and body["page"]["has_prev"] is True
    # back with the previous cursor alone
    back = client.get(f"/api/v1/todos?cursor={body['page']['prev_cursor']}", headers=me)
    assert [t["name"] for t in back.get_json()["items"]] == ["n1"]
    # a parameter sent beside the cursor still counts: limit freely, another filter is a 422
    wider = client.get(f"/api/v1/todos?cursor={first['page']['next_cursor']}&limit=5",
                       headers=me)
    assert wider.get_json()["page"]["limit"] == 5
    other = client.get(f"/api/v1/todos?cursor={first['page']['next_cursor']}&tag=y",
                       headers=me)
    assert other.status_code == 422 and "cursor" in other.get_json()["errors"]


def test_a_cursor_of_non_ascii_text_stays_short_enough(client, auth):
    me = auth.headers()
    name = "🙂" * 200
    for _ in range(2):
        client.post("/api/v1/todos", json={"name": name}, headers=me)
    first = client.get(f"/api/v1/todos?sort=name&limit=1&q={'🙂' * 200}", headers=me)
    cursor = first.get_json()["page"]["next_cursor"]
    assert cursor
    follow = client.get(f"/api/v1/todos?cursor={cursor}", headers=me)
    assert follow.status_code == 200 and follow.get_json()["items"][0]["name"] == name
