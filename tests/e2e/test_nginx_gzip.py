"""Compression through the deployment's proxy (nginx in front of gunicorn, as in
tests/e2e/test_nginx_proxy.py): the API's JSON arrives gzipped with its strong ETag intact,
and nginx gzips what the API leaves alone (files)."""

from __future__ import annotations

import gzip
import http.client
import json

import requests

from tests.e2e.test_nginx_proxy import PROMPT, deployment, login  # noqa: F401 (a fixture)


def fetch(port: int, path: str, headers: dict) -> tuple[int, dict, bytes]:
    """GET through the proxy, the body as it came (no transparent decoding)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROMPT)
    try:
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_json_arrives_gzipped_with_its_etag_strong(deployment):  # noqa: F811
    base, port, _, _ = deployment
    auth = login(base, "zipper")
    for i in range(12):
        requests.post(f"{base}/api/v1/todos", json={"name": f"t{i}", "task": "x" * 100},
                      headers=auth, timeout=PROMPT)
    status, headers, body = fetch(port, "/api/v1/todos?limit=12",
                                  {**auth, "Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert "accept-encoding" in headers["vary"].lower()
    assert headers["etag"].startswith('"')  # strong: usable in If-Match
    items = json.loads(gzip.decompress(body))["items"]
    assert len(items) == 12 and all(item["etag"] for item in items)
    plain_status, plain, _ = fetch(port, "/api/v1/todos?limit=12", auth)
    assert plain_status == 200 and "content-encoding" not in plain
    status, headers, body = fetch(port, "/api/v1/todos/changes",
                                  {**auth, "Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(body))["items"]) == 12


def test_the_proxy_gzips_the_files_the_api_sends_as_they_are(deployment):  # noqa: F811
    _, port, _, _ = deployment
    path = "/docs/static/swagger-ui-bundle.js"
    status, headers, body = fetch(port, path, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert "accept-encoding" in headers["vary"].lower()
    _, plain, raw = fetch(port, path, {})
    assert "content-encoding" not in plain and gzip.decompress(body) == raw
