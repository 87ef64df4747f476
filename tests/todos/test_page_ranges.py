"""Pages as exact index ranges, and opaque cursors.

MongoDB cannot run here, so the page-range logic is checked with a model of how MongoDB's
planner scans the hinted ``(owner, key, _id)`` index (the integration suite checks the real
plans): index bounds come only from the top-level conditions of the keyset part of the
``$match``: an equality or a range on the key, and a range on ``_id`` only after an equality on
the key. Anything else (an ``$or``) is a filter on the fetched documents, as the README and
issue 11 describe for the old single-query bound.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from bson import ObjectId
from mongomock.filtering import filter_applies

from mongo_todos.store.documents import Todo
from mongo_todos.store.embedded import EmbeddedCollection
from tests.todos.test_pagination import BASE, insert, walk

_OPS = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
        "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}


def _in_bounds(doc: dict, bound: dict, field: str) -> bool:
    """Whether the index entry of ``doc`` lies inside the bounds a planner derives from
    ``bound`` (the keyset part of the $match)."""
    condition = bound.get(field)
    if condition is None:
        return True
    if not isinstance(condition, dict):  # equality on the key: _id bounds apply too
        if doc[field] != condition:
            return False
        return all(_OPS[op](doc["_id"], v) for op, v in bound.get("_id", {}).items())
    return all(_OPS[op](doc[field], v) for op, v in condition.items())


def keys_examined(docs: list[dict], pipeline: list[dict]) -> int:
    """Index entries a scan of the owner's index range reads to produce the pipeline's
    result: entries in bounds, in sort order, until ``$limit`` of them pass the filter."""
    match, sort, limit = pipeline[0]["$match"], pipeline[1]["$sort"], pipeline[2]["$limit"]
    field = next(iter(sort))
    order = sort[field]
    bound = match["$and"][1] if "$and" in match else {}
    entries = sorted(docs, key=lambda d: (d[field], d["_id"]), reverse=order == -1)
    examined = found = 0
    for doc in entries:
        if not _in_bounds(doc, bound, field):
            continue
        examined += 1
        if filter_applies(match, doc):
            found += 1
            if found == limit:
                break
    return examined


@pytest.fixture
def user(app, client, auth):
    headers = auth.headers("alice")
    owner = ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])
    return headers, owner


@pytest.fixture
def pipelines(monkeypatch):
    seen = []
    original = EmbeddedCollection.aggregate

    def spy(self, pipeline, *args, **kwargs):
        seen.append(pipeline)
        return original(self, pipeline, *args, **kwargs)

    monkeypatch.setattr(EmbeddedCollection, "aggregate", spy)
    return seen


@pytest.mark.parametrize("sort", ["due_at", "-due_at"])
def test_a_deep_page_in_a_long_run_of_equal_keys_reads_about_one_page(
        app, client, user, pipelines, sort):
    headers, owner = user
    # 300 undated todos share one due_sort: a run of equal keys 30 pages long
    insert(app, owner, [{"name": f"t{i}", "created_at": BASE + timedelta(seconds=i)}
                        for i in range(300)]
           + [{"name": f"d{i}", "due_at": BASE + timedelta(days=i)} for i in range(25)])
    with app.app_context():
        docs = list(Todo._get_collection().find({"owner": owner}))
    url, seen, per_page = f"/api/v1/todos?sort={sort}&limit=10", 0, []
    while url:
        pipelines.clear()
        body = client.get(url, headers=headers).get_json()
        seen += len(body["items"])
        per_page.append(sum(keys_examined(docs, pipeline) for pipeline in pipelines))
        url = body["links"]["next"]
    assert seen == 325 and len(per_page) == 33
    assert all(per_page), per_page  # every page read index entries the spy saw
    # per page, over its one or two queries: at most limit + 1 entries read, + 1 when the run
    # of equal keys ends inside the page (the old bound re-read the whole run: up to 300)
    assert max(per_page) <= 10 + 2, per_page


def test_each_bound_is_a_conjunction_of_plain_comparisons(app, client, user, pipelines):
    headers, owner = user
    insert(app, owner, [{"name": f"t{i}"} for i in range(30)])
    walk(client, headers, "/api/v1/todos?sort=name&limit=4&done=false")
    assert len(pipelines) >= 8  # 30 todos, 4 a page: at least one query a page
    for pipeline in pipelines[1:]:
        bound = pipeline[0]["$match"]["$and"][1]
        assert "$or" not in json.dumps(bound, default=str)
        assert set(bound) in ({"name_key", "_id"}, {"name_key"})


def test_cursors_are_opaque(app, client, user):
    headers, owner = user
    insert(app, owner, [{"name": f"Secret plan {i}"} for i in range(3)])
    body = client.get("/api/v1/todos?limit=1&sort=name", headers=headers).get_json()
    cursor = body["page"]["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for needle in (b"secret", b"Secret", b"name", body["items"][0]["id"].encode()):
        assert needle not in raw
    # random nonces: the same boundary gives a different cursor each time, both valid
    again = client.get("/api/v1/todos?limit=1&sort=name", headers=headers).get_json()
    assert again["page"]["next_cursor"] != cursor
    assert walk(client, headers, body["links"]["next"]) == walk(client, headers, again["links"]["next"])
