"""A stand-in for ``mongo_todos.jobs.runner.run`` in processes the tests start (a Celery
worker, a gunicorn server): it writes down each run in ``QUEUE_TEST_DIR`` (one JSON line per
run in a file named after the job) and, while the file ``hold`` exists there, keeps running.

Test-only: the processes that use it install it themselves (``install``) before serving, so the
package's code knows nothing of it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from celery import current_task
from flask import current_app, has_app_context

#: Tests that start a redis-server: skipped on a laptop without one, never in CI (.ci/run
#: installs it, so a missing one there is a failure, not a skip).
needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("CI"),
    reason="redis-server is not installed (apt-get install redis-server; .ci/run installs it)",
)
HOLD_LIMIT = 120  # seconds: a forgotten hold file cannot keep a worker busy for ever


def run(job_id: str) -> None:
    directory = Path(os.environ["QUEUE_TEST_DIR"])
    request = current_task.request if current_task else None
    record = {
        "job": job_id,
        "pid": os.getpid(),
        "app_context": has_app_context(),
        "embedded": has_app_context() and current_app.config["EMBEDDED_DB"],
        "queue": (request.delivery_info or {}).get("routing_key") if request else None,
        "redelivered": bool(request and (request.delivery_info or {}).get("redelivered")),
        "thread": threading.current_thread().name,
        "greenlet": _greenlet_name(),
    }
    with open(directory / f"{job_id}.runs", "a") as runs:
        runs.write(json.dumps(record) + "\n")
    deadline = time.monotonic() + HOLD_LIMIT
    while (directory / "hold").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(directory / f"{job_id}.done", "a") as done:
        done.write(f"{os.getpid()}\n")


def _greenlet_name() -> str | None:
    try:
        from gevent import monkey  # gevent is optional for the stand-in
    except ImportError:
        return None
    if not monkey.is_module_patched("socket"):
        return None
    import gevent

    return type(gevent.getcurrent()).__name__


def install() -> None:
    """Replace the real runner in this process (and the processes it forks)."""
    from mongo_todos.jobs import runner  # the module whose attribute the task looks up

    runner.run = run


def runs(directory: Path, job_id: str) -> list[dict]:
    path = directory / f"{job_id}.runs"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def done(directory: Path, job_id: str) -> int:
    path = directory / f"{job_id}.done"
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_until(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")
