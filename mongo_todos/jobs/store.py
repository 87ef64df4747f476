"""Job documents: the one module that talks to the driver about jobs.

A job moves ``queued -> running -> succeeded | failed | cancelled``. Every transition is one
conditional write on the job's current state, so a cancel and a worker's next batch, or two
workers given the same job, cannot both win. Every query carries the owner (the shard key's
prefix), except the worker's claim, which only knows the job's id (one lookup by ``_id``).

**Liveness.** A running job's worker moves ``heartbeat_at`` with every batch. A job still
``running`` whose heartbeat is older than ``JOBS_STALE_AFTER`` seconds lost its worker: it goes
back to ``queued`` to be run again (the work is idempotent), or, after :data:`MAX_ATTEMPTS`
runs, becomes ``failed`` with a problem. :func:`requeue_stale` does that sweep; it runs when a
job is read or listed and when a worker starts, so no job stays ``running`` forever. A job
still ``queued`` that long after it was handed to a queue may have been in the in-process queue
of a process that stopped (no broker): :func:`take_stale_queued` hands it out again, so no job
stays ``queued`` forever either (``heartbeat_at`` of a queued job: when it was handed out).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from bson import ObjectId
from flask import current_app
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from mongo_todos.dates import isoformat, utcnow
from mongo_todos.jobs import files
from mongo_todos.store.documents import Job
from mongo_todos.todos.pagination import Page, paginate

ACTIVE = ["queued", "running"]
#: Runs a job gets before a lost worker makes it ``failed`` rather than run again.
MAX_ATTEMPTS = 3
#: How long an unfinished job is kept at most (a finished one: EXPORT_TTL after it ended).
UNFINISHED_TTL = timedelta(days=7)
_ID = re.compile(r"[0-9a-fA-F]{24}")


def collection():
    return Job._get_collection()


def _stale_before():
    return utcnow() - timedelta(seconds=current_app.config.get("JOBS_STALE_AFTER", 60))


def _kept_until():
    return utcnow() + timedelta(seconds=current_app.config["EXPORT_TTL"])


# --- the API side ---------------------------------------------------------------------------

def create(owner: ObjectId, kind: str, params: dict, job_id: ObjectId) -> dict | None:
    """Store a new queued job; None if ``job_id`` exists (an Idempotency-Key's retry)."""
    now = utcnow()
    job = {"_id": job_id, "owner": owner, "kind": kind, "status": "queued", "params": params,
           "progress": {"done": 0, "total": None}, "partial": {}, "result": None,
           "error": None, "created_at": now, "started_at": None, "finished_at": None,
           "heartbeat_at": None, "attempts": 0, "expires_at": now + UNFINISHED_TTL}
    try:
        collection().insert_one(job)
    except DuplicateKeyError:
        return None
    return job


def find_owned(owner: ObjectId, job_id: str) -> dict | None:
    """``owner``'s job ``job_id``, or None (a malformed id included)."""
    if not _ID.fullmatch(job_id):
        return None
    return collection().find_one({"_id": ObjectId(job_id), "owner": owner})


def active_count(owner: ObjectId, limit: int) -> int:
    return collection().count_documents({"owner": owner, "status": {"$in": ACTIVE}},
                                        limit=limit)


def page(owner: ObjectId, args: dict) -> Page:
    """A page of ``owner``'s jobs, newest first (the todos' cursor pagination)."""
    return paginate(collection(), {"owner": owner}, sort="-created_at", limit=args["limit"],
                    cursor=args["cursor"], filters={"owner": str(owner), "list": "jobs"})


def cancel(owner: ObjectId, job_id: ObjectId) -> dict | None:
    """Cancel a queued or running job; the job after, or None if it was not active."""
    now = utcnow()
    return collection().find_one_and_update(
        {"_id": job_id, "owner": owner, "status": {"$in": ACTIVE}},
        {"$set": {"status": "cancelled", "finished_at": now, "expires_at": _kept_until()}},
        return_document=ReturnDocument.AFTER)


def withdraw(owner: ObjectId, job_id: ObjectId) -> bool:
    """Delete a job that is still queued (its start was refused); whether it was."""
    return bool(collection().delete_one(
        {"_id": job_id, "owner": owner, "status": "queued"}).deleted_count)


def remove(owner: ObjectId, job_id: ObjectId) -> bool:
    """Delete a finished job; whether one was deleted."""
    return bool(collection().delete_one(
        {"_id": job_id, "owner": owner, "status": {"$nin": ACTIVE}}).deleted_count)


def erase_owner(owner: ObjectId) -> list[ObjectId]:
    """Delete every job of ``owner`` (its account is being deleted), running ones included:
    their next batch finds the job gone and stops. The ids of the jobs deleted."""
    ids = [job["_id"] for job in collection().find({"owner": owner}, {"_id": 1})]
    collection().delete_many({"owner": owner})
    return ids


def exists(job: dict) -> bool:
    return collection().find_one({"_id": job["_id"], "owner": job["owner"]}, {"_id": 1}) \
        is not None


def requeue_stale(owner: ObjectId | None = None) -> list[str]:
    """The lost-worker sweep (module docstring): the ids of jobs put back in the queue, for
    the caller to enqueue; jobs past :data:`MAX_ATTEMPTS` are marked failed instead."""
    query: dict = {"status": "running", "heartbeat_at": {"$lt": _stale_before()}}
    if owner is not None:
        query["owner"] = owner
    requeued = []
    for job in list(collection().find(query, {"attempts": 1, "heartbeat_at": 1, "owner": 1})):
        if job["attempts"] >= MAX_ATTEMPTS:
            fail(job, lost_worker_problem(job["attempts"]))
            continue
        moved = collection().update_one(
            {"_id": job["_id"], "owner": job["owner"], "status": "running",
             "heartbeat_at": job["heartbeat_at"]},
            {"$set": {"status": "queued", "heartbeat_at": utcnow()}})  # handed out now
        if moved.modified_count:
            requeued.append(str(job["_id"]))
    return requeued


def take_stale_queued(owner: ObjectId | None = None) -> list[str]:
    """Jobs still ``queued`` a ``JOBS_STALE_AFTER`` after they were handed to a queue (stored,
    or put back by :func:`requeue_stale`): the process whose in-process queue held them may
    have stopped. Each is stamped as handed out again now (``heartbeat_at``, in one write
    conditional on the stamp it had), so one sweep takes it per period; the ids taken, for the
    caller to enqueue (:func:`claim` lets one run have it, wherever the other copy is)."""
    stale = _stale_before()
    query: dict = {"status": "queued", "$or": [
        {"heartbeat_at": {"$lt": stale}}, {"heartbeat_at": None, "created_at": {"$lt": stale}}]}
    if owner is not None:
        query["owner"] = owner
    taken = []
    for job in list(collection().find(query, {"owner": 1, "heartbeat_at": 1})):
        moved = collection().update_one(
            {"_id": job["_id"], "owner": job["owner"], "status": "queued",
             "heartbeat_at": job.get("heartbeat_at")}, {"$set": {"heartbeat_at": utcnow()}})
        if moved.modified_count:
            taken.append(str(job["_id"]))
    return taken


def kept_exports(owner: ObjectId) -> list[ObjectId]:
    """``owner``'s finished exports whose file is kept, newest first."""
    found = collection().find(
        {"owner": owner, "kind": "export", "status": "succeeded",
         "result.expires_at": {"$gt": utcnow()}}, {"_id": 1}).sort([("created_at", -1),
                                                                    ("_id", -1)])
    return [job["_id"] for job in found]


def expire_export(owner: ObjectId, job_id: ObjectId) -> None:
    """The export's file is removed before its time: its result says it expired now."""
    collection().update_one({"_id": job_id, "owner": owner, "status": "succeeded"},
                            {"$set": {"result.expires_at": utcnow()}})


def lost_worker_problem(attempts: int) -> dict:
    return {"type": "about:blank", "title": "Internal Server Error", "status": 500,
            "detail": f"The job's worker stopped {attempts} times before finishing it; it "
                      "was given up. Start it again."}


# --- the worker side ------------------------------------------------------------------------

def claim(job_id: ObjectId) -> dict | None:
    """Take a queued job (or a running one whose worker was lost) to run it; None when it is
    not to be run (finished, cancelled, gone, or running on a live worker)."""
    now = utcnow()
    job = collection().find_one_and_update(
        {"_id": job_id, "$or": [{"status": "queued"},
                                {"status": "running", "heartbeat_at": {"$lt": _stale_before()}}]},
        {"$set": {"status": "running", "heartbeat_at": now}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER)
    if job is None:
        return None
    if job["attempts"] > MAX_ATTEMPTS:
        fail(job, lost_worker_problem(job["attempts"] - 1))
        return None
    if job["started_at"] is None:
        collection().update_one({"_id": job_id, "owner": job["owner"], "started_at": None},
                                {"$set": {"started_at": now}})
    return job


def _mine(job: dict) -> dict:
    """The filter of ``job`` while this run still owns it (running, this attempt)."""
    return {"_id": job["_id"], "owner": job["owner"], "status": "running",
            "attempts": job["attempts"]}


def beat(job: dict, done: int, total: int | None, partial: dict | None = None) -> bool:
    """Record a batch's progress; False when the job was cancelled (or taken over): stop."""
    changes = {"progress": {"done": done, "total": total}, "heartbeat_at": utcnow()}
    if partial is not None:
        changes["partial"] = partial
    return bool(collection().update_one(_mine(job), {"$set": changes}).matched_count)


def finish(job: dict, result: dict, total: int) -> None:
    now = utcnow()
    collection().update_one(_mine(job), {"$set": {
        "status": "succeeded", "result": result, "finished_at": now,
        "progress": {"done": total, "total": total}, "expires_at": _kept_until()}})


def fail(job: dict, problem: dict) -> None:
    """The job ends failed (unless it ended meanwhile); its files go (an import's body, an
    export's part written): no run will use them."""
    failed = collection().update_one(
        {"_id": job["_id"], "owner": job["owner"], "status": {"$in": ACTIVE}},
        {"$set": {"status": "failed", "error": problem, "finished_at": utcnow(),
                  "expires_at": _kept_until()}})
    if failed.modified_count:
        for bucket in (files.EXPORTS, files.IMPORTS):
            files.delete(bucket, job["_id"])


# --- representation -------------------------------------------------------------------------

def to_json(job: dict, url: str, download_url: str | None) -> dict:
    """A job as the API shows it; ``download_url`` completes a finished export's result."""
    result = job.get("result")
    if result is not None and "expires_at" in result:
        result = {**result, "download_url": download_url,
                  "expires_at": isoformat(result["expires_at"])}
    return {"id": str(job["_id"]), "url": url, "kind": job["kind"], "status": job["status"],
            "progress": job["progress"], "created_at": isoformat(job["created_at"]),
            "started_at": isoformat(job.get("started_at")),
            "finished_at": isoformat(job.get("finished_at")),
            "result": result, "error": job.get("error")}


def etag(body: dict) -> str:
    """A strong ETag of a job's representation: it moves with status, progress and result."""
    return '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'
