"""CORS: off by default; with CORS_ORIGINS, origins matched exactly (a leading wildcard for
subdomains, nothing looser), preflights answered without a token or a rate-limit count, and the
API's headers readable by scripts."""

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


class TestCors:
    ORIGIN = "https://app.example"

    def test_off_by_default(self, client):
        response = client.get("/api/v1/users/me", headers={"Origin": self.ORIGIN})
        assert "Access-Control-Allow-Origin" not in response.headers

    @pytest.fixture
    def cors_client(self, make_app):
        app = make_app(env={"CORS_ORIGINS": self.ORIGIN, "RATELIMIT_ENABLED": "true",
                            "RATELIMIT_DEFAULT": "2 per minute"})
        return app.test_client()

    def test_preflight_needs_no_token_and_is_not_counted(self, cors_client):
        for _ in range(5):
            response = cors_client.options(
                "/api/v1/todos/6560f0c2a1b2c3d4e5f60718",
                headers={"Origin": self.ORIGIN, "Access-Control-Request-Method": "PATCH",
                         "Access-Control-Request-Headers": "Authorization, If-Match, Content-Type"},
            )
            assert response.status_code == 200
            assert response.headers["Access-Control-Allow-Origin"] == self.ORIGIN
            assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
            allowed = response.headers["Access-Control-Allow-Headers"].lower()
            assert {"authorization", "if-match", "content-type"} <= {h.strip() for h in allowed.split(",")}
            assert "X-RateLimit-Limit" not in response.headers
        # the budget is untouched by the preflights
        actual = cors_client.get("/api/v1/users/me", headers={"Origin": self.ORIGIN})
        assert actual.headers["X-RateLimit-Remaining"] == "1"

    def test_scripts_can_read_the_api_headers(self, cors_client):
        response = cors_client.get("/api/v1/users/me", headers={"Origin": self.ORIGIN})
        exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"etag", "link", "location", "x-ratelimit-limit", "x-ratelimit-remaining",
                "x-ratelimit-reset", "retry-after"} <= exposed
        assert response.headers["Access-Control-Allow-Origin"] == self.ORIGIN

    def test_other_origins_are_not_allowed(self, cors_client):
        response = cors_client.get("/api/v1/users/me", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in response.headers
