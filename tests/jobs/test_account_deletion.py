"""Deleting an account deletes its jobs and their GridFS files (export files, waiting import
bodies), and a job of it running at that moment stops and leaves nothing behind: not when the
deletion falls between two batches, nor between a batch's checks and its write, nor between
an export's last batch and the closing of its file."""

from __future__ import annotations

import pytest
from bson import ObjectId
from mongoengine.connection import get_db

from mongo_todos.jobs import files, imports, store
from mongo_todos.store.documents import Job, SyncCounter, Todo, Tombstone
from tests.jobs.conftest import create_todos
from tests.jobs.test_imports import NDJSON, ndjson

ME = "/api/v1/users/me"


def _owner(client, headers) -> ObjectId:
    return ObjectId(client.get(ME, headers=headers).get_json()["id"])


def _delete_account(client, headers) -> None:
    response = client.delete(ME, json={"password": "correct horse"}, headers=headers)
    assert response.status_code == 204, response.get_data(as_text=True)


def _left(app, owner: ObjectId, job_ids: list[ObjectId]) -> dict:
    """What is stored of ``owner``: its jobs, todos, feed records, and files of its jobs."""
    with app.app_context():
        db = get_db()
        mine = {"$or": [{"metadata.owner": owner}, {"_id": {"$in": job_ids}}]}
        return {
            "jobs": Job._get_collection().count_documents({"owner": owner}),
            "todos": Todo._get_collection().count_documents({"owner": owner}),
            "counter": SyncCounter._get_collection().count_documents({"_id": owner}),
            "tombstones": Tombstone._get_collection().count_documents({"owner": owner}),
            "files": sum(db[f"{b}.files"].count_documents(mine)
                         for b in (files.EXPORTS, files.IMPORTS)),
            "chunks": sum(db[f"{b}.chunks"].count_documents({"files_id": {"$in": job_ids}})
                          for b in (files.EXPORTS, files.IMPORTS)),
        }


NOTHING = {"jobs": 0, "todos": 0, "counter": 0, "tombstones": 0, "files": 0, "chunks": 0}


def _finished_export_and_waiting_import(app, client, headers, held) -> list[ObjectId]:
    """A finished export (its file stored) and an import of 50 lines, queued (its body
    stored); the jobs' ids, the import's last."""
    app.config["JOBS_BATCH_SIZE"] = 10
    created = create_todos(client, headers, {"name": "a"}, {"name": "b"})
    client.delete(created[1]["url"], headers=headers)  # a tombstone
    export = client.post("/api/v1/exports", json={}, headers=headers)
    held.run()
    assert client.get(export.headers["Location"], headers=headers).get_json()["status"] \
        == "succeeded"
    body = ndjson(*[{"name": f"n{i}"} for i in range(50)])
    started = client.post("/api/v1/imports", data=body, content_type=NDJSON, headers=headers)
    assert started.status_code == 202
    return [ObjectId(held.ids[0]), ObjectId(held.ids[1])]


def test_deleting_the_account_between_two_batches_of_a_running_import(
        app, client, headers, held, monkeypatch):
    owner = _owner(client, headers)
    job_ids = _finished_export_and_waiting_import(app, client, headers, held)
    before = _left(app, owner, job_ids)
    assert before["jobs"] == 2 and before["files"] == 2 and before["chunks"] >= 2
    real, beats = store.beat, []

    def deleted_meanwhile(job, *args, **kwargs):
        beats.append(args)
        if len(beats) == 1:  # after the first batch of 10 todos
            _delete_account(client, headers)
        return real(job, *args, **kwargs)

    monkeypatch.setattr(store, "beat", deleted_meanwhile)
    held.run()
    assert len(beats) == 1  # it stopped at the batch that found its job gone
    assert _left(app, owner, job_ids) == NOTHING


def test_a_batch_written_after_the_deletion_began_is_erased_by_its_job(
        app, client, headers, held, monkeypatch):
    owner = _owner(client, headers)
    job_ids = _finished_export_and_waiting_import(app, client, headers, held)
    real, writes = imports.todos.create_many, []

    def deleted_before_the_write(who, docs):
        writes.append(len(docs))
        if len(writes) == 2:  # the second batch was checked, then the account went
            _delete_account(client, headers)
        return real(who, docs)

    monkeypatch.setattr(imports.todos, "create_many", deleted_before_the_write)
    held.run()
    assert writes == [10, 10]  # the second batch was written, after the deletion
    assert _left(app, owner, job_ids) == NOTHING  # and erased again by its job


def test_an_export_finishing_after_the_deletion_leaves_no_file(
        app, client, headers, held, monkeypatch):
    owner = _owner(client, headers)
    create_todos(client, headers, *[{"name": f"t{i}"} for i in range(5)])
    app.config["JOBS_BATCH_SIZE"] = 2
    client.post("/api/v1/exports", json={"format": "json"}, headers=headers)
    real = store.beat

    def deleted_after_the_last_batch(job, done, total, *args):
        going_on = real(job, done, total, *args)
        if done == total:  # the file is written, not yet closed
            _delete_account(client, headers)
        return going_on

    monkeypatch.setattr(store, "beat", deleted_after_the_last_batch)
    held.run()
    assert _left(app, owner, [ObjectId(held.ids[0])]) == NOTHING


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_the_operator_command_erases_the_jobs_too_and_only_the_accounts(
        app, client, auth, held, who):
    jobs = {}
    for name in ("alice", "bob"):
        headers = auth.headers(name)
        create_todos(client, headers, {"name": name})
        client.post("/api/v1/exports", json={}, headers=headers)
        held.run()
        jobs[name] = (_owner(client, headers), [ObjectId(held.ids[-1])])
    result = app.test_cli_runner().invoke(args=["users", "delete", who, "--yes"])
    assert result.exit_code == 0, result.output
    assert _left(app, *jobs[who]) == NOTHING
    other = _left(app, *jobs["bob" if who == "alice" else "alice"])
    assert other["jobs"] == 1 and other["files"] == 1 and other["todos"] == 1
