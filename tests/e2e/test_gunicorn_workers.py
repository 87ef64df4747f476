"""gunicorn's worker model, on the real server: slow clients cannot stop the embedded default
(``python -m mongo_todos``, no proxy in front), a replaced embedded worker takes its signing
keys with its data, and several workers on per-process rate-limit storage are warned about."""

import os
import signal
import sys
import time
from pathlib import Path

import requests

from tests.support.servers import free_port, gunicorn_server, running
from tests.support.slow_clients import slow_header_clients

#: More slow connections than the server has workers (1) or threads (gthread's default pool).
SLOW_CLIENTS = 12
#: What "promptly" means here: far below the 30 s worker timeout a held worker would hit, and
#: generous for a shared, noisy machine (an idle request takes a few milliseconds).
PROMPT = 10


def embedded(port: int):
    return running([sys.executable, "-m", "mongo_todos", "--port", str(port)], port)


def demo_token(base: str) -> str:
    response = requests.post(f"{base}/api/v1/tokens", auth=("demo", "demo-password"), timeout=PROMPT)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_slow_header_clients_do_not_stop_the_embedded_server():
    # issue 10, point 1: one connection trickling headers per worker stopped the service
    port = free_port()
    with embedded(port) as server:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {demo_token(base)}"}
        with slow_header_clients(port, SLOW_CLIENTS) as held:
            started = time.monotonic()
            health = requests.get(f"{base}/healthz", timeout=PROMPT)
            listed = requests.get(f"{base}/api/v1/todos", headers=auth, timeout=PROMPT)
            elapsed = time.monotonic() - started
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            assert listed.status_code == 200 and len(listed.json()["items"]) == 5  # the demo seed
            assert len(held) == SLOW_CLIENTS
        assert elapsed < PROMPT
        assert "Using worker: mongo_todos.web.gunicorn_workers.CappedGeventWorker" in server.output()


def worker_pids(master: int) -> list[int]:
    path = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in path.read_text().split()]


def test_a_replaced_embedded_worker_refuses_the_previous_workers_tokens():
    # issue 10, point 1: after a worker was replaced its data was gone but its tokens worked
    port = free_port()
    with embedded(port) as server:
        base = f"http://127.0.0.1:{port}"
        old = {"Authorization": f"Bearer {demo_token(base)}"}
        created = requests.post(f"{base}/api/v1/todos", json={"name": "before"}, headers=old,
                                timeout=PROMPT)
        assert created.status_code == 201
        [worker] = worker_pids(server.pid)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            replacements = [pid for pid in worker_pids(server.pid) if pid != worker]
            try:
                if replacements and requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # the new worker still booting
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("no replacement worker answered")
        # the old token is refused everywhere: it cannot create todos in the new store
        for response in (
            requests.get(f"{base}/api/v1/todos", headers=old, timeout=PROMPT),
            requests.post(f"{base}/api/v1/todos", json={"name": "after"}, headers=old,
                          timeout=PROMPT),
        ):
            assert response.status_code == 401
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["type"].endswith("/token-invalid")
        # the new worker has its own demo store: a fresh login works, the old todo is gone
        new = {"Authorization": f"Bearer {demo_token(base)}"}
        names = [t["name"] for t in requests.get(f"{base}/api/v1/todos", headers=new,
                                                 timeout=PROMPT).json()["items"]]
        assert len(names) == 5 and "before" not in names


def test_several_workers_on_memory_storage_log_a_loud_warning():
    # issue 10, point 3: with several workers each counted alone and nothing said so
    port = free_port()
    env = {"MONGODB_URI": "mongodb://127.0.0.1:9/never_contacted",
           "SECRET_KEY": "k" * 40, "JWT_SECRET_KEY": "j" * 40}
    with gunicorn_server(port, env=env, workers=2) as server:
        time.sleep(0.5)
        output = server.output()
    assert "each worker counts rate limits alone" in output and "2 workers" in output
    assert '"level": "WARNING"' in output


def test_one_worker_or_shared_storage_is_not_warned_about():
    port = free_port()
    with gunicorn_server(port, workers=1) as server:
        time.sleep(0.5)
        assert "counts rate limits alone" not in server.output()
