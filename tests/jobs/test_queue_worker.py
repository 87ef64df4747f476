"""The worker service on a real Redis: a Celery worker process (the compose file's ``worker``,
with a stand-in runner, tests/jobs/queue_fakes.py) runs the jobs the API queues, in a Flask app
context; a worker killed mid-job loses nothing: the job is delivered again, whether the pool
process dies (at once) or the whole worker (after JOBS_VISIBILITY_TIMEOUT)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import yaml

from mongo_todos.jobs import broker, queue
from tests.conftest import TEST_ENV
from tests.jobs.queue_fakes import done, needs_redis, runs, wait_until
from tests.support.servers import ROOT, free_port

pytestmark = needs_redis


@pytest.fixture
def jobs_dir(tmp_path) -> Path:
    return tmp_path


def worker_env(redis_server, jobs_dir: Path, visibility_timeout: int) -> dict:
    """A worker's settings: the broker, and a MongoDB the stand-in runner never reaches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "JOBS_"))}
    env.update(TEST_ENV, JOBS_BROKER_URL=redis_server.url,
               MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/jobs",
               JOBS_VISIBILITY_TIMEOUT=str(visibility_timeout), QUEUE_TEST_DIR=str(jobs_dir))
    return env


@contextmanager
def celery_worker(env: dict, jobs_dir: Path, name: str):
    """``celery worker`` with the stand-in runner, one pool process, until killed or done."""
    log = open(jobs_dir / f"{name}.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.queue_worker", "--loglevel", "INFO",
         "--concurrency", "1", "--hostname", f"{name}@%h", "--without-mingle",
         "--without-gossip"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log = lambda: (jobs_dir / f"{name}.log").read_text(errors="replace")
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


@pytest.fixture
def api(make_app, redis_server):
    """The API's side: an app on MongoDB with the broker (it sends, the worker consumes)."""

    def _make(visibility_timeout: int):
        return make_app(env={"JOBS_BROKER_URL": redis_server.url,
                             "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/jobs",
                             "JOBS_VISIBILITY_TIMEOUT": str(visibility_timeout)})

    return _make


def enqueue(app, job_id: str) -> None:
    with app.test_request_context("/api/v1/exports", method="POST"):
        queue.enqueue(job_id)


def test_the_worker_runs_the_job_the_api_queued_in_an_app_context(
        api, redis_server, jobs_dir):
    app = api(visibility_timeout=60)
    with celery_worker(worker_env(redis_server, jobs_dir, 60), jobs_dir, "w1") as worker:
        enqueue(app, "job-1")
        wait_until(lambda: done(jobs_dir, "job-1"), what=f"the job ran\n{worker.log()}")
        [run] = runs(jobs_dir, "job-1")
        assert run["queue"] == broker.SHARED_QUEUE  # through the shared queue on Redis
        assert run["app_context"] is True and run["embedded"] is False
        assert run["pid"] not in (os.getpid(), worker.pid)  # in the worker's pool process
        store = redis.Redis.from_url(redis_server.url)
        wait_until(lambda: store.hlen("unacked") == 0, what="acknowledged")
        assert store.llen(broker.SHARED_QUEUE) == 0


def test_a_job_whose_pool_process_dies_is_run_again_at_once(api, redis_server, jobs_dir):
    (jobs_dir / "hold").touch()
    # an hour: a redelivery seen here is the worker giving the job back, not the timeout
    app = api(visibility_timeout=3600)
    env = worker_env(redis_server, jobs_dir, 3600)
    with celery_worker(env, jobs_dir, "w1") as worker:
        enqueue(app, "hold-1")
        [first] = wait_until(lambda: runs(jobs_dir, "hold-1"), what=f"started\n{worker.log()}")
        os.kill(first["pid"], signal.SIGKILL)  # the pool process (OOM killer, a crash)
        runs_now = wait_until(lambda: len(runs(jobs_dir, "hold-1")) == 2 and
                              runs(jobs_dir, "hold-1"), what=f"run again\n{worker.log()}")
        assert runs_now[1]["pid"] != first["pid"] and worker.poll() is None
        (jobs_dir / "hold").unlink()
        wait_until(lambda: done(jobs_dir, "hold-1") == 1, what="finished")
        store = redis.Redis.from_url(redis_server.url)
        wait_until(lambda: store.hlen("unacked") == 0, what="acknowledged")


def test_a_job_whose_worker_is_killed_is_delivered_to_the_next_worker(
        api, redis_server, jobs_dir):
    (jobs_dir / "hold").touch()
    visibility_timeout = 3
    app = api(visibility_timeout)
    env = worker_env(redis_server, jobs_dir, visibility_timeout)
    store = redis.Redis.from_url(redis_server.url)
    with celery_worker(env, jobs_dir, "w1") as first_worker:
        enqueue(app, "hold-1")
        [first] = wait_until(lambda: runs(jobs_dir, "hold-1"),
                             what=f"started\n{first_worker.log()}")
        os.killpg(first_worker.pid, signal.SIGKILL)  # the whole worker, pool and all
        first_worker.wait(10)
    # Redis still holds the message, taken and never acknowledged
    assert store.hlen("unacked") == 1 and done(jobs_dir, "hold-1") == 0
    killed = time.monotonic()
    with celery_worker(env, jobs_dir, "w2") as second_worker:
        runs_now = wait_until(lambda: len(runs(jobs_dir, "hold-1")) == 2 and
                              runs(jobs_dir, "hold-1"), timeout=visibility_timeout + 30,
                              what=f"delivered again\n{second_worker.log()}")
        # not before the visibility timeout: a slow job is not taken from a live worker
        assert time.monotonic() - killed >= visibility_timeout - 0.5
        assert runs_now[1]["pid"] != first["pid"] and runs_now[1]["app_context"] is True
        (jobs_dir / "hold").unlink()
        wait_until(lambda: done(jobs_dir, "hold-1") == 1, what="finished")
        wait_until(lambda: store.hlen("unacked") == 0, what="acknowledged")
        assert store.llen(broker.SHARED_QUEUE) == 0


@pytest.mark.parametrize(("unset", "message"), [
    ("JOBS_BROKER_URL", "JOBS_BROKER_URL is not set"),
    ("MONGODB_URI", "MONGODB_URI is not set: the embedded store lives in the API process"),
])
def test_the_worker_will_not_start_where_it_could_do_nothing(
        redis_server, jobs_dir, unset, message):
    env = worker_env(redis_server, jobs_dir, 60)
    del env[unset]
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "mongo_todos.jobs.worker", "worker"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"mongo_todos worker: {message}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_the_worker_with_one_line(redis_server, jobs_dir):
    env = {**worker_env(redis_server, jobs_dir, 60), "JOBS_BROKER_URL": "amqp://guest@host//"}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "mongo_todos.jobs.worker", "worker"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "mongo_todos worker: invalid setting: JOBS_BROKER_URL must be a Redis URL" in (
        result.stderr)


def test_the_compose_worker_command_starts_and_passes_its_healthcheck(redis_server, jobs_dir):
    worker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    env = {**worker_env(redis_server, jobs_dir, 60), "HOSTNAME": socket.gethostname(),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    check = worker["healthcheck"]["test"][1].replace("$$", "$")  # as compose hands it to sh
    log = open(jobs_dir / "compose-worker.log", "ab")
    process = subprocess.Popen(worker["command"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def healthy():
            assert process.poll() is None, (jobs_dir / "compose-worker.log").read_text()
            return subprocess.run(["sh", "-c", check], cwd=ROOT, env=env, capture_output=True,
                                  timeout=60).returncode == 0

        wait_until(healthy, timeout=90, what="the worker's healthcheck passes")
        process.send_signal(signal.SIGTERM)  # compose's stop: a warm shutdown
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()
    stopped = subprocess.run(["sh", "-c", check], cwd=ROOT, env=env, capture_output=True,
                             timeout=60)
    assert stopped.returncode != 0  # a stopped worker is unhealthy
