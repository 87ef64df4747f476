"""The changes feed on a real MongoDB: the concurrency run (four writers, one syncer), the
worst interleaving of two writers, the feed's reads as index ranges, and the tombstones' TTL
index (tests/changes runs the same on the embedded store)."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo.collection import Collection

from mongo_todos.changes import feed
from mongo_todos.store.documents import SEQ_INDEX, Tombstone
from mongo_todos.todos import sequence, store
from tests.changes.test_concurrency import writers_and_a_syncer
from tests.integration.plans import plan_stages, winning_plan

pytestmark = pytest.mark.mongodb
BASE = "http://localhost/api/v1/todos/"


@pytest.fixture
def headers(auth):
    return auth.headers("alice")


def test_writers_and_a_syncer_end_with_the_same_todos(app, client, headers, monkeypatch):
    writers_and_a_syncer(app, client, headers, monkeypatch)


def test_a_reader_never_skips_a_writer_that_reserved_first_and_committed_last(app):
    owner = ObjectId()
    with app.app_context():
        start = feed.changes(owner, None, 10, BASE)
        held = sequence.reserve(owner)  # writer A: reserved, its write not yet sent
        b = store.create(owner, {"name": "B"})  # writer B: reserved after A, finished
        during = feed.changes(owner, start.since, 10, BASE)
        a = store.collection().insert_one({
            "_id": ObjectId(), "owner": owner, **store.stored_fields(
                {"name": "A", "task": "", "due_at": None}),
            "done": False, "tags": [], "created_at": b["created_at"],
            "updated_at": b["created_at"], "version": 1, "seq": held.first}).inserted_id
        sequence.commit(held)
        after = feed.changes(owner, during.since, 10, BASE)
    assert during.items == []
    assert [c["id"] for c in after.items] == [str(a), str(b["_id"])]


def test_the_feeds_reads_are_ranges_of_the_seq_index(app, monkeypatch):
    owner = ObjectId()
    runs = []
    real = Collection.aggregate

    def spy(self, pipeline, *args, **kwargs):  # the pipelines the feed really runs
        runs.append((self.name, pipeline, kwargs.get("hint")))
        return real(self, pipeline, *args, **kwargs)

    with app.app_context():
        for i in range(20):
            store.create(owner, {"name": f"t{i}"})
        store.delete({"owner": owner, "_id": store.create(owner, {"name": "gone"})["_id"]})
        start = feed.changes(owner, None, 100, BASE)
        store.create(owner, {"name": "new"})
        monkeypatch.setattr(Collection, "aggregate", spy)
        assert len(feed.changes(owner, start.since, 10, BASE).items) == 1
        monkeypatch.undo()
        db = store.collection().database
        assert {name for name, _, _ in runs} == {"todos", "todo_tombstones"}
        for name, pipeline, hint in runs:
            explain = db.command("explain", {"aggregate": name, "pipeline": pipeline,
                                             "cursor": {}, "hint": hint},
                                 verbosity="executionStats")
            stages = plan_stages(winning_plan(explain))
            assert ("IXSCAN", SEQ_INDEX) in stages and "SORT" not in dict(stages), stages


def test_tombstones_have_a_ttl_index(app):
    with app.app_context():
        indexes = Tombstone._get_collection().index_information().values()
    ttl = [i for i in indexes if "expireAfterSeconds" in i]
    assert ttl and ttl[0]["key"] == [("expires_at", 1)] and ttl[0]["expireAfterSeconds"] == 0
