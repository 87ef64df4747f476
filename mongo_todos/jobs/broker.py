"""The Celery application on the Redis broker (``JOBS_BROKER_URL``): one task, and the settings
that keep a job from being lost when the worker running it dies.

A job's state lives in its MongoDB document, not in Celery: the message carries only the job
id, there is no result backend, and the task is :func:`mongo_todos.jobs.runner.run` inside a
Flask app context. Everything here serves one promise, "a job whose worker dies is run again":

- ``task_acks_late``: the message is acknowledged when the job has finished, not when a worker
  takes it; until then Redis keeps it in its ``unacked`` hash.
- ``task_reject_on_worker_lost``: a pool process killed mid-job (OOM, SIGKILL) gives the
  message back to the queue at once instead of acknowledging it as failed.
- ``visibility_timeout`` (``JOBS_VISIBILITY_TIMEOUT``): a whole worker killed mid-job cannot give
  anything back; its unacknowledged message is delivered again once it has been out this long.
  It must be longer than the longest job (a job still running past it is delivered a second
  time: the runner is idempotent, so that costs work, not data). The sweep that restores such
  messages runs every tenth of it (1-10 s) instead of kombu's ~100 s.
- ``worker_prefetch_multiplier`` 1: a worker holds no job it has not started, so a dying worker
  takes no queued job down with it, and a long export does not hold up the jobs behind it.

The task is sent by name (:data:`TASK`), so the API never imports the worker's code path.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery
from flask import Flask

from mongo_todos.jobs import runner

#: The one task: its name is the contract between the API (sender) and the workers.
TASK = "mongo_todos.jobs.run"
#: The queue the compose file's ``worker`` service consumes (MongoDB: any worker may run a job).
SHARED_QUEUE = "mongo_todos.jobs"


def make_celery(broker_url: str, visibility_timeout: int, flask_app: Callable[[], Flask],
                queue: str = SHARED_QUEUE) -> Celery:
    """A Celery app sending to and consuming ``queue`` on ``broker_url``; its task runs a job
    in ``flask_app()``'s context (called in the process that runs the task)."""
    celery = Celery("mongo_todos", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # a job lost with its connection is delivered again: stop running the first copy
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_transport_options=transport_options(visibility_timeout),
        broker_connection_retry_on_startup=True,
        # a broker that does not answer fails the send in about a second (the API then runs
        # the job itself, see queue.py), not after Celery's default 4 s x 3 retries
        broker_connection_timeout=2,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0,
                                   "interval_step": 0.2, "interval_max": 0.5},
        task_default_queue=queue,
        task_ignore_result=True,  # state lives in the job document
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,  # the service's own log lines (web/logs.py)
        worker_send_task_events=False,
        enable_utc=True,
    )

    # not shared: each Celery app (one per Flask app) runs its task in its own Flask app
    @celery.task(name=TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def run_job(job_id: str) -> None:
        with flask_app().app_context():
            runner.run(job_id)

    return celery


def transport_options(visibility_timeout: int) -> dict:
    """kombu's Redis options: redelivery after ``visibility_timeout``, swept for promptly."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": max(1, min(10, visibility_timeout // 10)),
        "unacked_restore_throttle": 1,
    }
