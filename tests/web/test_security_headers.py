"""Security headers on every response (nosniff, no framing, no referrer, a strict
Content-Security-Policy), and a /docs page whose policy allows only its own assets."""

import pytest


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
