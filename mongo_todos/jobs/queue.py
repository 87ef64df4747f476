"""Where a job runs: :func:`enqueue` hands a stored job to whatever will run
:func:`mongo_todos.jobs.runner.run` for it, inside a Flask app context, after the request.

Three arrangements, chosen by the settings, each behind the same one call:

- **No broker** (``JOBS_BROKER_URL`` unset, the embedded default): the serving process runs
  the job itself, on a small pool of background threads (:data:`IN_PROCESS_CONCURRENCY`), which
  under gunicorn's gevent worker are greenlets (threading is patched there), so waiting on the
  store's lock or the clock yields to requests. The embedded store lives in this process: no
  other process could run the job. Jobs queued here die with the process: on MongoDB, the
  next serving process runs what a stopped one left queued, at its first request
  (:meth:`Queue.recover_once`), and an owner reading their jobs does too (:func:`sweep`).
- **Broker and MongoDB**: a Celery message on Redis, run by the compose file's ``worker``
  service (``celery -A mongo_todos.jobs.worker worker``); see :mod:`mongo_todos.jobs.broker`
  for why a job survives a dying worker.
- **Broker and the embedded store**: a Celery message on Redis too, but on a queue of this
  process's own, consumed by a Celery worker running inside the process (started on the first
  job, so in gunicorn's worker, never in its master, and never in a CLI command), because the
  job's data is here. The queue is per process so that two servers on one Redis never take each
  other's jobs.

A broker that cannot take the message (down, unreachable) does not fail the request that
stored the job: the job runs in this process instead, with a warning in the log (it is idempotent,
so a message that was sent after all costs a second run, not data). ``/readyz`` names the
broker while it does not answer.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import redis
from celery import Celery
from celery.concurrency import thread
from flask import Flask, current_app
from kombu.exceptions import KombuError

from mongo_todos.accounts import erasure
from mongo_todos.jobs import broker, runner, store
from mongo_todos.web import probes

log = logging.getLogger(__name__)

#: Jobs one serving process runs at once. They share the process (and, embedded, the store's
#: lock, one batch at a time) with the requests: more would slow requests, not finish sooner.
IN_PROCESS_CONCURRENCY = 2
#: Seconds /readyz waits for the broker.
READY_TIMEOUT = 1.0
_EXTENSION = "mongo_todos_jobs"


def init_app(app: Flask) -> None:
    """Give ``app`` its job queue (idle until the first job), /readyz the broker, and the
    deletion of an account the removal of its jobs and their files."""
    jobs = app.extensions[_EXTENSION] = Queue(app)
    erasure.register(app, runner.erase_account)
    if jobs.broker_url:
        probes.add_check(app, "jobs_broker", jobs.broker_status)
    elif not jobs.embedded:  # jobs outlive the process that queued them, in MongoDB
        app.before_request(jobs.recover_once)


def enqueue(job_id: str) -> None:
    """Arrange for the stored job ``job_id`` to run, after this request; returns at once."""
    app = current_app._get_current_object()
    if _EXTENSION not in app.extensions:
        init_app(app)
    app.extensions[_EXTENSION].enqueue(job_id)


def sweep(owner) -> None:
    """When ``owner`` reads their jobs: put back in the queue their jobs whose worker died
    and, without a broker (whose messages outlive a process), those left ``queued`` by a
    serving process that stopped (jobs/store.py says when a job counts as lost)."""
    lost = store.requeue_stale(owner)
    if not current_app.config.get("JOBS_BROKER_URL"):
        lost += store.take_stale_queued(owner)
    for job_id in lost:
        enqueue(job_id)


class Queue:
    """One app's way of running jobs (module docstring); built idle, started on first use."""

    def __init__(self, app: Flask):
        self.app = app
        self.broker_url: str | None = app.config.get("JOBS_BROKER_URL")
        self.embedded: bool = app.config["EMBEDDED_DB"]
        self.visibility_timeout: int = app.config.get("JOBS_VISIBILITY_TIMEOUT", 900)
        self.queue_name = broker.SHARED_QUEUE
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._celery: Celery | None = None
        self._consumer: threading.Thread | None = None
        self._started_in: int | None = None  # the pid that started the pool and consumer
        self._ping: redis.Redis | None = None
        self._warned = False
        self.recovered_in: int | None = None  # the pid that ran recover_once

    def recover_once(self) -> None:
        """At this process's first request (so never in gunicorn's master, nor in a CLI
        command), what a starting worker does (runner.recover): the jobs a stopped process
        left running or queued run here. Before that request's own work, one query each."""
        if self.recovered_in == os.getpid():
            return
        self.recovered_in = os.getpid()
        try:
            for job_id in runner.recover():
                self.enqueue(job_id)
        except Exception:  # the store not there yet: reading a job still sweeps its owner's
            log.exception("start-up recovery of jobs failed")

    def enqueue(self, job_id: str) -> None:
        if not self.broker_url:
            if not self.embedded and not self._warned:  # said once, at the first job, not
                self._warned = True                      # by every CLI command's app
                log.warning("JOBS_BROKER_URL is not set: jobs run inside the API processes, "
                            "and a job whose process stops waits for another one to start "
                            "or its owner to read it; set it and run the worker service")
            self._run_here(job_id)
            return
        celery = self._start()
        try:
            celery.send_task(broker.TASK, args=[job_id], queue=self.queue_name)
        except (KombuError, redis.RedisError, OSError) as err:
            log.warning("jobs broker unavailable (%s): running job %s in this process",
                        err.__class__.__name__, job_id)
            self._run_here(job_id)

    def broker_status(self) -> str:
        """ "ok" while the broker answers a PING (for /readyz)."""
        if self._ping is None:
            self._ping = redis.Redis.from_url(self.broker_url, socket_timeout=READY_TIMEOUT,
                                              socket_connect_timeout=READY_TIMEOUT)
        try:
            self._ping.ping()
        except (redis.RedisError, OSError):
            return "unavailable"
        return "ok"

    def _run_here(self, job_id: str) -> None:
        with self._lock:
            self._forget_parent()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(IN_PROCESS_CONCURRENCY, "mongo-todos-job")
            pool = self._pool
        pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        try:
            with self.app.app_context():
                runner.run(job_id)
        except Exception:  # the runner records a job's failure; this is for what it could not
            log.exception("job %s stopped with an error", job_id)

    def _start(self) -> Celery:
        """The Celery app, and (embedded store) this process's consumer, started once."""
        with self._lock:
            self._forget_parent()
            if self._celery is None:
                self._celery = broker.make_celery(self.broker_url, self.visibility_timeout,
                                                  lambda: self.app, self.queue_name)
            if self.embedded and self._consumer is None:
                self._consumer = self._start_consumer(self._celery)
            return self._celery

    def _start_consumer(self, celery: Celery) -> threading.Thread:
        """A Celery worker on this process's queue, in a background thread (a greenlet under
        gevent): no signal handlers, no remote control, no events; its tasks on a pool of
        :data:`IN_PROCESS_CONCURRENCY` threads."""
        celery.conf.worker_enable_remote_control = False
        worker = celery.WorkController(
            hostname=f"api-{os.getpid()}@{socket.gethostname()}",
            queues=[self.queue_name],
            pool=_AppThreads,
            concurrency=IN_PROCESS_CONCURRENCY,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        consumer = threading.Thread(target=worker.start, name="mongo-todos-jobs-consumer",
                                    daemon=True)
        consumer.start()
        log.info("jobs: consuming %s on the broker in this process (embedded store)",
                 self.queue_name)
        return consumer

    def _forget_parent(self) -> None:
        """After a fork, the parent's threads and connections are not this process's."""
        if self._started_in != os.getpid():
            self._pool, self._celery, self._consumer = None, None, None
            self._started_in = os.getpid()
            if self.embedded:  # this process's store: this process's queue
                self.queue_name = (f"{broker.SHARED_QUEUE}.{socket.gethostname()}."
                                   f"{os.getpid()}.{uuid.uuid4().hex[:8]}")


class _AppThreads(thread.TaskPool):
    """Celery's thread pool, tracing each task with the Celery app that consumed it.

    A thread pool finds a task by name in the thread's *current* Celery app (a prefork child
    has exactly one): without this, a pool thread would use the process's default app, whose
    task runs jobs in another Flask app (the last one built), or none.
    """

    def on_apply(self, target, args=None, kwargs=None, callback=None, accept_callback=None,
                 **options):
        celery = self.app

        def in_this_app(*a, **kw):
            celery.set_current()
            return target(*a, **kw)

        return super().on_apply(in_this_app, args, kwargs, callback, accept_callback, **options)
