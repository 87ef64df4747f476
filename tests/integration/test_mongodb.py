"""The API against a real MongoDB: CRUD, pagination walks, TTL indexes, index-served sorts
(explain: winning plans only, keys and documents examined bounded at depth, filters never
forcing an in-memory sort), readiness, client defaults, and atomic conditional writes."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo.collection import Collection

from mongo_todos.store.documents import Todo
from mongo_todos.todos.pagination import SORTS
from tests.conftest import race_patches
from tests.integration.plans import examined, plan_stages, winning_plan
from tests.todos.test_pagination import BASE, expected_order, insert, random_rows, walk

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


def test_reused_refresh_token_revokes_family(make_app):
    from tests.conftest import Auth

    client = make_app(JWT_REFRESH_REUSE_LEEWAY=timedelta(0)).test_client()  # no leeway: reuse is theft
    auth = Auth(client)
    auth.register()
    first = auth.login()
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    second = client.post("/api/v1/tokens/refresh", headers=bearer(first["refresh_token"])).get_json()
    assert client.post("/api/v1/tokens/refresh", headers=bearer(first["refresh_token"])).status_code == 401
    assert client.get("/api/v1/users/me", headers=bearer(second["access_token"])).status_code == 401


def test_ttl_indexes_exist(app):
    with app.app_context():
        db = Todo._get_db()
        for name in ("sessions", "revoked_families"):
            ttl = [i for i in db[name].index_information().values() if "expireAfterSeconds" in i]
            assert ttl and ttl[0]["key"] == [("expires_at", 1)] and ttl[0]["expireAfterSeconds"] == 0


@pytest.fixture
def pipelines(monkeypatch):
    """The (pipeline, hint) of every aggregation the API runs."""
    seen = []
    original = Collection.aggregate

    def spy(self, pipeline, *args, **kwargs):
        seen.append((pipeline, kwargs.get("hint")))
        return original(self, pipeline, *args, **kwargs)

    monkeypatch.setattr(Collection, "aggregate", spy)
    return seen


def explain_all(app, runs) -> list[dict]:
    with app.app_context():
        db = Todo._get_db()
        return [db.command("explain", {"aggregate": "todos", "pipeline": pipeline, "cursor": {},
                                       "hint": hint}, verbosity="executionStats")
                for pipeline, hint in runs]


def assert_index_only(plan_doc: dict, index: str) -> None:
    stages = plan_stages(winning_plan(plan_doc))
    assert ("IXSCAN", index) in stages, stages
    assert "SORT" not in [stage for stage, _ in stages], f"sorted in memory: {stages}"


def deep_page(client, headers, url: str, pipelines, depth: int = 15) -> list:
    """Follow ``next`` ``depth`` times; the pipelines the last page ran."""
    for _ in range(depth):
        url = client.get(url, headers=headers).get_json()["links"]["next"]
    pipelines.clear()
    assert client.get(url, headers=headers).status_code == 200
    return list(pipelines)


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_is_an_index_range_scan_at_any_depth(app, client, user, pipelines, sort):
    headers, owner = user
    # distinct keys (no ties) and other users' todos around, as in a real collection
    rows = [{"name": f"todo {i:04d}", "created_at": BASE + timedelta(seconds=i),
             "updated_at": BASE + timedelta(seconds=2 * i),
             "due_at": BASE + timedelta(days=i) if i % 3 else None} for i in range(600)]
    insert(app, owner, rows)
    insert(app, ObjectId(), rows[:300])
    runs = deep_page(client, headers, f"/api/v1/todos?sort={sort}&limit=20", pipelines)
    field = next(iter(runs[0][0][1]["$sort"]))
    keys = docs = 0
    for plan_doc in explain_all(app, runs):
        assert_index_only(plan_doc, f"owner_{field}_id")
        k, d = examined(plan_doc)
        keys, docs = keys + k, docs + d
    assert docs <= 20 + 2 and keys <= 20 + 2, (keys, docs)


@pytest.mark.parametrize("sort", ["due_at", "-due_at"])
def test_a_deep_page_inside_a_long_run_of_equal_keys_reads_about_one_page(
        app, client, user, pipelines, sort):
    headers, owner = user
    # 600 undated todos share one due_sort: the page is deep inside that run
    insert(app, owner, [{"name": f"t{i}", "created_at": BASE + timedelta(seconds=i)}
                        for i in range(600)])
    runs = deep_page(client, headers, f"/api/v1/todos?sort={sort}&limit=20", pipelines)
    keys = docs = 0
    for plan_doc in explain_all(app, runs):
        assert_index_only(plan_doc, "owner_due_sort_id")
        k, d = examined(plan_doc)
        keys, docs = keys + k, docs + d
    assert docs <= 20 + 2 and keys <= 20 + 2, (keys, docs)


@pytest.mark.parametrize("query", [
    "sort=name&due_before=2026-03-01T00:00:00Z",
    "sort=-created_at&due_after=2026-01-05T00:00:00Z&due_before=2026-01-07T00:00:00Z",
    "sort=updated_at&done=true", "sort=name&tag=work", "sort=due_at&q=todo%2001",
])
def test_filters_never_change_the_plan_to_an_in_memory_sort(app, client, user, pipelines, query):
    headers, owner = user
    rows = [{"name": f"todo {i:04d}", "created_at": BASE + timedelta(seconds=i),
             "due_at": BASE + timedelta(hours=i) if i % 2 else None, "done": i % 5 == 0,
             "tags": ["work"] if i % 7 == 0 else []} for i in range(400)]
    insert(app, owner, rows)
    client.get(f"/api/v1/todos?{query}&limit=10", headers=headers)
    runs = list(pipelines)
    page = client.get(f"/api/v1/todos?{query}&limit=10", headers=headers).get_json()
    if page["links"]["next"]:
        pipelines.clear()
        client.get(page["links"]["next"], headers=headers)
        runs += pipelines
    for (pipeline, hint), plan_doc in zip(runs, explain_all(app, runs), strict=True):
        field = next(iter(pipeline[1]["$sort"]))
        assert hint == {"owner": 1, field: 1, "_id": 1}
        assert_index_only(plan_doc, f"owner_{field}_id")


def test_readyz_sees_the_indexes_db_init_made(app, client):
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"] == {"mongodb": "ok", "indexes": "ok"}


def test_the_client_writes_with_majority_and_reads_the_primary(app):
    with app.app_context():
        client = Todo._get_db().client
    assert client.write_concern.document.get("w") == "majority"
    assert client.read_preference.mongos_mode == "primary"


def test_concurrent_writes_with_one_etag_exactly_one_wins(app, user):
    statuses, _, _ = race_patches(app, user[0])
    assert sorted(statuses) == [200] + [412] * 7


def test_db_init_makes_mongodb_refuse_a_todo_without_its_sort_key(app):
    from pymongo.errors import WriteError

    assert app.test_cli_runner().invoke(args=["db", "init"]).exit_code == 0
    with app.app_context():
        todos = Todo._get_collection()
        now = BASE
        todo = {"owner": ObjectId(), "name": "x", "name_key": "x", "task": "", "task_key": "",
                "done": False, "due_at": None, "tags": [], "created_at": now,
                "updated_at": now, "version": 1}  # no due_sort: it would drop out of due pages
        with pytest.raises(WriteError) as refused:
            todos.insert_one(todo)
        assert refused.value.code == 121  # DocumentValidationFailure
        todos.insert_one({**todo, "due_sort": now})  # the same todo, complete, is stored
