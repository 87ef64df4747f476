"""GET /api/v1/todos/changes: full and incremental syncs, coalescing, tombstones, tokens,
limits and cost (the contract's "Changes feed for syncing clients (v1.2)")."""

from __future__ import annotations

import pytest
from bson import ObjectId
from flask import request
from marshmallow import RAISE
from mongomock import filtering
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from mongo_todos.changes import views as changes_views
from mongo_todos.store.embedded import EmbeddedCollection
from mongo_todos.todos import sequence, store
from tests.changes.conftest import CHANGES, Replica, insert_batch, owner_of, server_todos
from tests.conftest import Auth, assert_problem


def _create(client, headers, name: str) -> dict:
    response = client.post("/api/v1/todos", json={"name": name}, headers=headers)
    assert response.status_code == 201
    return response.get_json()


def test_full_sync_pages_through_every_todo(client, headers):
    made = [_create(client, headers, f"t{i}") for i in range(5)]
    replica = Replica(client, headers, limit=2)
    first = replica.page()
    assert len(first["items"]) == 2 and first["has_more"] is True
    replica.sync()
    assert replica.pages == 3
    assert replica.todos == {todo["id"]: todo for todo in made}
    assert all(change["deleted"] is False for change in first["items"])


def test_incremental_sync_has_creates_latest_updates_and_tombstones(client, headers):
    kept, changed, removed = (_create(client, headers, name) for name in "abc")
    replica = Replica(client, headers)
    replica.sync()
    url = "/api/v1/todos/"
    for n in range(3):  # three edits: one change, in the latest state
        client.patch(url + changed["id"], json={"task": f"edit {n}"}, headers=headers)
    assert client.delete(url + removed["id"], headers=headers).status_code == 204
    new = _create(client, headers, "d")
    body = replica.page()
    assert body["has_more"] is False
    by_id = {change["id"]: change for change in body["items"]}
    assert set(by_id) == {changed["id"], removed["id"], new["id"]}  # kept did not change
    assert by_id[changed["id"]]["task"] == "edit 2" and by_id[changed["id"]]["deleted"] is False
    assert by_id[removed["id"]] == {"id": removed["id"], "url": removed["url"], "deleted": True,
                                    "deleted_at": by_id[removed["id"]]["deleted_at"]}
    assert by_id[removed["id"]]["deleted_at"].endswith("Z")
    assert by_id[new["id"]] == {**new, "deleted": False}
    # in the order they happened: the edits, then the delete, then the create
    assert [c["id"] for c in body["items"]] == [changed["id"], removed["id"], new["id"]]
    assert replica.todos == server_todos(client, headers)
    assert kept["id"] in replica.todos


def _reads(monkeypatch) -> list[tuple[str, object]]:
    """Every read the embedded store is asked for from now on: (collection, filter or
    pipeline), by ``find``, ``find_one`` and ``aggregate``."""
    reads = []
    for method in ("find", "find_one", "aggregate"):
        real = getattr(EmbeddedCollection, method)

        def spy(self, spec=None, *args, _real=real, **kwargs):
            reads.append((self.name, spec))
            return _real(self, spec, *args, **kwargs)

        monkeypatch.setattr(EmbeddedCollection, method, spy)
    return reads


def test_an_empty_poll_reads_only_the_counter(client, headers, monkeypatch):
    _create(client, headers, "a")
    replica = Replica(client, headers)
    replica.sync()
    reads = _reads(monkeypatch)
    body = replica.page()
    assert body == {"items": [], "since": body["since"], "has_more": False}
    touched = {name for name, _ in reads}
    assert "sync_counters" in touched and not touched & {"todos", "todo_tombstones"}, reads


def test_an_incremental_sync_reads_an_index_range_not_the_account(client, headers, monkeypatch):
    others = [_create(client, headers, f"t{i}")["id"] for i in range(30)]
    gone = _create(client, headers, "gone")
    assert client.delete(gone["url"], headers=headers).status_code == 204
    replica = Replica(client, headers)
    replica.sync()
    new = _create(client, headers, "new")
    reads = _reads(monkeypatch)
    looked_at = []
    real_filter = filtering.filter_applies

    def counting(spec, document, *args, **kwargs):
        looked_at.append(document.get("_id"))
        return real_filter(spec, document, *args, **kwargs)

    monkeypatch.setattr(filtering, "filter_applies", counting)
    assert [c["id"] for c in replica.page()["items"]] == [new["id"]]
    pipelines = [spec for name, spec in reads if name in ("todos", "todo_tombstones")
                 and isinstance(spec, list)]
    # each read is bounded below by the token's position and above by the safe point...
    assert len(pipelines) == 2, reads
    assert all(set(p[0]["$match"]["seq"]) == {"$gt", "$lte"} for p in pipelines), pipelines
    # ...and the store walks that range: the new todo (besides the session and the counter),
    # none of the 30 others nor the tombstone
    todos_looked_at = [str(i) for i in looked_at if str(i) in {*others, gone["id"], new["id"]}]
    assert todos_looked_at == [new["id"]], looked_at


def test_a_todo_created_and_deleted_between_polls_leaves_a_harmless_tombstone(client, headers):
    replica = Replica(client, headers)
    replica.sync()
    gone = _create(client, headers, "brief")
    client.delete(gone["url"], headers=headers)
    body = replica.page()
    assert [c["id"] for c in body["items"]] == [gone["id"]] and body["items"][0]["deleted"]
    assert replica.todos == {}


def test_a_full_sync_lists_no_tombstones(client, headers):
    gone = _create(client, headers, "x")
    client.delete(gone["url"], headers=headers)
    kept = _create(client, headers, "y")
    body = Replica(client, headers).page()
    assert [c["id"] for c in body["items"]] == [kept["id"]]


def test_changes_during_a_multi_page_full_sync_are_not_lost(client, headers):
    made = [_create(client, headers, f"t{i}") for i in range(6)]
    replica = Replica(client, headers, limit=2)
    replica.page()  # t0, t1
    client.patch(made[0]["url"], json={"done": True}, headers=headers)  # already received
    client.delete(made[1]["url"], headers=headers)  # already received
    client.delete(made[4]["url"], headers=headers)  # not yet received
    client.patch(made[5]["url"], json={"task": "moved"}, headers=headers)  # jumps ahead
    _create(client, headers, "late")
    replica.sync()
    assert replica.todos == server_todos(client, headers)
    assert made[1]["id"] not in replica.todos and replica.todos[made[0]["id"]]["done"] is True


@pytest.mark.parametrize("limit", ["0", "1001", "x", "-1"])
def test_limit_out_of_range_is_422(client, headers, limit):
    assert_problem(client.get(CHANGES, query_string={"limit": limit}, headers=headers), 422,
                   "limit")


def test_limit_defaults_to_500(client, headers, app):
    insert_batch(app, owner_of(client, headers), 501)
    body = client.get(CHANGES, headers=headers).get_json()
    assert len(body["items"]) == 500 and body["has_more"] is True


def test_repeated_and_unknown_parameters_are_422(client, headers):
    assert_problem(client.get(CHANGES + "?limit=5&limit=6", headers=headers), 422, "limit")
    assert_problem(client.get(CHANGES + "?sinse=x", headers=headers), 422, "sinse")


def test_the_feed_needs_a_token(client):
    assert client.get(CHANGES).status_code == 401


def test_another_accounts_token_is_400(client, auth, headers):
    _create(client, headers, "a")
    token = Replica(client, headers).sync()["since"]
    bob = auth.headers("bob")
    body = assert_problem(client.get(CHANGES, query_string={"since": token}, headers=bob), 400,
                          "since", type="sync-token-invalid")
    assert "account" in body["detail"]


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # one character changed
    lambda t: t[:20],  # cut short
    lambda t: "not a token at all!",
])
def test_a_tampered_token_is_400(client, headers, mangle):
    token = Replica(client, headers).sync()["since"]
    assert_problem(client.get(CHANGES, query_string={"since": mangle(token)}, headers=headers),
                   400, "since", type="sync-token-invalid")


def test_a_list_cursor_is_not_a_sync_token(client, headers):
    for i in range(3):
        _create(client, headers, f"t{i}")
    cursor = client.get("/api/v1/todos?limit=1", headers=headers).get_json()["page"]["next_cursor"]
    assert_problem(client.get(CHANGES, query_string={"since": cursor}, headers=headers), 400,
                   "since", type="sync-token-invalid")


def test_a_token_older_than_the_tombstone_ttl_is_410(make_app, clock):
    app = make_app(env={"SYNC_TOMBSTONE_TTL": "3600"})
    client = app.test_client()
    from tests.conftest import Auth

    headers = Auth(client).headers("alice")
    token = Replica(client, headers).sync()["since"]
    clock.advance(seconds=3590)
    assert client.get(CHANGES, query_string={"since": token}, headers=headers).status_code == 200
    clock.advance(seconds=20)
    assert_problem(client.get(CHANGES, query_string={"since": token}, headers=headers), 410,
                   type="sync-token-expired")
    # a fresh full sync works
    assert client.get(CHANGES, headers=headers).status_code == 200


def test_each_poll_renews_the_token(make_app, clock):
    app = make_app(env={"SYNC_TOMBSTONE_TTL": "3600"})
    client = app.test_client()
    from tests.conftest import Auth

    replica = Replica(client, Auth(client).headers("alice"))
    for _ in range(3):  # a client polling more often than the TTL never expires
        clock.advance(seconds=3000)
        replica.sync()


@pytest.fixture
def capped(make_app, monkeypatch):
    """An app whose accounts keep at most 3 tombstones, trimmed at every deletion."""
    monkeypatch.setattr(sequence, "TRIM_EVERY", 1)
    app = make_app(env={"SYNC_TOMBSTONES_PER_USER": "3"})
    client = app.test_client()
    return app, client, Auth(client).headers("alice")


def _tombstones(app, headers, client) -> int:
    with app.app_context():
        return sequence.tombstones().count_documents({"owner": owner_of(client, headers)})


def test_an_account_keeps_at_most_its_cap_of_tombstones(capped):
    app, client, headers = capped
    todos = [_create(client, headers, f"t{i}") for i in range(8)]
    before = Replica(client, headers)
    before.sync()
    for todo in todos[:6]:
        assert client.delete(todo["url"], headers=headers).status_code == 204
    assert _tombstones(app, headers, client) == 3
    # a token from before the forgotten deletions would miss some: 410, as an expired one
    assert_problem(client.get(CHANGES, query_string={"since": before.token}, headers=headers),
                   410, type="sync-token-expired")
    after = Replica(client, headers)
    after.sync()  # a fresh full sync holds what is left...
    assert after.todos == server_todos(client, headers) and len(after.todos) == 2
    for todo in todos[6:]:  # ...and its token outlives the deletions that come next
        assert client.delete(todo["url"], headers=headers).status_code == 204
    assert [(c["id"], c["deleted"]) for c in after.page()["items"]] == [
        (todo["id"], True) for todo in todos[6:]]
    assert after.todos == {} and _tombstones(app, headers, client) == 3
    # a forgotten deletion is a plain 404 now; a remembered one still a 410
    assert client.get(todos[0]["url"], headers=headers).status_code == 404
    assert client.get(todos[7]["url"], headers=headers).status_code == 410


def test_a_trim_between_the_safe_point_and_the_ranges_is_a_410_not_a_miss(capped,
                                                                            monkeypatch):
    app, client, headers = capped
    todos = [_create(client, headers, f"t{i}") for i in range(5)]
    replica = Replica(client, headers)
    replica.sync()
    monkeypatch.setattr(sequence, "TRIM_EVERY", 10**9)  # no trim while deleting
    for todo in todos:
        client.delete(todo["url"], headers=headers)
    safe_point = sequence.safe_point

    def then_a_trim(owner, *args):
        point = safe_point(owner, *args)
        sequence.trim(owner)  # another request's deletion trims right after the counter read
        return point

    monkeypatch.setattr(sequence, "safe_point", then_a_trim)
    assert_problem(client.get(CHANGES, query_string={"since": replica.token}, headers=headers),
                   410, type="sync-token-expired")


def test_no_cap_keeps_every_tombstone(make_app, monkeypatch):
    monkeypatch.setattr(sequence, "TRIM_EVERY", 1)
    app = make_app(env={"SYNC_TOMBSTONES_PER_USER": "0"})
    client = app.test_client()
    headers = Auth(client).headers("alice")
    for i in range(5):
        client.delete(_create(client, headers, f"t{i}")["url"], headers=headers)
    assert _tombstones(app, headers, client) == 5


def test_a_trim_check_under_the_cap_only_counts(capped, monkeypatch):
    """Every trim check (about one deletion in TRIM_EVERY) walks the tombstone index only when
    the account is over its cap; under it, one count bounded by the cap, the counter untouched."""
    app, client, headers = capped
    todos = [_create(client, headers, f"t{i}") for i in range(5)]
    walks, counts = [], []
    with app.app_context():
        collection = type(sequence.tombstones())
    aggregate, count = collection.aggregate, collection.count_documents
    monkeypatch.setattr(collection, "aggregate", lambda self, *a, **k: walks.append(
        self.name) or aggregate(self, *a, **k))
    monkeypatch.setattr(collection, "count_documents", lambda self, spec, **k: counts.append(
        (self.name, k.get("limit"))) or count(self, spec, **k))
    for todo in todos[:3]:  # 1, 2, 3 tombstones: at the cap, never over it
        assert client.delete(todo["url"], headers=headers).status_code == 204
    assert [name for name in walks if name == "todo_tombstones"] == []
    assert [c for c in counts if c[0] == "todo_tombstones"] == [("todo_tombstones", 4)] * 3
    assert client.delete(todos[3]["url"], headers=headers).status_code == 204  # 4: over
    assert walks.count("todo_tombstones") == 1
    assert _tombstones(app, headers, client) == 3


def test_a_trim_of_a_batch_a_client_is_half_way_through_is_a_410_not_a_miss(capped,
                                                                             monkeypatch):
    app, client, headers = capped
    todos = [_create(client, headers, f"t{i}") for i in range(6)]
    replica = Replica(client, headers, limit=2)
    replica.sync()
    monkeypatch.setattr(sequence, "TRIM_EVERY", 10**9)  # no trim while deleting
    owner = owner_of(client, headers)
    with app.app_context(), sequence.stamped(owner) as reservation:  # a bulk delete: 4 at once
        ids = [ObjectId(todo["id"]) for todo in todos[:4]]
        sequence.tombstone_many(owner, ids, reservation.first)
        store.collection().delete_many({"owner": owner, "_id": {"$in": ids}})
    assert replica.page()["has_more"]  # two of the batch's four tombstones applied
    with app.app_context():  # another deletion's trim: the 4th newest is in the batch
        assert sequence.trim(owner) == 4
    answer = client.get(CHANGES, query_string={"since": replica.token}, headers=headers)
    assert_problem(answer, 410, type="sync-token-expired")


QUERY_STRINGS = [
    "", "since=abc", "limit=1", "limit=1000", "limit=1001", "limit=0", "limit=007", "limit=-5",
    "limit=+5", "limit= 5", "limit=5.0", "limit=", "limit=99999", "limit=１２", "since=",
    "since=" + "a" * 1000, "since=" + "a" * 1001, "since=%00", "since=a%00b", "since=%C3%A9",
    "since=%ED%A0%80", "since=a&limit=20", "since=a&limit=x", "other=1", "since=a&other=1",
    "SINCE=a", "limit=10&since=t0k3n-_", "since=%20", "limit=٣",
]


@pytest.mark.parametrize("query", QUERY_STRINGS)
def test_a_usual_poll_is_parsed_as_webargs_parses_it(app, query):
    """changes.views.usual_poll, the quick parse of a poll's arguments, gives webargs' own
    result or steps aside (None); it never accepts what webargs refuses nor differs."""
    with app.test_request_context(f"/api/v1/todos/changes?{query}"):
        try:
            expected = changes_views.blp.ARGUMENTS_PARSER.parse(
                changes_views.ChangesArgsSchema(), location="query", unknown=RAISE)
        except HTTPException:
            expected = "refused"
        quick = changes_views.usual_poll(request.args)
    assert quick is None or quick == expected, (quick, expected)


def test_the_quick_parse_serves_the_usual_polls_and_webargs_the_rest(client, headers):
    since = client.get(CHANGES, headers=headers).get_json()["since"]
    assert changes_views.usual_poll(MultiDict({"since": since, "limit": "20"})) == {
        "since": since, "limit": 20}
    assert client.get(CHANGES, query_string={"since": since, "limit": 20},
                      headers=headers).status_code == 200
    for query in ({"limit": "0"}, {"limit": "5.0"}, {"sinc": since}):  # webargs' 422s stay
        assert_problem(client.get(CHANGES, query_string=query, headers=headers), 422)
