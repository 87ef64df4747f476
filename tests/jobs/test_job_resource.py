"""The job resource: 202 with Location and Retry-After, polling with ETags, the list newest
first, cancellation between batches, removal, the per-account limit, Idempotency-Key, and the
lost-worker sweep (run again, or failed after bounded attempts; never running forever)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mongo_todos.dates import utcnow
from mongo_todos.jobs import store
from mongo_todos.store.documents import Job, Todo
from tests.conftest import assert_problem
from tests.jobs.conftest import create_todos, start
from tests.jobs.test_imports import NDJSON, ndjson


def test_a_started_job_is_202_with_location_and_retry_after(client, headers, held):
    response = client.post("/api/v1/exports", json={}, headers=headers)
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == job["url"]
    assert int(response.headers["Retry-After"]) >= 1
    assert job["status"] == "queued" and job["progress"] == {"done": 0, "total": None}
    assert job["result"] is None and job["error"] is None and job["started_at"] is None
    assert held.ids == [job["id"]]


def test_polling_uses_the_etag_while_nothing_moves(client, headers, held):
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    first = client.get(url, headers=headers)
    assert first.headers["Retry-After"] and first.headers["ETag"]
    same = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert same.status_code == 304 and not same.data
    held.run()
    moved = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert moved.status_code == 200 and moved.get_json()["status"] == "succeeded"
    assert "Retry-After" not in moved.headers


def test_the_list_is_newest_first_and_cursor_paginated(client, headers, auth):
    ids = [start(client, headers, "/api/v1/exports", json={})["id"] for _ in range(5)]
    seen, url = [], "/api/v1/jobs?limit=2"
    while url:
        page = client.get(url, headers=headers).get_json()
        seen += [job["id"] for job in page["items"]]
        url = page["links"]["next"]
    assert seen == ids[::-1]
    assert_problem(client.get("/api/v1/jobs?limit=0", headers=headers), 422, "limit")
    assert_problem(client.get("/api/v1/jobs?colour=red", headers=headers), 422, "colour")
    assert client.get("/api/v1/jobs", headers=auth.headers("bob")).get_json()["items"] == []


def test_cancel_stops_the_job_between_two_batches(app, client, headers, held, monkeypatch):
    app.config["JOBS_BATCH_SIZE"] = 10
    url = client.post("/api/v1/imports", data=ndjson(*[{"name": f"n{i}"} for i in range(50)]),
                      content_type=NDJSON, headers=headers).headers["Location"]
    real = store.beat

    def cancelled_meanwhile(job, *args, **kwargs):
        cancelled = client.delete(url, headers=headers)  # a client cancels mid-batch
        assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
        return real(job, *args, **kwargs)

    monkeypatch.setattr(store, "beat", cancelled_meanwhile)
    held.run()
    job = client.get(url, headers=headers).get_json()
    assert job["status"] == "cancelled" and job["finished_at"]
    with app.app_context():
        assert Todo.objects.count() == 10  # the first batch, and no other
    monkeypatch.setattr(store, "beat", real)
    held.run()  # a cancelled job is left alone when delivered again
    with app.app_context():
        assert Todo.objects.count() == 10
    assert client.delete(url, headers=headers).status_code == 204  # now removed
    assert_problem(client.get(url, headers=headers), 404)


def test_a_queued_job_cancelled_never_runs(app, client, headers, held):
    create_todos(client, headers, {"name": "a"})
    url = client.post("/api/v1/todos/bulk", json={"filter": {}, "delete": True},
                      headers=headers).headers["Location"]
    assert client.delete(url, headers=headers).get_json()["status"] == "cancelled"
    held.run()
    assert client.get("/api/v1/todos", headers=headers).get_json()["items"]


def test_jobs_per_user_limit_is_429_with_retry_after(make_app, monkeypatch):
    app = make_app(env={"JOBS_PER_USER": "2"})
    from mongo_todos.jobs import queue
    from tests.conftest import Auth

    monkeypatch.setattr(queue, "enqueue", lambda job_id: None)  # jobs stay queued
    client = app.test_client()
    headers = Auth(client).headers()
    for _ in range(2):
        assert client.post("/api/v1/exports", json={}, headers=headers).status_code == 202
    refused = client.post("/api/v1/exports", json={}, headers=headers)
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    other = Auth(client).headers("bob")
    assert client.post("/api/v1/exports", json={}, headers=other).status_code == 202


def test_requests_racing_past_the_jobs_count_do_not_pass_the_limit(make_app, monkeypatch):
    """The count and the insert are two operations: requests that all counted before any
    inserted (simulated: the first count of each request sees none) must not all start."""
    app = make_app(env={"JOBS_PER_USER": "2"})
    from mongo_todos.jobs import queue
    from tests.conftest import Auth

    monkeypatch.setattr(queue, "enqueue", lambda job_id: None)  # jobs stay queued
    client = app.test_client()
    headers = Auth(client).headers()
    real, seen = store.active_count, []

    def raced(owner, limit):
        seen.append(1)
        return 0 if len(seen) % 2 else real(owner, limit)  # each request's first count

    monkeypatch.setattr(store, "active_count", raced)
    answers = [client.post("/api/v1/exports", json={}, headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 429, 429]
    assert_problem(answers[2], 429)
    with app.app_context():
        assert Job.objects.count() == 2

def test_an_idempotency_key_gives_the_same_job(client, headers, held, app):
    key = {"Idempotency-Key": "export-1"}
    first = client.post("/api/v1/exports", json={"format": "csv"}, headers={**headers, **key})
    again = client.post("/api/v1/exports", json={"format": "csv"}, headers={**headers, **key})
    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"]
    assert held.ids == [first.get_json()["id"]]
    other = client.post("/api/v1/exports", json={"format": "json"}, headers={**headers, **key})
    assert_problem(other, 422, "Idempotency-Key")
    elsewhere = client.post("/api/v1/todos/bulk", json={"filter": {}, "delete": True},
                            headers={**headers, **key})
    assert_problem(elsewhere, 422, "Idempotency-Key")
    with app.app_context():
        assert Job.objects.count() == 1


def test_idempotent_import_is_one_job(client, headers, held):
    key = {**headers, "Idempotency-Key": "import-1"}
    data = ndjson({"name": "a"})
    ids = {client.post("/api/v1/imports", data=data, content_type=NDJSON,
                       headers=key).get_json()["id"] for _ in range(3)}
    assert len(ids) == 1 and len(held.ids) == 1


def _worker_died(app, attempts: int) -> None:
    """The job's worker stopped mid-run: running, with a heartbeat long past."""
    with app.app_context():
        Job._get_collection().update_one({}, {"$set": {
            "status": "running", "attempts": attempts,
            "heartbeat_at": utcnow() - timedelta(minutes=10)}})


def test_a_job_whose_worker_died_is_run_again_when_read(app, client, headers, held):
    create_todos(client, headers, {"name": "a"})
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    _worker_died(app, attempts=1)
    assert client.get(url, headers=headers).get_json()["status"] == "queued"
    assert len(held.ids) == 2  # sent to the queue again
    held.run()
    job = client.get(url, headers=headers).get_json()
    assert job["status"] == "succeeded" and job["result"]["count"] == 1


def test_a_job_whose_workers_keep_dying_fails_with_a_problem(app, client, headers, held):
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    _worker_died(app, attempts=store.MAX_ATTEMPTS)
    job = client.get("/api/v1/jobs", headers=headers).get_json()["items"][0]
    assert job["status"] == "failed" and job["finished_at"]
    assert job["error"]["status"] == 500 and job["error"]["detail"]
    assert client.get(url, headers=headers).get_json() == job
    held.run()  # a redelivered task changes nothing
    assert client.get(url, headers=headers).get_json()["status"] == "failed"


def test_a_redelivered_task_of_a_dead_worker_runs_it_again(app, client, headers, held):
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    _worker_died(app, attempts=1)
    held.run()  # the broker delivers the task again (before anyone read the job)
    assert client.get(url, headers=headers).get_json()["status"] == "succeeded"


def test_a_live_running_job_is_not_taken_twice(app, client, headers, held):
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    with app.app_context():
        Job._get_collection().update_one({}, {"$set": {"status": "running", "attempts": 1,
                                                       "heartbeat_at": utcnow()}})
    held.run()
    assert client.get(url, headers=headers).get_json()["status"] == "running"


@pytest.mark.parametrize("job_id", ["nope", "0" * 24, "6560f0c2a1b2c3d4e5f60718"])
def test_unknown_and_malformed_job_ids_are_404(client, headers, job_id):
    assert_problem(client.get(f"/api/v1/jobs/{job_id}", headers=headers), 404)
    assert_problem(client.delete(f"/api/v1/jobs/{job_id}", headers=headers), 404)
    assert_problem(client.get(f"/api/v1/exports/{job_id}/download", headers=headers), 404)


def test_a_failed_job_reports_a_problem(app, client, headers, monkeypatch):
    from mongo_todos.jobs import export, runner

    def broken(job, batches):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(runner.WORK, "export", broken)
    job = start(client, headers, "/api/v1/exports", json={})
    assert job["status"] == "failed"
    assert job["error"]["status"] == 500 and "fire" not in job["error"]["detail"]
    assert export.run is not broken


def test_jobs_need_a_token(client):
    for method, path in (("post", "/api/v1/exports"), ("get", "/api/v1/jobs"),
                         ("post", "/api/v1/imports"), ("post", "/api/v1/todos/bulk")):
        assert getattr(client, method)(path).status_code == 401


def test_a_starting_worker_recovers_every_accounts_lost_jobs(app, client, headers, held, auth):
    from mongo_todos.jobs import runner

    client.post("/api/v1/exports", json={}, headers=headers)
    client.post("/api/v1/exports", json={}, headers=auth.headers("bob"))
    with app.app_context():
        Job._get_collection().update_many({}, {"$set": {
            "status": "running", "attempts": 1,
            "heartbeat_at": utcnow() - timedelta(minutes=10)}})
        assert sorted(runner.recover()) == sorted(held.ids)
        assert runner.recover() == []  # queued now: nothing more to do
    for job_id in held.ids:
        held.run(job_id)
    with app.app_context():
        assert {job.status for job in Job.objects} == {"succeeded"}


def test_a_finished_job_expires_with_its_ttl(app, client, headers):
    job = start(client, headers, "/api/v1/exports", json={})
    with app.app_context():
        stored = Job._get_collection().find_one()
        assert stored["expires_at"] > stored["finished_at"]
        Job._get_collection().update_one({}, {"$set": {"expires_at": utcnow()
                                                        - timedelta(seconds=1)}})
    assert_problem(client.get(job["url"], headers=headers), 404)  # the TTL index removed it


def test_a_stored_job_is_what_the_job_document_declares(app, client, headers):
    job = start(client, headers, "/api/v1/exports", json={})
    with app.app_context():
        raw = Job._get_collection().find_one()
        Job._from_son(raw).validate()  # the raw writes keep to the declared schema
        assert set(raw) <= set(Job._fields) | {"_id"}, set(raw) - set(Job._fields)
    assert job["status"] == "succeeded"
