"""Requests gunicorn itself refuses (before the app runs) are answered as problem+json, on the
quick-start server (no proxy in front) and on the production command alike."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.servers import embedded_server, free_port, gunicorn_server

BAD_REQUESTS = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400),
    "header too large": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000
                         + b"\r\n\r\n", 431),
    "bad content-length": (b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: nine"
                           b"\r\n\r\n", 400),
}


def raw_exchange(port: int, payload: bytes) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def assert_gunicorn_problems(port: int) -> None:
    for name, (payload, status) in BAD_REQUESTS.items():
        got, headers, body = raw_exchange(port, payload)
        assert got == status, (name, got, body)
        assert headers["content-type"] == "application/problem+json", (name, headers)
        assert int(headers["content-length"]) == len(body)
        problem = json.loads(body)
        assert problem["status"] == status and problem["type"] == "about:blank", problem
        assert problem["title"] and problem["detail"].startswith("The server could not read")
        assert b"<html" not in body


@pytest.mark.timeout(120)
def test_quick_start_server_answers_unreadable_requests_as_problems():
    port = free_port()
    with embedded_server(port):
        assert_gunicorn_problems(port)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("worker_class", ["sync", "gevent"])
def test_production_command_answers_unreadable_requests_as_problems(worker_class):
    port = free_port()
    with gunicorn_server(port, env={"GUNICORN_WORKER_CLASS": worker_class}):
        assert_gunicorn_problems(port)
