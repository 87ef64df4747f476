"""PUBLIC_BASE_URL pins the links and Location headers the API builds (a hostile Host header
changes nothing); without it they follow the request; an unusable value stops start-up."""

import pytest

from mongo_todos.settings import ConfigError, from_env


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
