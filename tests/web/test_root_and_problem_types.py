"""The API root lists the entry points as links, ``/`` points to it, and every problem type
URI resolves to a description of that problem."""

from __future__ import annotations

import pytest

from mongo_todos.web.errors import PROBLEM_STATUS, PROBLEM_TYPES, type_uri
from tests.conftest import assert_problem, bearer


def test_root_lists_every_entry_point_as_absolute_links(client):
    response = client.get("/api/v1")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["name"] == "mongo_todos" and body["version"] == "v1"
    assert body["links"] == {
        "users": "http://localhost/api/v1/users",
        "me": "http://localhost/api/v1/users/me",
        "tokens": "http://localhost/api/v1/tokens",
        "refresh": "http://localhost/api/v1/tokens/refresh",
        "todos": "http://localhost/api/v1/todos",
        "changes": "http://localhost/api/v1/todos/changes",
        "jobs": "http://localhost/api/v1/jobs",
        "exports": "http://localhost/api/v1/exports",
        "imports": "http://localhost/api/v1/imports",
        "bulk": "http://localhost/api/v1/todos/bulk",
        "problems": "http://localhost/api/v1/problems",
        "openapi": "http://localhost/api/v1/openapi.json",
        "docs": "http://localhost/docs",
    }


def test_root_links_lead_somewhere_real(client, auth):
    links = client.get("/api/v1").get_json()["links"]
    headers = auth.headers()
    assert client.get(links["me"], headers=headers).get_json()["username"] == "alice"
    assert client.get(links["todos"], headers=headers).get_json()["items"] == []
    assert client.get(links["changes"], headers=headers).get_json()["items"] == []
    started = client.post(links["exports"], json={}, headers=headers)
    assert started.status_code == 202
    listed = client.get(links["jobs"], headers=headers).get_json()["items"]
    assert [job["url"] for job in listed] == [started.headers["Location"]]
    imported = client.post(links["imports"], data=b'{"name": "a"}\n',
                           content_type="application/x-ndjson", headers=headers)
    assert imported.status_code == 202
    bulk = client.post(links["bulk"], json={"filter": {}, "delete": True}, headers=headers)
    assert bulk.status_code == 202
    assert client.get(links["openapi"]).get_json()["openapi"].startswith("3.")
    assert client.get(links["docs"]).mimetype == "text/html"
    assert client.get(links["problems"]).status_code == 200
    assert client.post(links["tokens"], auth=("alice", "correct horse")).status_code == 200


def test_the_root_schema_names_every_link(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schema = spec["components"]["schemas"]["RootLinks"]
    links = client.get("/api/v1").get_json()["links"]
    assert set(schema["required"]) == set(schema["properties"]) == set(links)


def test_home_redirects_to_the_root(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/api/v1"
    assert response.mimetype == "application/json"  # a link in JSON, never an HTML page
    assert response.get_json() == {"links": {"api": "http://localhost/api/v1"}}
    assert client.get("/", follow_redirects=True).get_json()["name"] == "mongo_todos"


def test_problems_lists_every_type_with_its_status_and_advice(client):
    items = client.get("/api/v1/problems").get_json()["items"]
    assert [item["type"] for item in items] == [type_uri(slug) for slug in PROBLEM_TYPES]
    for item in items:
        slug = item["type"].rsplit("/", 1)[1]
        assert (item["title"], item["advice"]) == PROBLEM_TYPES[slug]
        assert item["status"] == PROBLEM_STATUS[slug]


@pytest.mark.parametrize("slug", list(PROBLEM_TYPES))
def test_each_problem_type_uri_resolves_to_its_description(client, slug):
    response = client.get(type_uri(slug))
    assert response.status_code == 200
    assert response.get_json() == {"type": type_uri(slug), "title": PROBLEM_TYPES[slug][0],
                                   "status": PROBLEM_STATUS[slug],
                                   "advice": PROBLEM_TYPES[slug][1]}


def test_unknown_problem_type_is_a_404_problem(client):
    assert_problem(client.get("/api/v1/problems/no-such-thing"), 404)


def test_a_real_error_names_a_type_that_resolves(client, auth):
    missing = client.get("/api/v1/todos/" + "0" * 24, headers=auth.headers())
    body = assert_problem(missing, 404)
    assert client.get(body["type"]).get_json()["status"] == 404
    expired_kind = client.get("/api/v1/users/me", headers=bearer("not.a.token")).get_json()
    assert client.get(expired_kind["type"]).get_json()["title"] == "Token invalid"


def test_every_problem_type_has_a_status():
    assert set(PROBLEM_TYPES) <= set(PROBLEM_STATUS)


def test_api_guide_documents_every_problem_type():
    from tests.support.servers import ROOT

    errors_section = (ROOT / "docs" / "api.md").read_text().split("## Errors", 1)[1]
    for slug in PROBLEM_TYPES:
        assert f"| `{type_uri(slug)}` | {PROBLEM_STATUS[slug]} |" in errors_section, slug


def test_root_answers_with_a_trailing_slash_too(client):
    assert client.get("/api/v1/").get_json()["name"] == "mongo_todos"
