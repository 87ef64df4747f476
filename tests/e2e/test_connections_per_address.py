"""Without a proxy, one address cannot hold every connection of the quick-start server: past
CONNECTIONS_PER_ADDRESS its connections get a 429 problem and are closed, while other addresses
are served (the gevent worker serves at most worker_connections at once, idle ones included).
Loopback only, bounded: 40 idle connections, a cap of 10."""

import json
import socket
import sys

import pytest
import requests

from mongo_todos.web.gunicorn_workers import address_key
from tests.support.servers import free_port, running

CAP = 10


@pytest.mark.parametrize("host, key", [
    ("203.0.113.9", "203.0.113.9"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::99", "2001:db8:1:2::/64"),
])
def test_addresses_are_counted_as_the_rate_limits_count_them(host, key):
    assert address_key(host) == key


def _connect(port: int, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def _get_healthz(port: int, source: str) -> bytes:
    with _connect(port, source) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_one_address_past_its_cap_is_refused_and_others_are_served():
    port = free_port()
    env = {"CONNECTIONS_PER_ADDRESS": str(CAP)}
    args = [sys.executable, "-m", "mongo_todos", "--port", str(port)]
    with running(args, port, env):
        held = [_connect(port, "127.0.0.1") for _ in range(CAP)]
        try:
            # idle connections past the cap: answered with a 429 problem, then closed
            extra = [_connect(port, "127.0.0.1") for _ in range(30)]
            answers = []
            for sock in extra:
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
                answers.append(data)
                sock.close()
            assert all(a.startswith(b"HTTP/1.1 429 Too Many Requests\r\n") for a in answers)
            head, body = answers[0].split(b"\r\n\r\n", 1)
            assert b"Content-Type: application/problem+json" in head
            assert json.loads(body)["status"] == 429
            # another address (the same loopback server, another source) is served at once
            probe = _get_healthz(port, "127.0.0.2")
            assert probe.startswith(b"HTTP/1.1 200 ") and probe.endswith(b'{"status":"ok"}\n')
        finally:
            for sock in held:
                sock.close()
        # the address's own connections count down as they close: it is served again
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
