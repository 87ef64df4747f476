"""The OpenAPI document describes every route, and /docs works offline."""

import json
import re

import pytest
from openapi_spec_validator import validate

ERROR_CODES_BY_OPERATION = {
    ("/api/v1/todos", "get"): {"400", "401", "422", "429", "500", "503"},
    ("/api/v1/todos", "post"): {"400", "401", "409", "413", "415", "422", "429", "503"},
    ("/api/v1/todos/{todo_id}", "get"): {"401", "404", "429", "503"},
    ("/api/v1/todos/{todo_id}", "put"): {"400", "401", "404", "412", "413", "415", "422", "428"},
    ("/api/v1/todos/{todo_id}", "patch"): {"401", "404", "412", "422", "428"},
    ("/api/v1/todos/{todo_id}", "delete"): {"401", "404", "412", "428"},
    ("/api/v1/users", "post"): {"403", "409", "422", "429"},
    ("/api/v1/users/me", "get"): {"401", "429"},
    ("/api/v1/tokens", "post"): {"401", "422", "429"},
    ("/api/v1/tokens", "delete"): {"401", "429"},
    ("/api/v1/tokens/refresh", "post"): {"401", "429"},
}


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_spec_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_api_route_is_documented(app, spec):
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops
                  if method in ("get", "post", "put", "patch", "delete")}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint.startswith("api-docs."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routed |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed and routed == documented


@pytest.mark.parametrize("operation, codes", ERROR_CODES_BY_OPERATION.items())
def test_error_responses_are_documented_as_problems(spec, operation, codes):
    path, method = operation
    responses = spec["paths"][path][method]["responses"]
    assert codes <= set(responses)
    for code in codes:
        ref = responses[code]["$ref"].rsplit("/", 1)[1]
        content = spec["components"]["responses"][ref]["content"]
        assert list(content) == ["application/problem+json"]
        assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


def test_security_schemes_and_public_operations(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/api/v1/users"]["post"]["security"] == []
    assert {"basicAuth": []} in spec["paths"]["/api/v1/tokens"]["post"]["security"]


def test_list_parameters_and_schemas_are_documented(spec):
    params = {p["name"] for p in spec["paths"]["/api/v1/todos"]["get"]["parameters"]}
    assert params == {"limit", "cursor", "sort", "done", "tag", "q", "due_before", "due_after", "count",
                      "If-None-Match"}
    todo = spec["components"]["schemas"]["Todo"]["properties"]
    assert set(todo) == {"id", "url", "name", "task", "done", "due_at", "tags", "created_at",
                         "updated_at", "etag"}
    assert todo["due_at"]["format"] == "date-time"


def test_docs_page_works_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "http" not in html.replace("http-equiv", "")  # no CDN: every asset is local
    assert "/api/v1/openapi.json" in html
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f"/docs/static/{asset}" in html
        response = client.get(f"/docs/static/{asset}")
        assert response.status_code == 200 and len(response.data) > 1000
    assert_missing = client.get("/docs/static/nope.js")
    assert assert_missing.status_code == 404
    assert assert_missing.mimetype == "application/problem+json"


def test_docs_do_not_keep_credentials_in_the_browser(client):
    # issue 19, item 12: persistAuthorization kept the Basic password in localStorage
    init = client.get("/docs/init.js").get_data(as_text=True)
    assert "persistAuthorization: false," in init
    assert "persistAuthorization: true" not in init


# --- the document as a contract for generated clients and /docs -----------------------------

METHODS = ("get", "post", "put", "patch", "delete")


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_every_operation_has_an_operation_id_a_summary_and_a_description(spec):
    ids = []
    for path, method, operation in operations(spec):
        assert re.fullmatch(r"[a-z][A-Za-z]+", operation["operationId"]), (path, method)
        assert operation["summary"].strip() and operation["description"].strip(), (path, method)
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
    assert {"listTodos", "createTodo", "getTodo", "replaceTodo", "updateTodo", "deleteTodo",
            "logIn", "refreshTokens", "logOut", "createUser", "getMe", "getRoot"} <= set(ids)


def test_every_parameter_and_header_is_described(spec):
    for path, item in spec["paths"].items():
        for parameter in item.get("parameters", []):
            assert parameter["description"].strip(), (path, parameter["name"])
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for parameter in operation.get("parameters", []):
                assert parameter.get("description", "").strip(), (path, method, parameter["name"])
            for code, response in operation["responses"].items():
                for name, header in response.get("headers", {}).items():
                    assert header["description"].strip(), (path, method, code, name)
    for name, response in spec["components"]["responses"].items():
        for header_name, header in response.get("headers", {}).items():
            assert header["description"].strip(), (name, header_name)


def _parameter_names(spec, path, method):
    return {p["name"] for p in spec["paths"][path][method].get("parameters", [])}


def test_conditional_headers_are_parameters_where_they_are_honoured(spec):
    item = "/api/v1/todos/{todo_id}"
    for method in ("put", "patch", "delete"):
        assert "If-Match" in _parameter_names(spec, item, method)
    assert "If-None-Match" in _parameter_names(spec, item, "get")
    assert "If-None-Match" in _parameter_names(spec, "/api/v1/todos", "get")
    assert "Idempotency-Key" in _parameter_names(spec, "/api/v1/todos", "post")
    assert "If-Match" not in _parameter_names(spec, "/api/v1/todos", "post")


def test_patch_body_has_no_defaults_nothing_required_and_is_optional(spec):
    patch = spec["paths"]["/api/v1/todos/{todo_id}"]["patch"]
    assert patch["requestBody"]["required"] is False
    assert patch["requestBody"]["content"]["application/json"]["example"] == {"done": True}
    schema = spec["components"]["schemas"]["TodoPatch"]
    assert "required" not in schema
    assert all("default" not in field for field in schema["properties"].values())
    # POST and PUT do take defaults for the optional fields, and name is required
    todo_in = spec["components"]["schemas"]["TodoIn"]
    assert todo_in["required"] == ["name"] and todo_in["properties"]["done"]["default"] is False


def test_patch_without_a_body_changes_nothing_as_documented(client, auth):
    headers = auth.headers()
    created = client.post("/api/v1/todos", json={"name": "keep", "task": "as is", "done": True},
                          headers=headers)
    url, etag = created.headers["Location"], created.headers["ETag"]
    response = client.patch(url, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == created.get_json() and response.headers["ETag"] == etag
    client.patch(url, json={"task": "changed"}, headers=headers)
    stale = client.patch(url, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"


def _response_schema_names(spec) -> set[str]:
    """Every component schema a response uses, directly or nested."""
    schemas = spec["components"]["schemas"]
    names: set[str] = set()
    pending = re.findall(r'"#/components/schemas/(\w+)"', json.dumps(
        [r for _, _, o in operations(spec) for r in o["responses"].values()]
        + list(spec["components"]["responses"].values())))
    while pending:
        name = pending.pop()
        if name not in names:
            names.add(name)
            pending += re.findall(r'"#/components/schemas/(\w+)"', json.dumps(schemas[name]))
    return names


#: Response fields that are rightly absent at times.
OPTIONAL_RESPONSE_FIELDS = {"PageMeta": {"total"}, "Problem": {"errors"},
                            # one object for every kind's result: each kind has its own fields
                            "JobResult": {"count", "bytes", "format", "download_url",
                                          "expires_at", "created", "failed", "errors",
                                          "matched", "modified", "deleted"}}


def test_response_schemas_require_every_field_with_exact_types(spec):
    schemas = spec["components"]["schemas"]
    names = _response_schema_names(spec)
    assert {"Todo", "User", "TodoPage", "PageMeta", "Links", "Root", "Problem"} <= names
    for name in names:
        schema = schemas[name]
        if "enum" in schema:  # ProblemTypeUri: a string, no fields
            continue
        optional = OPTIONAL_RESPONSE_FIELDS.get(name, set())
        assert set(schema.get("required", [])) == set(schema["properties"]) - optional, name
        for field, prop in schema["properties"].items():
            assert "type" in prop or "$ref" in prop, (name, field)
    todo = schemas["Todo"]["properties"]
    assert todo["id"]["type"] == "string" and todo["id"]["pattern"] == "^[0-9a-f]{24}$"
    assert todo["url"]["type"] == "string" and todo["url"]["format"] == "uri"
    assert todo["done"]["type"] == "boolean" and todo["due_at"]["nullable"] is True
    assert schemas["User"]["properties"]["id"]["type"] == "string"


def test_boolean_query_parameters_are_booleans_accepting_only_true_or_false(spec, client, auth):
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/todos"]["get"]["parameters"]}
    assert parameters["done"]["schema"]["type"] == "boolean"
    # no schema default on a paged list: beside a cursor, the cursor's value is (description)
    assert parameters["count"]["schema"] == {"type": "boolean"}
    assert "Default `false`" in parameters["count"]["description"]
    sorts = parameters["sort"]["schema"]
    assert dict(zip(sorts["enum"], sorts["x-enum-varnames"], strict=True))["-due_at"] == "DUE_AT_DESC"
    headers = auth.headers()
    client.post("/api/v1/todos", json={"name": "open"}, headers=headers)
    client.post("/api/v1/todos", json={"name": "closed", "done": True}, headers=headers)
    done = client.get("/api/v1/todos?done=true&count=true", headers=headers).get_json()
    assert [t["name"] for t in done["items"]] == ["closed"] and done["page"]["total"] == 1
    for bad in ("done=yes", "done=1", "count=True", "count=on"):
        response = client.get(f"/api/v1/todos?{bad}", headers=headers)
        assert response.status_code == 422, bad
        assert set(response.get_json()["errors"]) == {bad.split("=")[0]}


def test_list_filters_are_not_prefilled_in_docs(spec):
    """/docs pre-fills a parameter with its example: a filter example would hide todos."""
    for parameter in spec["paths"]["/api/v1/todos"]["get"]["parameters"]:
        if parameter["name"] not in ("limit", "sort", "count"):
            assert "example" not in parameter and "example" not in parameter["schema"], parameter
            assert "default" not in parameter["schema"] or parameter["schema"]["default"] is None


def _request_schemas(spec):
    schemas = spec["components"]["schemas"]
    return {name: schemas[name] for name in ("TodoIn", "TodoPatch", "UserIn", "Credentials")}


def test_request_text_fields_have_readable_examples(spec):
    """Without one, /docs makes up a random string from the field's pattern."""
    for name, schema in _request_schemas(spec).items():
        for field, prop in schema["properties"].items():
            target = prop.get("items", prop)
            if target.get("type") == "string" and "format" not in target:
                assert "example" in target, (name, field)
                assert re.fullmatch(target["pattern"], target["example"]), (name, field)


def test_login_example_is_the_demo_account(spec):
    from mongo_todos.seed import DEMO_PASSWORD

    credentials = spec["components"]["schemas"]["Credentials"]["properties"]
    assert credentials["username"]["example"] == "demo"
    assert credentials["password"]["example"] == DEMO_PASSWORD


def test_rate_limited_and_unavailable_responses_document_their_headers(spec):
    responses = spec["components"]["responses"]
    assert set(responses["TOO_MANY_REQUESTS"]["headers"]) == {
        "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    # limited operations send the rate-limit headers with every error
    assert set(responses["SERVICE_UNAVAILABLE"]["headers"]) == {
        "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    assert "WWW-Authenticate" in responses["UNAUTHORIZED"]["headers"]
    ok = spec["paths"]["/api/v1/todos"]["get"]["responses"]["200"]["headers"]
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(ok)


def test_each_error_status_has_its_own_valid_examples(spec):
    from openapi_schema_validator import OAS30Validator

    from mongo_todos.web.errors import PROBLEM_STATUS, PROBLEM_TYPES, default_type, type_uri

    problem_schema = {**spec["components"]["schemas"]["Problem"],
                      "components": spec["components"]}
    validator = OAS30Validator(problem_schema)
    seen_details = set()
    documented = set()
    for _, _, operation in operations(spec):
        documented |= {int(code) for code in operation["responses"] if code[0] in "45"}
    for status in documented:
        name = next(r["$ref"] for _, _, o in operations(spec)
                    for c, r in o["responses"].items() if c == str(status)).rsplit("/", 1)[1]
        examples = spec["components"]["responses"][name]["content"][
            "application/problem+json"]["examples"]
        assert examples, status
        for example in examples.values():
            body = example["value"]
            validator.validate(body)
            assert body["status"] == status
            # about:blank, or a type that comes with this status
            slugs = {slug for slug, code in PROBLEM_STATUS.items()
                     if code == status and slug in PROBLEM_TYPES}
            assert body["type"] in {"about:blank", *map(type_uri, slugs)}, body
            if default_type(status) is None:
                # statuses whose problems all name their own type (no default one)
                assert body["type"] == "about:blank" or status in (400, 401, 403, 410), body
            assert body["detail"] not in seen_details  # not one example copied everywhere
            seen_details.add(body["detail"])


def test_servers_and_no_unused_components(spec):
    assert spec["servers"][0]["url"] == "/"
    text = json.dumps(spec["paths"]) + json.dumps(spec["components"])
    for kind in ("schemas", "responses", "parameters", "headers"):
        for name in spec["components"].get(kind, {}):
            assert f'"#/components/{kind}/{name}"' in text, f"unused {kind} {name}"


def test_problem_types_are_documented_in_the_document(spec):
    from mongo_todos.web.errors import PROBLEM_TYPES, type_uri

    description = spec["info"]["description"]
    # Problem.type is the ProblemTypeUri enum, which carries the description
    assert spec["components"]["schemas"]["Problem"]["properties"]["type"] == {
        "$ref": "#/components/schemas/ProblemTypeUri"}
    type_doc = spec["components"]["schemas"]["ProblemTypeUri"]["description"]
    for slug, (title, advice) in PROBLEM_TYPES.items():
        assert f"`{type_uri(slug)}`" in description
        # as Markdown cells: /docs would eat "<access token>" as an HTML tag (escaped instead)
        cell = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|"}
        assert "".join(cell.get(c, c) for c in advice) in description and title in description
        assert f"`{slug}`" in type_doc
    assert "Bearer &lt;access token&gt;" in description


def _example(spec, response_name: str, example: str) -> dict:
    content = spec["components"]["responses"][response_name]["content"]
    return content["application/problem+json"]["examples"][example]["value"]


def test_error_examples_are_what_the_api_really_answers(spec, make_app):
    """Each example below is produced for real and compared whole with the document."""
    app = make_app(REQUIRE_IF_MATCH=True, REGISTRATION_OPEN=True)
    client = app.test_client()
    client.post("/api/v1/users", json={"username": "demo", "password": "demo-password"})
    token = client.post("/api/v1/tokens", auth=("demo", "demo-password")).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    created = client.post("/api/v1/todos", json={"name": "x"}, headers=headers)
    url, etag = created.headers["Location"], created.headers["ETag"]
    client.patch(url, json={"done": True}, headers={**headers, "If-Match": etag})
    real = {
        ("BAD_REQUEST", "invalid_json"): client.post(
            "/api/v1/todos", data="{", content_type="application/json", headers=headers),
        ("UNAUTHORIZED", "token_missing"): client.get("/api/v1/users/me"),
        ("UNAUTHORIZED", "credentials_invalid"): client.post(
            "/api/v1/tokens", auth=("demo", "wrong password")),
        ("NOT_FOUND", "not_found"): client.get("/api/v1/todos/" + "0" * 24, headers=headers),
        ("CONFLICT", "username_taken"): client.post(
            "/api/v1/users", json={"username": "demo", "password": "demo-password"}),
        ("PRECONDITION_FAILED", "stale_etag"): client.delete(
            url, headers={**headers, "If-Match": etag}),
        ("UNSUPPORTED_MEDIA_TYPE", "not_json"): client.post(
            "/api/v1/todos", data="name=x", content_type="text/plain", headers=headers),
        ("UNPROCESSABLE_ENTITY", "validation_failed"): client.post(
            "/api/v1/todos", json={"done": "yes"}, headers=headers),
        ("PRECONDITION_REQUIRED", "if_match_required"): client.delete(url, headers=headers),
    }
    for (name, example), response in real.items():
        assert response.get_json() == _example(spec, name, example), (name, example)
    from mongo_todos.store.documents import Todo, User

    full = make_app(TODO_QUOTA=10000)  # the default quota
    full_client = full.test_client()
    full_client.post("/api/v1/users", json={"username": "demo", "password": "demo-password"})
    full_token = full_client.post("/api/v1/tokens", auth=("demo", "demo-password")).get_json()
    with full.app_context():  # the quota already held (inserted directly: quicker)
        owner = User.objects.get(username="demo").id
        Todo._get_collection().insert_many([{"owner": owner, "name": str(n)}
                                            for n in range(10000)])
    over = full_client.post("/api/v1/todos", json={"name": "one more"},
                            headers={"Authorization": f"Bearer {full_token['access_token']}"})
    assert over.get_json() == _example(spec, "CONFLICT", "quota_exceeded")
    closed = make_app(REGISTRATION_OPEN=False).test_client().post(
        "/api/v1/users", json={"username": "someone", "password": "long enough"})
    assert closed.get_json() == _example(spec, "FORBIDDEN", "registration_closed")


def test_servers_follow_the_prefix_a_trusted_proxy_mounts_the_api_under(make_app):
    client = make_app(env={"TRUSTED_PROXY_COUNT": "1"}).test_client()
    spec = client.get("/api/v1/openapi.json", headers={"X-Forwarded-Prefix": "/todo-api"}).get_json()
    assert spec["servers"][0]["url"] == "/todo-api"
    assert client.get("/api/v1/openapi.json").get_json()["servers"][0]["url"] == "/"
