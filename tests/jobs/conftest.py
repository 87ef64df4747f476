"""Fixtures of the job tests: alice's header, waiting for a job, and a queue that holds jobs
until the test runs them itself (to stop, kill or resume a run between two batches)."""

from __future__ import annotations

import time

import pytest

from mongo_todos.jobs import queue, runner


@pytest.fixture
def headers(auth):
    return auth.headers("alice")


def wait(client, url: str, headers: dict, timeout: float = 60) -> dict:
    """Poll the job at ``url`` until it has finished; its representation."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        job = response.get_json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def start(client, headers: dict, path: str, **kwargs) -> dict:
    """Start a job; its representation once finished."""
    response = client.post(path, headers=headers, **kwargs)
    assert response.status_code == 202, response.get_json()
    return wait(client, response.headers["Location"], headers)


def create_todos(client, headers: dict, *todos: dict) -> list[dict]:
    created = []
    for todo in todos:
        response = client.post("/api/v1/todos", json=todo, headers=headers)
        assert response.status_code == 201, response.get_json()
        created.append(response.get_json())
    return created


class HeldQueue:
    """Jobs enqueued are kept; :meth:`run` runs one in the test's thread."""

    def __init__(self, app):
        self.app = app
        self.ids: list[str] = []

    def __call__(self, job_id: str) -> None:
        self.ids.append(job_id)

    def run(self, job_id: str | None = None) -> None:
        with self.app.app_context():
            runner.run(job_id or self.ids[-1])


@pytest.fixture
def held(app, monkeypatch):
    held = HeldQueue(app)
    monkeypatch.setattr(queue, "enqueue", held)
    return held
