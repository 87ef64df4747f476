"""gunicorn started with MONGODB_URI pointing at a port that refuses: it serves at once, says
in its log that the database does not answer, and keeps serving (the database may come)."""

from __future__ import annotations

import time

import requests

from tests.support.servers import free_port, gunicorn_server


def test_server_warns_that_the_database_does_not_answer_and_keeps_serving():
    port = free_port()
    env = {"MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/todos", "WEB_CONCURRENCY": "1",
           "SECRET_KEY": "k" * 40, "JWT_SECRET_KEY": "j" * 40}
    with gunicorn_server(port, env=env) as process:  # returns once /healthz answers
        deadline = time.monotonic() + 30
        while "does not answer at start-up" not in process.output():
            assert time.monotonic() < deadline, process.output()[-3000:]
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 503
        assert requests.get(f"{base}/api/v1", timeout=10).status_code == 200
    line = next(line for line in process.output().splitlines() if "does not answer" in line)
    assert '"level": "WARNING"' in line and "serving anyway" in line
