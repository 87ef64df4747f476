"""The API against a real MongoDB: CRUD, pagination walks, TTL indexes, index-served sorts
(explain), and atomic conditional writes."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo.collection import Collection

from conftest import race_patches
from mongo_todos.models import Todo
from mongo_todos.pagination import SORTS
from test_pagination import BASE, expected_order, insert, random_rows, walk

pytestmark = pytest.mark.mongodb


@pytest.fixture
def user(app, client, auth):
    headers = auth.headers("alice")
    owner = ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])
    return headers, owner


def test_is_really_mongodb(app):
    with app.app_context():
        assert not app.config["EMBEDDED_DB"]
        assert "mongomock" not in type(Todo._get_collection()).__module__


def test_crud_round_trip(client, user):
    headers, _ = user
    created = client.post("/api/v1/todos", json={"name": "real", "due_at": "2030-01-01T00:00:00.5Z"},
                          headers=headers)
    assert created.status_code == 201
    url = created.headers["Location"]
    assert client.get(url, headers=headers).get_json()["due_at"] == "2030-01-01T00:00:00.500Z"
    patched = client.patch(url, json={"done": True}, headers={**headers, "If-Match": created.headers["ETag"]})
    assert patched.status_code == 200 and patched.get_json()["done"] is True
    stale = client.delete(url, headers={**headers, "If-Match": created.headers["ETag"]})
    assert stale.status_code == 412
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404


def test_usernames_unique_under_the_real_index(client, auth):
    auth.register("alice")
    response = client.post("/api/v1/users", json={"username": "ALICE", "password": "correct horse"})
    assert response.status_code == 409


@pytest.mark.parametrize("sort", SORTS)
def test_walks_match_python_order(app, client, user, sort):
    headers, owner = user
    docs = insert(app, owner, random_rows(random.Random(sort), 150))
    pages = walk(client, headers, f"/api/v1/todos?sort={sort}&limit=11")
    assert [i for page in pages for i in page] == expected_order(docs, sort)


def test_reused_refresh_token_revokes_family(client, auth):
    auth.register()
    first = auth.login()
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    second = client.post("/api/v1/tokens/refresh", headers=bearer(first["refresh_token"])).get_json()
    assert client.post("/api/v1/tokens/refresh", headers=bearer(first["refresh_token"])).status_code == 401
    assert client.get("/api/v1/users/me", headers=bearer(second["access_token"])).status_code == 401


def test_ttl_indexes_exist(app):
    with app.app_context():
        db = Todo._get_db()
        for name in ("refresh_tokens", "revoked_families"):
            ttl = [i for i in db[name].index_information().values() if "expireAfterSeconds" in i]
            assert ttl and ttl[0]["key"] == [("expires_at", 1)] and ttl[0]["expireAfterSeconds"] == 0


def _stages(node, found):
    """Every plan stage name in an explain document, wherever the server version nests it."""
    if isinstance(node, dict):
        if "stage" in node:
            found.append((node["stage"], node.get("indexName")))
        for value in node.values():
            _stages(value, found)
    elif isinstance(node, list):
        for value in node:
            _stages(value, found)
    return found


def _stat(node, key):
    if isinstance(node, dict):
        if key in node:
            return node[key]
        for value in node.values():
            found = _stat(value, key)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _stat(value, key)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_is_an_index_range_scan_at_any_depth(app, client, user, monkeypatch, sort):
    headers, owner = user
    # distinct keys (no ties) and other users' todos around, as in a real collection
    rows = [{"name": f"todo {i:04d}", "created_at": BASE + timedelta(seconds=i),
             "updated_at": BASE + timedelta(seconds=2 * i),
             "due_at": BASE + timedelta(days=i) if i % 3 else None} for i in range(600)]
    insert(app, owner, rows)
    insert(app, ObjectId(), rows[:300])
    pipelines = []
    original = Collection.aggregate

    def spy(self, pipeline, *args, **kwargs):
        pipelines.append(pipeline)
        return original(self, pipeline, *args, **kwargs)

    monkeypatch.setattr(Collection, "aggregate", spy)
    url = f"/api/v1/todos?sort={sort}&limit=20"
    for _ in range(15):  # go deep: page 15 of 30
        url = client.get(url, headers=headers).get_json()["links"]["next"]
    deep = pipelines[-1]
    field = next(iter(deep[1]["$sort"]))
    with app.app_context():
        plan = Todo._get_db().command(
            "explain", {"aggregate": "todos", "pipeline": deep, "cursor": {}},
            verbosity="executionStats",
        )
    stages = _stages(plan, [])
    assert ("IXSCAN", f"owner_{field}_id") in stages, stages
    assert not any(stage == "SORT" for stage, _ in stages), "sorted in memory"
    assert _stat(plan, "totalDocsExamined") <= 21
    assert _stat(plan, "totalKeysExamined") <= 22


def test_concurrent_writes_with_one_etag_exactly_one_wins(app, user):
    statuses, _, _ = race_patches(app, user[0])
    assert sorted(statuses) == [200] + [412] * 7
