"""The embedded default (``python -m mongo_todos``: one gevent worker) on a real gunicorn: a
request holds the store only while it talks to it, and a connection's next request waits its
turn behind others' (issue 19, items 1 and 2)."""

import socket
import sys
import threading
import time
from pathlib import Path

import requests

from tests.support.servers import free_port, running
from tests.support.slow_clients import slow_body_clients

#: Far above an idle request's few milliseconds, far below the probes' own timeouts.
PROMPT = 2
#: A short body deadline, so the 408 comes within the test.
BODY_READ_TIMEOUT = 4


def embedded(port: int, env: dict | None = None):
    return running([sys.executable, "-m", "mongo_todos", "--port", str(port)], port, env)


def worker_pids(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def timed_get(url: str, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=PROMPT * 5, **kwargs)
    return response, time.monotonic() - started


def read_status(sock: socket.socket, within: float) -> int:
    sock.settimeout(within)
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_a_slow_body_holds_nobody_else_and_gets_408_in_time():
    port = free_port()
    with embedded(port, {"BODY_READ_TIMEOUT": str(BODY_READ_TIMEOUT)}):
        base = f"http://127.0.0.1:{port}"
        token = requests.post(f"{base}/api/v1/tokens", auth=("demo", "demo-password"),
                              timeout=PROMPT * 5).json()["access_token"]
        started = time.monotonic()
        # headers of POST /api/v1/users, then a byte every half second
        with slow_body_clients(port, 1, interval=0.5) as [slow]:
            health, health_took = timed_get(f"{base}/healthz")
            listed, list_took = timed_get(f"{base}/api/v1/todos",
                                          headers={"Authorization": f"Bearer {token}"})
            # both answered while the slow body is still pending (before its deadline)
            assert time.monotonic() - started < BODY_READ_TIMEOUT
            assert health.status_code == 200 and health_took < PROMPT
            assert listed.status_code == 200 and list_took < PROMPT
            assert len(listed.json()["items"]) == 5  # the demo seed
            status = read_status(slow, within=BODY_READ_TIMEOUT + PROMPT * 5)
        assert status == 408
        assert time.monotonic() - started < BODY_READ_TIMEOUT + PROMPT * 5


#: Enough pipelined requests to hold the worker for seconds before the fix (15,000 made other
#: clients wait 6.6 s), about 0.5 MB on loopback.
PIPELINED = 15_000


def test_a_pipelining_connection_does_not_starve_the_others():
    port = free_port()
    with embedded(port) as server:
        base = f"http://127.0.0.1:{port}"
        [worker] = worker_pids(server.pid)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        answered = []

        def drain(sock):
            # read as fast as the server writes: a client that stops reading makes the server
            # wait on its socket (and yield), which is not the case under test
            received = 0
            while received < PIPELINED:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                received += chunk.count(b"HTTP/1.1 200")
            answered.append(received)

        with socket.create_connection(("127.0.0.1", port)) as pipe:
            pipe.settimeout(60)
            reader = threading.Thread(target=drain, args=(pipe,), daemon=True)
            reader.start()
            pipe.sendall(request * PIPELINED)
            probes = []
            while reader.is_alive() and len(probes) < 200:
                response, took = timed_get(f"{base}/healthz")
                assert response.status_code == 200
                probes.append(took)
            reader.join(timeout=60)
        assert answered == [PIPELINED]
        assert probes and max(probes) < PROMPT, sorted(probes)[-5:]
        assert worker_pids(server.pid) == [worker]  # never killed by its timeout
