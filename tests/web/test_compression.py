"""gzip for answers of 1 KiB or more (mongo_todos.web.compress): only when asked for, with
``Vary: Accept-Encoding``, the ETag unchanged, and never for HEAD, 304 or ranges."""

from __future__ import annotations

import gzip
import json

import pytest

GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def headers(auth, client):
    headers = auth.headers("alice")
    for i in range(12):  # a page of about 3 KB
        client.post("/api/v1/todos", json={"name": f"todo {i}", "task": "x" * 100},
                    headers=headers)
    return headers


def test_a_large_answer_is_gzipped_when_asked_and_decodes_to_the_same_json(client, headers):
    plain = client.get("/api/v1/todos?limit=12", headers=headers)
    packed = client.get("/api/v1/todos?limit=12", headers={**headers, **GZIP})
    assert len(plain.data) >= 1024 and "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 3
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    for answer in (plain, packed):
        assert "Accept-Encoding" in answer.headers["Vary"] and "Authorization" in answer.headers["Vary"]
    assert packed.headers["ETag"] == plain.headers["ETag"]  # the same validator (see module)


def test_a_small_answer_goes_as_it_is(client, headers):
    url = client.get("/api/v1/todos?limit=1", headers=headers).get_json()["items"][0]["url"]
    one = client.get(url, headers={**headers, **GZIP})
    assert len(one.data) < 1024 and "Content-Encoding" not in one.headers
    assert "Accept-Encoding" in one.headers["Vary"]


@pytest.mark.parametrize("accept", ["gzip;q=0", "identity", "deflate", "br"])
def test_no_gzip_unless_the_client_takes_it(client, headers, accept):
    answer = client.get("/api/v1/todos?limit=12", headers={**headers, "Accept-Encoding": accept})
    assert "Content-Encoding" not in answer.headers and answer.get_json()["items"]


def test_the_changes_feed_and_errors_are_compressed_too(client, headers):
    feed = client.get("/api/v1/todos/changes", headers={**headers, **GZIP})
    assert feed.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(feed.data))["items"]) == 12
    spec = client.get("/api/v1/openapi.json", headers=GZIP)
    assert spec.headers["Content-Encoding"] == "gzip"


def test_head_304_and_range_requests_are_not_compressed(client, headers):
    url = "/api/v1/todos?limit=12"
    head = client.head(url, headers={**headers, **GZIP})
    assert head.status_code == 200 and "Content-Encoding" not in head.headers
    etag = client.get(url, headers=headers).headers["ETag"]
    cached = client.get(url, headers={**headers, **GZIP, "If-None-Match": etag})
    assert cached.status_code == 304 and "Content-Encoding" not in cached.headers
    assert "Accept-Encoding" in cached.headers["Vary"]
    ranged = client.get(url, headers={**headers, **GZIP, "Range": "bytes=0-10"})
    assert "Content-Encoding" not in ranged.headers


def test_files_are_left_to_the_proxy(client):
    asset = client.get("/docs/static/swagger-ui-bundle.js", headers=GZIP)
    assert asset.status_code == 200 and "Content-Encoding" not in asset.headers
