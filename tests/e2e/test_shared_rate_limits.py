"""Shared rate limits on a real Redis, across two real gunicorn processes.

The suite starts its own redis-server on a free loopback port (``.ci/run`` installs it).
"""

import shutil
import time

import pytest
import requests

from tests.support.servers import free_port, gunicorn_server

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (.ci/run installs it with apt-get)",
)

SECRETS = {
    "SECRET_KEY": "shared-secret-key-for-both-processes-0123456789",
    "JWT_SECRET_KEY": "shared-jwt-secret-key-for-both-processes-012345",
}


def login(base: str) -> dict:
    requests.post(f"{base}/api/v1/users", json={"username": "alice", "password": "correct horse"},
                  timeout=5)
    response = requests.post(f"{base}/api/v1/tokens", auth=("alice", "correct horse"), timeout=5)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_two_processes_share_one_budget(redis_server):
    # each process has its own embedded store (its own accounts: a token of one is no login
    # in the other), so the caller here is an address, whose one budget both processes count
    env = {**SECRETS, "RATELIMIT_STORAGE_URI": redis_server.url,
           "RATELIMIT_DEFAULT": "6 per minute"}
    port_a, port_b = free_port(), free_port()
    with gunicorn_server(port_a, env), gunicorn_server(port_b, env):
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        remaining = []
        for base in (a, b, a, b, a, b):
            response = requests.get(f"{base}/api/v1", timeout=5)
            assert response.status_code == 200
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        assert remaining == [5, 4, 3, 2, 1, 0]
        for base in (a, b):
            response = requests.get(f"{base}/api/v1", timeout=5)
            assert response.status_code == 429
            assert response.headers["Content-Type"] == "application/problem+json"
            assert int(response.headers["Retry-After"]) > 0


def test_redis_outage_does_not_break_requests(redis_server):
    env = {**SECRETS, "RATELIMIT_STORAGE_URI": redis_server.url,
           "RATELIMIT_DEFAULT": "1000 per minute"}
    port = free_port()
    with gunicorn_server(port, env) as process:
        base = f"http://127.0.0.1:{port}"
        headers = login(base)
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        redis_server.stop()
        started = time.monotonic()
        statuses = [requests.get(f"{base}/api/v1/todos", headers=headers, timeout=10).status_code
                    for _ in range(20)]
        assert statuses == [200] * 20
        assert time.monotonic() - started < 15  # no request waits long on the dead storage
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503 and "ratelimit_storage" in ready.json()["detail"]
        redis_server.start()  # back on the same port: readiness recovers without a restart
        deadline = time.monotonic() + 10
        while requests.get(f"{base}/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "readiness did not recover"
            time.sleep(0.2)
    log = process.output()
    assert log.count("Rate limit storage unreachable") == 1, log
    assert "Traceback" not in log
