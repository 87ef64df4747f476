"""``python -m tests.jobs.queue_worker [celery worker options]``: the worker service's Celery
worker (``celery -A mongo_todos.jobs.worker worker``) with the test stand-in runner."""

import sys

from tests.jobs import queue_fakes

queue_fakes.install()

from mongo_todos.jobs.worker import app  # noqa: E402 (after the stand-in is installed)

if __name__ == "__main__":
    app.worker_main(["worker", *sys.argv[1:]])
