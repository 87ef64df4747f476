"""Jobs left ``queued`` by a serving process that stopped (no broker: the in-process queue
died with it) are run again: by a starting worker's recovery, by the next serving process at
its first request, or when their owner reads them; never left queued until their TTL."""

from __future__ import annotations

import time
from datetime import timedelta

from bson import ObjectId

from mongo_todos.dates import utcnow
from mongo_todos.jobs import queue, runner, store
from mongo_todos.store.documents import Job
from tests.conftest import Auth
from tests.jobs.conftest import create_todos

AGO = timedelta(minutes=5)


def left_queued(app, **older) -> None:
    """Every job is queued as if handed to a queue that is gone, ``AGO`` (default) ago."""
    past = utcnow() - older.get("by", AGO)
    with app.app_context():
        Job._get_collection().update_many({}, {"$set": {"status": "queued",
                                                        "created_at": past}})


def test_a_starting_worker_runs_jobs_left_queued(app, client, headers, held, auth):
    create_todos(client, headers, {"name": "a"})
    client.post("/api/v1/exports", json={}, headers=headers)
    client.post("/api/v1/exports", json={}, headers=auth.headers("bob"))
    left_queued(app)
    with app.app_context():
        taken = runner.recover()
        assert sorted(taken) == sorted(held.ids)
        assert runner.recover() == []  # taken: not handed out twice in one period
    for job_id in taken:
        held.run(job_id)
    with app.app_context():
        assert {job.status for job in Job.objects} == {"succeeded"}


def test_a_job_just_queued_is_left_to_its_queue(app, client, headers, held):
    client.post("/api/v1/exports", json={}, headers=headers)
    with app.app_context():
        assert runner.recover() == []
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    assert len(held.ids) == 1


def test_a_job_left_queued_runs_when_its_owner_reads_it(app, client, headers, held):
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    left_queued(app)
    assert client.get(url, headers=headers).get_json()["status"] == "queued"
    assert len(held.ids) == 2 and held.ids[0] == held.ids[1]  # handed to the queue again
    client.get(url, headers=headers)
    assert len(held.ids) == 2  # once per period
    held.run()
    assert client.get(url, headers=headers).get_json()["status"] == "succeeded"


def test_a_job_put_back_after_its_worker_died_is_handed_out_once(app, client, headers, held):
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    with app.app_context():
        Job._get_collection().update_one({}, {"$set": {
            "status": "running", "attempts": 1, "created_at": utcnow() - AGO,
            "heartbeat_at": utcnow() - AGO}})
    client.get(url, headers=headers)
    client.get(url, headers=headers)
    assert len(held.ids) == 2


def test_a_serving_process_without_a_broker_recovers_at_its_first_request(make_app,
                                                                          monkeypatch):
    """MongoDB without a broker: a new serving process (or a restarted one) runs what a
    stopped one left queued, at its first request, with no one reading the job."""
    # as on MongoDB, where a job outlives its process (the embedded store does not)
    monkeypatch.setattr(queue.Queue, "embedded", property(lambda _: False, lambda *_: None),
                        raising=False)
    app = make_app()
    client = app.test_client()
    headers = Auth(client).headers()
    create_todos(client, headers, {"name": "a"})
    owner = ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])
    with app.app_context():  # stored, then its process stopped before running it
        job = store.create(owner, "export", {"format": "ndjson", "filter": {},
                                             "todo_url_base": "http://localhost/api/v1/todos"},
                           ObjectId())
    left_queued(app)
    app.extensions[queue._EXTENSION].recovered_in = None  # another process's first request
    assert client.get("/healthz").status_code == 200
    deadline = time.monotonic() + 30
    with app.app_context():  # read in the store: reading it through the API would sweep too
        while Job._get_collection().find_one({"_id": job["_id"]})["status"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    done = client.get(f"/api/v1/jobs/{job['_id']}", headers=headers).get_json()
    assert done["result"]["count"] == 1
