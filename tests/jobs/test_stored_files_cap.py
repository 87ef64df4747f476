"""What one account may keep in GridFS: its EXPORTS_PER_USER newest finished exports (a new
one that finishes removes the oldest's file: 410 from then on), and no import body once its job
has ended (cancelled or failed), so an account cannot fill the store with files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bson import ObjectId

from mongo_todos.dates import utcnow
from mongo_todos.jobs import files, runner, store
from mongo_todos.settings import ConfigError, from_env
from mongo_todos.store.documents import Job
from tests.conftest import Auth, assert_problem
from tests.jobs.conftest import create_todos, start


def stored_files(app, bucket: str, owner: str | None = None) -> int:
    with app.app_context():
        query = {} if owner is None else {"metadata.owner": ObjectId(owner)}
        # counted by hand: count_documents on a GridFS collection trips the embedded store's
        # ordered indexes (GridFS declares its index keys as dict_items there)
        return len(list(Job._get_db()[f"{bucket}.files"].find(query, {"_id": 1})))


def test_exports_per_user_keeps_the_newest_and_removes_the_oldests_file(make_app):
    app = make_app(env={"EXPORTS_PER_USER": "2"})
    client = app.test_client()
    auth = Auth(client)
    alice, bob = auth.headers("alice"), auth.headers("bob")
    create_todos(client, alice, {"name": "a"})
    bobs = start(client, bob, "/api/v1/exports", json={})
    jobs = [start(client, alice, "/api/v1/exports", json={"format": fmt})
            for fmt in ("ndjson", "json", "csv")]
    assert [job["status"] for job in jobs] == ["succeeded"] * 3
    oldest = client.get(jobs[0]["url"], headers=alice).get_json()
    assert oldest["status"] == "succeeded"
    # its file went when the third finished: its result says it expired then
    assert jobs[2]["finished_at"] <= oldest["result"]["expires_at"] < jobs[0]["result"][
        "expires_at"]
    refused = client.get(oldest["result"]["download_url"], headers=alice)
    assert_problem(refused, 410, type=None)
    assert "newest 2" in refused.get_json()["detail"]
    for job in jobs[1:]:
        assert client.get(job["result"]["download_url"], headers=alice).status_code == 200
    assert client.get(bobs["result"]["download_url"], headers=bob).status_code == 200
    me = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    assert stored_files(app, files.EXPORTS, me) == 2
    assert stored_files(app, files.EXPORTS) == 3


def test_exports_per_user_defaults_to_ten_and_a_bad_value_stops_the_start():
    assert from_env({}, quiet=True)["EXPORTS_PER_USER"] == 10
    for value in ("0", "many", "-1"):
        with pytest.raises(ConfigError, match="EXPORTS_PER_USER"):
            from_env({"EXPORTS_PER_USER": value}, quiet=True)


def test_a_cancelled_imports_body_is_removed_and_it_never_runs(app, client, headers, held):
    started = client.post("/api/v1/imports", data=b'{"name": "a"}\n',
                          content_type="application/x-ndjson", headers=headers)
    assert started.status_code == 202 and stored_files(app, files.IMPORTS) == 1
    cancelled = client.delete(started.headers["Location"], headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert stored_files(app, files.IMPORTS) == 0
    held.run()
    job = client.get(started.headers["Location"], headers=headers).get_json()
    assert job["status"] == "cancelled" and job["error"] is None
    assert client.get("/api/v1/todos", headers=headers).get_json()["items"] == []


def test_an_import_cancelled_as_it_starts_stops_without_an_error(app, client, headers, held,
                                                                  caplog):
    """The runner claimed it, then the cancel removed its body before it was read."""
    url = client.post("/api/v1/imports", data=b'{"name": "a"}\n',
                      content_type="application/x-ndjson", headers=headers).headers["Location"]
    claim = runner.store.claim

    def claimed_then_cancelled(job_id):
        job = claim(job_id)
        assert client.delete(url, headers=headers).status_code == 200
        return job

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner.store, "claim", claimed_then_cancelled)
        held.run()
    assert client.get(url, headers=headers).get_json()["status"] == "cancelled"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_failed_jobs_files_are_removed(app, client, headers, monkeypatch):
    def broken(job, batches):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(runner.WORK, "import", broken)
    job = start(client, headers, "/api/v1/imports", data=b'{"name": "a"}\n',
                content_type="application/x-ndjson")
    assert job["status"] == "failed"
    assert stored_files(app, files.IMPORTS) == 0


def test_a_job_given_up_after_its_workers_died_leaves_no_chunks(app, client, headers, held):
    """A worker died mid-export (chunks written, no file document) for the last time."""
    url = client.post("/api/v1/exports", json={}, headers=headers).headers["Location"]
    with app.app_context():
        job = Job._get_collection().find_one()
        # GridFS writes a file's chunks in batches of up to 48 MB, the file document last
        chunks = Job._get_db()[f"{files.EXPORTS}.chunks"]
        chunks.insert_one({"files_id": job["_id"], "n": 0, "data": b"x" * files.CHUNK_SIZE})
        Job._get_collection().update_one({}, {"$set": {
            "status": "running", "attempts": store.MAX_ATTEMPTS,
            "heartbeat_at": utcnow() - timedelta(minutes=10)}})
    assert client.get(url, headers=headers).get_json()["status"] == "failed"
    with app.app_context():
        assert list(chunks.find({"files_id": job["_id"]})) == []


def test_a_late_failure_leaves_a_finished_exports_file(app, client, headers):
    """A sweep that read the job as lost, then found it finished: nothing of it goes."""
    job = start(client, headers, "/api/v1/exports", json={})
    with app.app_context():
        store.fail(Job._get_collection().find_one(), runner.FAILED)
    assert client.get(job["url"], headers=headers).get_json()["status"] == "succeeded"
    assert client.get(job["result"]["download_url"], headers=headers).status_code == 200
