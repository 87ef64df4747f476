"""Imports: NDJSON and JSON bodies, line-by-line checks with POST /todos' messages, the first
100 errors, the quota, the size limit (413), media types, and a re-run that creates nothing
twice."""

from __future__ import annotations

import json

import pytest

from mongo_todos.store.documents import Job, Todo
from tests.conftest import assert_problem
from tests.jobs.conftest import start, wait

NDJSON = "application/x-ndjson"


def ndjson(*items) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


def imported(client, headers, data: bytes, media: str = NDJSON) -> dict:
    job = start(client, headers, "/api/v1/imports", data=data, content_type=media)
    assert job["status"] == "succeeded", job
    assert job["kind"] == "import"
    return job["result"]


def test_ndjson_and_json_bodies_create_their_todos(client, headers):
    assert imported(client, headers, ndjson({"name": "a"}, {"name": "b", "tags": ["x"]})) \
        == {"created": 2, "failed": 0, "errors": []}
    result = imported(client, headers, json.dumps({"items": [{"name": "c"}]}).encode(),
                      "application/json")
    assert result["created"] == 1
    names = [t["name"] for t in client.get("/api/v1/todos?sort=name",
                                           headers=headers).get_json()["items"]]
    assert names == ["a", "b", "c"]


def test_each_line_is_checked_as_post_todos_checks_a_body(client, headers):
    bad = [{"name": ""}, {"name": "x", "done": "yes"}, {"nam": "x"}, {"name": {"$ne": 1}},
           {"name": "x", "tags": ["a", "a"]}]
    lines = ndjson({"name": "fine"}, *bad) + b"not json\n[1, 2]\n"
    result = imported(client, headers, lines)
    assert result["created"] == 1 and result["failed"] == len(bad) + 2
    for number, body in enumerate(bad, 2):
        post = client.post("/api/v1/todos", json=body, headers=headers).get_json()
        assert {"line": number, "errors": post["errors"]} in result["errors"]
    assert result["errors"][-2:] == [
        {"line": 7, "errors": {"_body": ["This line is not valid JSON."]}},
        {"line": 8, "errors": {"_body": ["A todo must be a JSON object."]}}]


def test_server_owned_fields_are_ignored_and_others_refused(client, headers):
    line = {"name": "a", "id": "6560f0c2a1b2c3d4e5f60718", "url": "http://x/", "etag": '"1"',
            "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}
    result = imported(client, headers, ndjson(line, {"name": "b", "owner": "me"}))
    assert result["created"] == 1
    assert result["errors"] == [{"line": 2, "errors": {"owner": ["Unknown field."]}}]
    todo = client.get("/api/v1/todos", headers=headers).get_json()["items"][0]
    assert todo["id"] != line["id"] and todo["created_at"] > "2026"


def test_only_the_first_100_errors_are_listed(client, headers):
    result = imported(client, headers, ndjson(*[{"name": ""}] * 150))
    assert result["failed"] == 150 and len(result["errors"]) == 100


def test_the_quota_holds_line_by_line(make_app):
    app = make_app(TODO_QUOTA=3)
    client = app.test_client()
    from tests.conftest import Auth

    headers = Auth(client).headers()
    client.post("/api/v1/todos", json={"name": "held"}, headers=headers)
    result = imported(client, headers, ndjson(*[{"name": f"n{i}"} for i in range(4)]))
    assert result["created"] == 2 and result["failed"] == 2
    quota = client.post("/api/v1/todos", json={"name": "one more"}, headers=headers)
    assert result["errors"][0] == {"line": 3, "errors": {"_body": [quota.get_json()["detail"]]}}


def test_an_import_over_the_limit_is_413_and_the_limit_is_the_imports_own(make_app):
    app = make_app(env={"IMPORT_MAX_BYTES": "2048", "MAX_CONTENT_LENGTH": "1024"})
    client = app.test_client()
    from tests.conftest import Auth

    headers = Auth(client).headers()
    big = ndjson(*[{"name": "x" * 90}] * 25)  # ~2.5 KB
    assert_problem(client.post("/api/v1/imports", data=big, content_type=NDJSON,
                               headers=headers), 413, type=None)
    fits = big[:1600].rsplit(b"\n", 1)[0] + b"\n"  # over MAX_CONTENT_LENGTH, under the limit
    response = client.post("/api/v1/imports", data=fits, content_type=NDJSON, headers=headers)
    assert response.status_code == 202
    assert wait(client, response.headers["Location"], headers)["result"]["created"] > 10
    with app.app_context():
        assert Job.objects.count() == 1


@pytest.mark.parametrize("data,media,status,fields", [
    (b'{"name": "a"}', "text/plain", 415, ()),
    (b"", NDJSON, 422, ("_body",)),
    (b"  \n", NDJSON, 422, ("_body",)),
    (b"{", "application/json", 400, ()),
    (b"[]", "application/json", 400, ()),
    (b'{"todos": []}', "application/json", 422, ("items",)),
    (b'{"items": {}}', "application/json", 422, ("items",)),
])
def test_bad_import_bodies_start_nothing(client, headers, app, data, media, status, fields):
    response = client.post("/api/v1/imports", data=data, content_type=media, headers=headers)
    assert_problem(response, status, *fields, type="" if status == 422 else None)
    with app.app_context():
        assert Job.objects.count() == 0


def test_a_rerun_after_a_lost_worker_creates_nothing_twice(app, client, headers, held,
                                                           monkeypatch):
    """The worker dies after inserting a batch, before recording it; the task is delivered
    again: the batch's todos are found, not created again, and the rest follows."""
    app.config.update(JOBS_BATCH_SIZE=10, JOBS_STALE_AFTER=0)
    client.post("/api/v1/imports", data=ndjson(*[{"name": f"n{i}"} for i in range(35)]),
                content_type=NDJSON, headers=headers)
    from mongo_todos.jobs import store

    real, calls = store.beat, []

    def dies_on_second_batch(job, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an Exception: nothing marks the job
        return real(job, *args, **kwargs)

    monkeypatch.setattr(store, "beat", dies_on_second_batch)
    with pytest.raises(SystemExit):
        held.run()
    with app.app_context():
        assert Todo.objects.count() == 20
        assert Job.objects.get().status == "running"
    monkeypatch.setattr(store, "beat", real)
    held.run()  # redelivered
    job = client.get(f"/api/v1/jobs/{held.ids[-1]}", headers=headers).get_json()
    assert job["status"] == "succeeded", job
    assert job["result"] == {"created": 35, "failed": 0, "errors": []}
    with app.app_context():
        assert Todo.objects.count() == 35
        assert len({t.name for t in Todo.objects}) == 35
    held.run()  # a finished job is left alone
    with app.app_context():
        assert Todo.objects.count() == 35


def test_the_body_is_kept_only_until_the_import_is_done_or_removed(app, client, headers, held):
    from mongo_todos.jobs import files

    bodies = lambda: Job._get_db()[f"{files.IMPORTS}.files"].count_documents({})  # noqa: E731
    url = client.post("/api/v1/imports", data=ndjson({"name": "a"}), content_type=NDJSON,
                      headers=headers).headers["Location"]
    with app.app_context():
        assert bodies() == 1
    held.run()
    with app.app_context():
        assert bodies() == 0  # done: the body went with it
    url = client.post("/api/v1/imports", data=ndjson({"name": "b"}), content_type=NDJSON,
                      headers=headers).headers["Location"]
    client.delete(url, headers=headers)  # cancelled before it ran
    assert client.delete(url, headers=headers).status_code == 204  # removed
    with app.app_context():
        assert bodies() == 0


def test_create_many_skips_ids_already_stored(app):
    from bson import ObjectId

    from mongo_todos.dates import utcnow
    from mongo_todos.todos import store

    owner, ids = ObjectId(), [ObjectId() for _ in range(3)]
    todos = [store.new_document(owner, {"name": f"n{i}"}, ids[i], utcnow()) for i in range(3)]
    with app.app_context():
        assert store.create_many(owner, todos[:2]) == 2
        assert store.create_many(owner, todos) == 1  # the first two are there: only the third is new
        assert Todo.objects(owner=owner).count() == 3


def test_a_hostile_lines_errors_stay_small(client, headers):
    line = {"name": "x", **{f"k{i}": 1 for i in range(500)}, "y" * 5000: 1}
    result = imported(client, headers, ndjson(line))
    errors = result["errors"][0]["errors"]
    assert len(errors) == 20 and max(len(name) for name in errors) <= 100


def test_a_line_nested_past_the_parsers_depth_is_a_line_error(client, headers):
    deep = b"[" * 100_000 + b"]" * 100_000
    result = imported(client, headers, deep + b"\n" + ndjson({"name": "fine"}))
    assert result["created"] == 1
    assert result["errors"] == [{"line": 1, "errors": {"_body": ["This line is not valid JSON."]}}]
