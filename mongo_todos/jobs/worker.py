"""The ``worker`` service: ``celery -A mongo_todos.jobs.worker worker`` runs the jobs the API
queues on ``JOBS_BROKER_URL``, against the MongoDB of ``MONGODB_URI``.

It reads the same settings as the API (``config/.env``) and stops at once, with one line, when
it could do nothing useful: no broker to consume, or no ``MONGODB_URI`` (the embedded store
lives inside the API process, whose own consumer runs those jobs; a separate worker would see an
empty store). Each pool process builds its Flask app on its first job, after Celery's fork
(a MongoDB client must not cross a fork). An entry point like ``mongo_todos.wsgi``: it sits
above ``create_app``, and nothing imports it. Logs are the service's own lines (web/logs.py).
Celery's warm shutdown (SIGTERM) lets running jobs finish; past the grace period a killed
worker's jobs are delivered again (jobs/broker.py).
"""

from __future__ import annotations

import logging
import os
import threading

from celery import signals
from flask import Flask

from mongo_todos import create_app, settings
from mongo_todos.jobs import broker, queue, runner
from mongo_todos.web import logs


def _settings() -> dict:
    try:
        config = settings.from_env(os.environ, quiet=True)
    except settings.ConfigError as err:
        raise SystemExit(f"mongo_todos worker: invalid setting: {err}") from None
    if not config["JOBS_BROKER_URL"]:
        raise SystemExit("mongo_todos worker: JOBS_BROKER_URL is not set: there is no queue to "
                         "consume (without it the API runs jobs itself)")
    if config["EMBEDDED_DB"]:
        raise SystemExit("mongo_todos worker: MONGODB_URI is not set: the embedded store lives "
                         "in the API process, which runs its own jobs; a worker needs MongoDB")
    return config


CONFIG = _settings()
_flask: dict[int, Flask] = {}  # pid -> that process's app
_building = threading.Lock()


def flask_app() -> Flask:
    """This process's Flask app, built on first use (in the pool process, after the fork)."""
    pid = os.getpid()
    with _building:
        if pid not in _flask:
            _flask.clear()
            _flask[pid] = create_app()
        return _flask[pid]


app = broker.make_celery(CONFIG["JOBS_BROKER_URL"], CONFIG["JOBS_VISIBILITY_TIMEOUT"], flask_app)


@signals.setup_logging.connect
def _service_logs(**_kwargs) -> None:
    """Celery's log set-up, replaced by the service's (a receiver here switches Celery's off)."""
    logs.configure(CONFIG["LOG_LEVEL"])


@signals.worker_ready.connect
def _recover(**_kwargs) -> None:
    """At start, jobs a dead worker left ``running`` go back to the queue (or fail past their
    attempts), jobs left ``queued`` a while (an API process that ran one itself, the broker
    being down, and stopped) are sent again, and expired export files go (runner.recover), so
    no job waits for a poll to be noticed. The pool has forked by now: this app is the main process's own."""
    try:
        with flask_app().app_context():
            for job_id in runner.recover():
                queue.enqueue(job_id)
    except Exception:  # MongoDB not there yet: the sweep on every job read still runs
        logging.getLogger("mongo_todos.jobs").exception("start-up recovery of jobs failed")
