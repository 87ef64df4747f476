"""A whole client session over real HTTP against the production command: the Dockerfile's
CMD (index creation, then gunicorn with config/gunicorn.conf.py) on a loopback port."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.servers import ROOT, dockerfile_command, free_port, wait_for_http


def test_client_session_against_the_container_command_then_clean_sigterm():
    command = dockerfile_command((ROOT / "Dockerfile").read_text())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "RATELIMIT_"))}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "4",  # ignored on the embedded store: its data lives in one worker
    })
    process = subprocess.Popen(["sh", "-c", command], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    api = f"{base}/api/v1"
    try:
        wait_for_http(f"{base}/healthz", process)
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.json()["status"] == "ok"
        assert ready.headers["Server"] == "gunicorn"  # no version to fingerprint
        assert ready.headers["X-Content-Type-Options"] == "nosniff"
        s = requests.Session()
        r = s.post(f"{api}/users", json={"username": "erin", "password": "correct horse"}, timeout=5)
        assert r.status_code == 201 and r.headers["Location"] == f"{api}/users/me"
        r = s.post(f"{api}/tokens", auth=("erin", "correct horse"), timeout=5)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
        tokens = r.json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        r = s.post(f"{api}/todos", json={"name": "ship it", "tags": ["work"]}, headers=auth, timeout=5)
        assert r.status_code == 201 and r.json()["url"] == r.headers["Location"]
        todo_url = r.headers["Location"]
        assert todo_url.startswith(f"{api}/todos/")
        r = s.get(f"{api}/todos", headers=auth, timeout=5)
        assert r.status_code == 200 and [t["url"] for t in r.json()["items"]] == [todo_url]
        assert r.headers["X-RateLimit-Limit"] == "300"
        r = s.post(f"{api}/tokens/refresh",
                   headers={"Authorization": f"Bearer {tokens['refresh_token']}"}, timeout=5)
        assert r.status_code == 200
        fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert s.get(todo_url, headers=fresh, timeout=5).json()["name"] == "ship it"
        r = s.delete(f"{api}/tokens", headers=fresh, timeout=5)
        assert r.status_code == 204
        r = s.get(todo_url, headers=fresh, timeout=5)
        assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
        s.close()
    finally:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        elapsed = time.monotonic() - started
    log = process.stdout.read()
    assert code == 0, log
    assert elapsed < 10, f"shutdown took {elapsed:.1f}s"
    assert "indexes are in place" in log
    assert log.count("Booting worker") == 1
    assert "Handling signal: term" in log and "Shutting down: Master" in log
    assert "Traceback" not in log
    # the access log is one JSON object per request, and never holds a token
    access = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')
              and '"method"' in line]
    assert len(access) >= 9
    assert all(isinstance(entry["status"], int) for entry in access)
    assert all(re.fullmatch(r"[0-9a-f]{32}", entry["request_id"]) for entry in access)
    # the service's own log lines are JSON objects too
    app_lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')
                 and '"logger"' in line]
    assert any("embedded in-memory store" in entry["message"] for entry in app_lines)
    assert tokens["access_token"] not in log and tokens["refresh_token"] not in log
