"""Where a job runs (mongo_todos/jobs/queue.py), in this process: without a broker on the
serving process's own threads; with a real Redis broker through a Celery message consumed by
the process's own worker (the embedded store); falling back to this process when the broker
is down; and the settings and the readiness probe that go with them."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from celery import current_task
from celery.worker import state as worker_state
from flask import current_app, has_app_context, has_request_context

from mongo_todos import ConfigError, settings
from mongo_todos.jobs import queue, runner
from tests.jobs.queue_fakes import needs_redis
from tests.support.servers import free_port


class Recorder:
    """A stand-in runner: notes each run (with what it could see) and blocks until released."""

    def __init__(self):
        self.runs: list[dict] = []
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, job_id: str) -> None:
        request = current_task.request if current_task else None
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.runs.append({
                "job": job_id,
                "app": current_app._get_current_object() if has_app_context() else None,
                "request_context": has_request_context(),
                "queue": (request.delivery_info or {}).get("routing_key") if request else None,
                "thread": threading.current_thread().name,
            })
        self.started.release()
        try:
            assert self.release.wait(30), "the test never released the job"
            if job_id.startswith("fail"):
                raise RuntimeError("the job broke")
        finally:
            with self.lock:
                self.running -= 1

    def wait_started(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.started.acquire(timeout=30), "a job did not start within 30 s"


@pytest.fixture
def recorder(monkeypatch):
    fake = Recorder()
    monkeypatch.setattr(runner, "run", fake)
    yield fake
    fake.release.set()


def stop_consumers(*apps) -> None:
    """End the apps' in-process consumers the way Celery's own test worker does: its loop
    checks this flag between polls (closing its connection from here would race its read)."""
    threads = [app.extensions["mongo_todos_jobs"]._consumer for app in apps]
    worker_state.should_terminate = 0
    try:
        for thread in filter(None, threads):
            thread.join(15)
            assert not thread.is_alive(), "a consumer did not stop"
    finally:
        worker_state.should_terminate = None


def wait_until(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("not within the time allowed")


def test_without_a_broker_the_job_runs_after_the_request_in_this_process(app, recorder):
    with app.test_request_context("/api/v1/exports", method="POST"):
        queue.enqueue("job-1")  # returns while the job is still running (it waits for release)
    recorder.wait_started()
    [run] = recorder.runs
    assert run["job"] == "job-1"
    assert run["app"] is app  # the serving app's context (its store, its settings)...
    assert run["request_context"] is False  # ...not the request's, which has ended
    assert run["thread"].startswith("mongo-todos-job")
    recorder.release.set()


def test_jobs_in_this_process_run_a_few_at_a_time_and_all_run(app, recorder):
    with app.app_context():
        for n in range(5):
            queue.enqueue(f"job-{n}")
    recorder.wait_started(queue.IN_PROCESS_CONCURRENCY)
    time.sleep(0.2)  # room for a third to start, were the pool unbounded
    assert recorder.running == queue.IN_PROCESS_CONCURRENCY
    recorder.release.set()
    recorder.wait_started(5 - queue.IN_PROCESS_CONCURRENCY)
    assert sorted(r["job"] for r in recorder.runs) == [f"job-{n}" for n in range(5)]
    assert recorder.most_at_once == queue.IN_PROCESS_CONCURRENCY


def test_a_job_that_raises_is_logged_and_the_next_one_still_runs(app, recorder, caplog):
    recorder.release.set()
    with app.app_context():
        queue.enqueue("fail-1")
        queue.enqueue("job-2")
    recorder.wait_started(2)
    wait_until(lambda: "job fail-1 stopped with an error" in caplog.text)
    assert [r["job"] for r in recorder.runs] == ["fail-1", "job-2"]


@needs_redis
def test_with_a_broker_and_the_embedded_store_this_process_consumes_its_own_queue(
        make_app, recorder, redis_server):
    app = make_app(env={"JOBS_BROKER_URL": redis_server.url})
    broker = redis.Redis.from_url(redis_server.url)
    try:
        with app.test_request_context("/api/v1/imports", method="POST"):
            queue.enqueue("job-1")
        recorder.wait_started()
        jobs = app.extensions["mongo_todos_jobs"]
        [run] = recorder.runs
        # it came through Redis, on this process's own queue, to this app's context
        assert run["queue"] == jobs.queue_name and jobs.queue_name.startswith("mongo_todos.jobs.")
        assert run["app"] is app and run["request_context"] is False
        assert broker.hlen("unacked") == 1  # taken, not acknowledged while it runs
        recorder.release.set()
        wait_until(lambda: broker.hlen("unacked") == 0)  # acknowledged once finished
        assert broker.llen(jobs.queue_name) == 0
    finally:
        stop_consumers(app)


@needs_redis
def test_two_embedded_servers_on_one_broker_never_take_each_others_jobs(
        make_app, recorder, redis_server):
    recorder.release.set()
    first = make_app(env={"JOBS_BROKER_URL": redis_server.url})
    with first.app_context():
        queue.enqueue("first-1")
    recorder.wait_started()
    second = make_app(env={"JOBS_BROKER_URL": redis_server.url})
    try:
        with second.app_context():
            for n in range(3):
                queue.enqueue(f"second-{n}")
        recorder.wait_started(3)
        queues = {r["job"]: r["queue"] for r in recorder.runs}
        assert queues["first-1"] == first.extensions["mongo_todos_jobs"].queue_name
        assert {queues[f"second-{n}"] for n in range(3)} == {
            second.extensions["mongo_todos_jobs"].queue_name}
        assert len(set(queues.values())) == 2
        assert all(r["app"] is second for r in recorder.runs if r["job"].startswith("second"))
    finally:
        stop_consumers(first, second)


def test_a_broker_that_does_not_answer_leaves_the_job_to_this_process(
        make_app, recorder, caplog):
    # MongoDB (never reached: the stand-in runner does not touch it): no consumer in this process
    app = make_app(env={"JOBS_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
                        "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/jobs"})
    recorder.release.set()
    with app.test_request_context("/api/v1/exports", method="POST"):
        queue.enqueue("job-1")  # no exception reaches the request
    recorder.wait_started()
    assert recorder.runs[0]["app"] is app and recorder.runs[0]["queue"] is None
    assert "jobs broker unavailable" in caplog.text and "running job job-1 in this process" in (
        caplog.text)


@needs_redis
def test_readiness_names_the_broker_while_it_does_not_answer(make_app, redis_server):
    app = make_app(env={"JOBS_BROKER_URL": redis_server.url})
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["jobs_broker"] == "ok"
    redis_server.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.headers["Content-Type"] == "application/problem+json"
    assert "jobs_broker unavailable" in down.get_json()["detail"]
    redis_server.start()
    assert client.get("/readyz").status_code == 200


def test_readiness_has_no_broker_check_without_a_broker(client):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and "jobs_broker" not in ready.get_json()["checks"]


BASE = {"SECRET_KEY": "k" * 40, "JWT_SECRET_KEY": "j" * 40}


@pytest.mark.parametrize("url", [
    "redis://localhost:6379/0", "redis://redis:6379", "rediss://:s3cret@cache.example:6380/2",
    "redis://user:pw@[::1]:6379/1",
])
def test_a_redis_broker_url_is_accepted(url):
    assert settings.from_env({**BASE, "JOBS_BROKER_URL": url})["JOBS_BROKER_URL"] == url


@pytest.mark.parametrize("url", [
    "amqp://guest@localhost//", "memory://", "localhost:6379", "redis://", "redis://:6379/0",
    "redis://host:99999/0", "redis://host:port/0", "redis://host:6379/zero",
    "sqs://:hunter2@host/0",
])
def test_another_broker_url_stops_the_start_with_a_clear_message(url):
    with pytest.raises(ConfigError) as err:
        settings.from_env({**BASE, "JOBS_BROKER_URL": url})
    assert "JOBS_BROKER_URL must be a Redis URL like redis://host:6379/0" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_no_broker_url_means_jobs_run_in_the_serving_process():
    config = settings.from_env({**BASE, "JOBS_BROKER_URL": "  "})
    assert config["JOBS_BROKER_URL"] is None and config["JOBS_VISIBILITY_TIMEOUT"] == 900


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_bad_visibility_timeout_stops_the_start(value):
    with pytest.raises(ConfigError, match="JOBS_VISIBILITY_TIMEOUT"):
        settings.from_env({**BASE, "JOBS_VISIBILITY_TIMEOUT": value})


def test_mongodb_without_a_broker_warns_once_at_the_first_job(make_app, recorder, caplog):
    app = make_app(env={"MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/jobs"})
    assert "JOBS_BROKER_URL is not set" not in caplog.text  # not by every app (CLI commands)
    recorder.release.set()
    with app.app_context():
        queue.enqueue("job-1")
        queue.enqueue("job-2")
    recorder.wait_started(2)
    assert caplog.text.count("JOBS_BROKER_URL is not set: jobs run inside the API processes") == 1
