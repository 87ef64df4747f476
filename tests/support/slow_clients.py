"""Slow clients for server tests: connections that trickle request headers and never finish.

Each connection sends a request line and one header, then one more header line every
``interval`` seconds, the way a slowloris client holds a server's connection slots.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager


@contextmanager
def slow_header_clients(port: int, count: int, interval: float = 1.0, host: str = "127.0.0.1"):
    """Hold ``count`` slow-header connections to ``host:port`` open until the block ends.
    Yields the list of sockets (a server may close some: that is the point of a timeout)."""
    with _trickling(port, count, interval, host, b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                    lambda n: f"X-Slow-{n}: y\r\n".encode()) as sockets:
        yield sockets


@contextmanager
def slow_body_clients(port: int, count: int, interval: float = 1.0, host: str = "127.0.0.1"):
    """Like :func:`slow_header_clients`, but the headers are complete and the body (a JSON
    object declared 64 KiB long) arrives a few bytes per ``interval``."""
    head = (b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 65536\r\n\r\n{\"username\": \"")
    with _trickling(port, count, interval, host, head, lambda n: b"a") as sockets:
        yield sockets


@contextmanager
def _trickling(port, count, interval, host, first: bytes, more):
    sockets = []
    stop = threading.Event()
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(first)
        sockets.append(sock)

    def trickle():
        n = 0
        while not stop.wait(interval):
            n += 1
            for sock in sockets:
                try:
                    sock.sendall(more(n))
                except OSError:
                    pass  # closed by the server (a timeout): fine

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    time.sleep(interval * 1.5)  # let every connection reach the server's request parser
    try:
        yield sockets
    finally:
        stop.set()
        thread.join(timeout=interval * 2)
        for sock in sockets:
            sock.close()
