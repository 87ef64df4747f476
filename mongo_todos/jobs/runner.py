"""Running one job to its end: ``run(job_id)``, what the queue calls (``queue.py``).

``run`` may be called again for the same job (a task redelivered after its worker died):
:func:`mongo_todos.jobs.store.claim` lets it run only a job that is queued, or running on a
worker that stopped beating; a finished or cancelled job is left alone. The work itself
(``export.py``, ``imports.py``, ``bulk.py``) resumes from the progress stored with the job
and is idempotent over the batch that was in flight: an import's todos get ids derived from
the job and the line, so a re-run finds them instead of creating them twice.

Work goes in batches of :data:`BATCH_SIZE` todos (200): one read or one write per
batch, so the embedded store's lock is never held for more than a batch and the API keeps
answering while a job runs. After each batch the job's progress and heartbeat are stored, in
a write that also tells whether the job was cancelled meanwhile: then the work stops there.

**Account deletion.** Deleting an account deletes its jobs (:func:`erase_account`, an
account eraser), running ones too: the run finds its job gone at its next batch and stops. A
batch it wrote after the deletion had begun (the deletion's reads and the batch's write can
interleave) would be left behind, so a run that ends without its job, its account being
deleted, erases the account's data again (:func:`mongo_todos.accounts.users.erase_owned_data`,
idempotent): nothing it wrote outlives the deletion.
"""

from __future__ import annotations

import logging
import time

from bson import ObjectId
from flask import current_app

from mongo_todos.accounts import users
from mongo_todos.jobs import bulk, export, files, imports, store

log = logging.getLogger("mongo_todos.jobs")

#: The work of each kind: ``work(job, batches)`` returns ``(result, total)``, or None when
#: the job was cancelled (or taken over) between two batches.
WORK = {"export": export.run, "import": imports.run, "bulk": bulk.run}
#: Todos per batch (``JOBS_BATCH_SIZE`` overrides it): a batch of 200 is about 50 ms of work
#: on the embedded store, the longest a request waits for a job's turn.
BATCH_SIZE = 200
#: Seconds a job pauses after each batch, so that requests get their turn.
TURN = 0.001
FAILED = {"type": "about:blank", "title": "Internal Server Error", "status": 500,
          "detail": "The job stopped on an unexpected error; it has been logged. Start it "
                    "again."}


class Batches:
    """A run's batch size and its per-batch report (progress, heartbeat, cancellation)."""

    def __init__(self, job: dict):
        self.job = job
        self.size = current_app.config.get("JOBS_BATCH_SIZE", BATCH_SIZE)

    def progress(self, done: int, total: int | None, partial: dict | None = None) -> bool:
        """Store the progress; False when the job is no longer this run's to finish."""
        going_on = store.beat(self.job, done, total, partial)
        self.turn()
        return going_on

    @staticmethod
    def turn() -> None:
        """Give requests a turn: under gevent (the embedded default's worker) the job is a
        greenlet, and one that never waits would run to its end before any request. A timer,
        not sleep(0): gevent runs the ready callbacks on sleep(0) but polls sockets only when
        its loop goes round (measured: a GET waited out a whole 10,000-todo import)."""
        time.sleep(TURN)


def recover() -> list[str]:
    """What a worker (or a serving process running jobs itself) does when it starts: remove
    expired export files, put back in the queue the jobs whose worker died (or fail those past
    their attempts), and take the jobs left ``queued`` in a queue that went with its process;
    the ids to enqueue again (this module cannot: the queue calls :func:`run`)."""
    files.remove_expired()
    return store.requeue_stale() + store.take_stale_queued()


def run(job_id: str) -> None:
    """Run job ``job_id`` to its end, if it is still to be run (module docstring)."""
    job = store.claim(ObjectId(job_id))
    if job is None:
        return
    try:
        outcome = WORK[job["kind"]](job, Batches(job))
    except Exception:
        if store.exists(job):
            log.exception("job %s (%s) failed", job_id, job["kind"])
            store.fail(job, FAILED)
            return
        outcome = None  # its account's deletion took its files from under it
    if outcome is not None:
        store.finish(job, *outcome)
        if job["kind"] == "export":
            export.keep_newest(job["owner"])
    if not store.exists(job):
        _left_behind(job)


def erase_account(owner: ObjectId) -> None:
    """The jobs' account eraser: ``owner``'s jobs and their files (exports, import bodies)."""
    files.remove_owned(owner, store.erase_owner(owner))


def _left_behind(job: dict) -> None:
    """The job went while this run had it (module docstring): remove what the run wrote."""
    for bucket in (files.EXPORTS, files.IMPORTS):
        files.delete(bucket, job["_id"])
    if users.deleted(job["owner"]):
        log.info("job %s: its account was deleted while it ran; erasing again", job["_id"])
        users.erase_owned_data(job["owner"])
