"""The API keeps answering while a 10,000-todo import runs: the job holds the embedded
store's lock one batch at a time, never for the whole import. (Latency is measured by
scripts/bench.py; here every request must be answered, and the job must finish.)"""

from __future__ import annotations

import json

from tests.conftest import Auth
from tests.jobs.conftest import wait

LINES = 10_000


def test_gets_are_answered_while_a_10000_todo_import_runs(make_app):
    app = make_app(TODO_QUOTA=LINES + 1)
    client = app.test_client()
    headers = Auth(client).headers()
    todo = client.post("/api/v1/todos", json={"name": "poll me"}, headers=headers)
    body = "".join(json.dumps({"name": f"todo {i}", "tags": ["bulk"]}) + "\n"
                   for i in range(LINES)).encode()
    started = client.post("/api/v1/imports", data=body, content_type="application/x-ndjson",
                          headers=headers)
    assert started.status_code == 202
    url = started.headers["Location"]
    statuses, progress = [], []
    while True:
        statuses.append(client.get(todo.headers["Location"], headers=headers).status_code)
        job = client.get(url, headers=headers).get_json()
        progress.append(job["progress"]["done"])
        if job["status"] not in ("queued", "running"):
            break
    job = wait(client, url, headers)
    assert job["status"] == "succeeded"
    assert job["result"] == {"created": LINES, "failed": 0, "errors": []}
    assert set(statuses) == {200}
    # the polls ran between batches: they saw the import part-way, more than once
    assert len({p for p in progress if 0 < p < LINES}) >= 2, progress
