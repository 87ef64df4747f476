"""Jobs in the serving process under gunicorn's gevent worker (the embedded default, as
``config/gunicorn.conf.py`` and ``./scripts/serve`` run it): without a broker on greenlets of
the worker, with a Redis broker through the process's own Celery consumer; either way the
server keeps answering while a job runs. The app is tests/jobs/queue_app.py: the real one with a
stand-in runner and a route that enqueues."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis
import requests

from mongo_todos.jobs import broker
from tests.jobs.queue_fakes import done, needs_redis, runs, wait_until
from tests.support.servers import ROOT, free_port, running


@pytest.fixture
def jobs_dir(tmp_path):
    return tmp_path


def serve(port: int, env: dict):
    """gunicorn with the production config (gevent worker on the embedded store)."""
    return running(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "tests.jobs.queue_app:app"],
        port, env)


def test_without_a_broker_jobs_run_on_greenlets_beside_the_requests(jobs_dir):
    (jobs_dir / "hold").touch()
    port = free_port()
    with serve(port, {"QUEUE_TEST_DIR": str(jobs_dir)}) as server:
        base = f"http://127.0.0.1:{port}"
        for n in range(4):
            answer = requests.post(f"{base}/_test/jobs/job-{n}", timeout=5)
            assert answer.status_code == 202, answer.text
        wait_until(lambda: sum(bool(runs(jobs_dir, f"job-{n}")) for n in range(4)) == 2,
                   what=f"two jobs started\n{server.output()}")
        # the jobs wait; the server does not
        for _ in range(5):
            assert requests.get(f"{base}/healthz", timeout=2).status_code == 200
        assert sum(bool(runs(jobs_dir, f"job-{n}")) for n in range(4)) == 2  # bounded
        (jobs_dir / "hold").unlink()
        wait_until(lambda: all(done(jobs_dir, f"job-{n}") for n in range(4)),
                   what=f"every job ran\n{server.output()}")
        records = [runs(jobs_dir, f"job-{n}")[0] for n in range(4)]
        assert all(r["app_context"] and r["embedded"] and r["queue"] is None for r in records)
        assert all(r["greenlet"] is not None for r in records)  # gevent had patched threading


@needs_redis
def test_with_a_broker_the_embedded_server_consumes_its_own_jobs_from_redis(
        jobs_dir, redis_server):
    (jobs_dir / "hold").touch()
    port = free_port()
    env = {"QUEUE_TEST_DIR": str(jobs_dir), "JOBS_BROKER_URL": redis_server.url}
    store = redis.Redis.from_url(redis_server.url)
    with serve(port, env) as server:
        base = f"http://127.0.0.1:{port}"
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"]["jobs_broker"] == "ok"
        assert requests.post(f"{base}/_test/jobs/job-1", timeout=5).status_code == 202
        [run] = wait_until(lambda: runs(jobs_dir, "job-1"),
                           what=f"the job started\n{server.output()}")
        # through Redis, on this server's own queue, in its app (its embedded store)
        assert run["queue"].startswith(broker.SHARED_QUEUE + ".")
        assert run["app_context"] and run["embedded"] and run["greenlet"] is not None
        assert store.hlen("unacked") == 1
        assert requests.get(f"{base}/healthz", timeout=2).status_code == 200
        (jobs_dir / "hold").unlink()
        wait_until(lambda: done(jobs_dir, "job-1"), what="the job finished")
        wait_until(lambda: store.hlen("unacked") == 0, what="acknowledged")
        assert store.llen(run["queue"]) == 0
        assert "Traceback" not in server.output()


@needs_redis
def test_the_quick_start_server_takes_a_broker_and_reports_it(redis_server):
    port = free_port()
    command = [sys.executable, "-m", "mongo_todos", "--port", str(port), "--demo-todos", "0"]
    with running(command, port, {"JOBS_BROKER_URL": redis_server.url}) as server:
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["jobs_broker"] == "ok"
        redis_server.stop()
        down = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert down.status_code == 503 and "jobs_broker unavailable" in down.json()["detail"]
        assert "Traceback" not in server.output()


@pytest.mark.parametrize("master", ["mongo_todos.__main__", "mongo_todos.web.gunicorn_errors"])
def test_celery_loads_in_the_worker_after_gevents_patching_never_in_the_master(master):
    # what gunicorn's master imports (python -m mongo_todos; config/gunicorn.conf.py): Celery,
    # kombu and their sockets and threads must come after the gevent worker has patched them
    probe = (f"import importlib, sys; importlib.import_module({master!r}); "
             "print(sorted(m for m in ('celery', 'kombu', 'mongo_todos.jobs.queue') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
