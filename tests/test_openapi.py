"""The OpenAPI document describes every route, and /docs works offline."""

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
    assert set(todo) == {"id", "url", "name", "task", "done", "due_at", "tags", "created_at", "updated_at"}
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
