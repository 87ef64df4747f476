"""Settings that face clients: CORS origins matched exactly (wildcards included) and
PUBLIC_BASE_URL pinning the links and Location headers the API builds."""

import pytest

from mongo_todos.settings import ConfigError, from_env


def cors_client(make_app, origins: str):
    return make_app(env={"CORS_ORIGINS": origins}).test_client()


def allowed(client, origin: str) -> bool:
    response = client.get("/api/v1/users/me", headers={"Origin": origin})
    return response.headers.get("Access-Control-Allow-Origin") == origin


def test_a_wildcard_origin_matches_subdomains_exactly(make_app):
    # issue 10: flask-cors read "https://*.example.com" as a prefix regex
    client = cors_client(make_app, "https://*.example.com")
    assert allowed(client, "https://app.example.com")
    assert allowed(client, "https://a.b.example.com")
    for origin in ("https://xexampleXcom.evil", "https://example.com", "http://app.example.com",
                   "https://app.example.com.evil", "https://app.example.com:8443",
                   "https://evilexample.com"):
        assert not allowed(client, origin), origin


def test_an_exact_origin_is_not_a_prefix_or_a_pattern(make_app):
    client = cors_client(make_app, "https://a.example, http://localhost:3000")
    assert allowed(client, "https://a.example") and allowed(client, "http://localhost:3000")
    for origin in ("https://a.example.evil", "https://aXexample", "http://localhost:30001",
                   "https://b.example"):
        assert not allowed(client, origin), origin


@pytest.mark.parametrize("origins", [
    "https://app.*.com", "https://*example.com", "https://a.example/path", "https://a.example?x",
    "https://exa(mple).com", "https://a.example:99999", "ftp://a.example", "https://*",
    "https://user@a.example",
])
def test_origins_that_are_not_exact_or_a_leading_wildcard_are_refused(origins):
    with pytest.raises(ConfigError, match="CORS_ORIGINS entry"):
        from_env({"CORS_ORIGINS": origins})


def test_links_and_location_come_from_the_public_base_url_when_set(make_app, auth):
    app = make_app(env={"PUBLIC_BASE_URL": "https://todos.example.com/"})
    client = app.test_client()
    auth.client = client
    hostile = {"Host": "evil.example"}
    registered = client.post("/api/v1/users", json={"username": "alice", "password": "correct horse"},
                             headers=hostile)
    assert registered.headers["Location"] == "https://todos.example.com/api/v1/users/me"
    headers = {**auth.headers("alice"), **hostile}
    created = client.post("/api/v1/todos", json={"name": "x"}, headers=headers)
    assert created.headers["Location"].startswith("https://todos.example.com/api/v1/todos/")
    assert created.get_json()["url"] == created.headers["Location"]
    listed = client.get("/api/v1/todos?limit=1", headers=headers).get_json()
    links = [link for link in listed["links"].values() if link]
    assert links and all(link.startswith("https://todos.example.com/api/v1/todos") for link in links)


def test_without_a_public_base_url_links_follow_the_request(client, auth):
    created = client.post("/api/v1/todos", json={"name": "x"},
                          headers={**auth.headers(), "Host": "api.local:8080"})
    assert created.headers["Location"].startswith("http://api.local:8080/api/v1/todos/")


@pytest.mark.parametrize("value", ["todos.example.com", "https://todos.example.com/api",
                                   "ftp://todos.example.com", "https://u:p@todos.example.com",
                                   "https://todos.example.com:notaport"])
def test_an_unusable_public_base_url_is_refused(value):
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        from_env({"PUBLIC_BASE_URL": value})
