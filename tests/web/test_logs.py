"""Log lines and request ids: every request gets an id (the client's own when sane), echoed
and carried by each log line; lines are valid JSON whatever a client sends (issue 10, point 5),
and human-readable with one format for every line on an interactive terminal."""

import json
import logging
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.support.servers import ROOT, free_port, gunicorn_server, wait_for_http

HOSTILE_TARGETS = ["/api/v1/a%0Ab%0D%0A%7B%22status%22:200%7D", "/x%00y%1B[31m", '/q"uote\\']
HOSTILE_AGENT = 'evil "agent" {\\'


def raw_get(port: int, target: str, agent: str) -> None:
    """A request exactly as written (no client-side escaping), answer discarded."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\n"
                     "Connection: close\r\n\r\n".encode("latin-1"))
        while sock.recv(65536):
            pass


def record(message: str, *args, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("mongo_todos.test", logging.WARNING, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_json_formatter_escapes_what_a_format_string_would_not():
    from mongo_todos.web.logs import JsonFormatter

    nasty = 'a\nb\r\x00\x1b[31m"}\\'
    line = JsonFormatter().format(record("user said %s", nasty, request_id="r-1", path=nasty))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    entry = json.loads(line)
    assert entry["message"] == f"user said {nasty}" and entry["path"] == nasty
    assert list(entry)[:4] == ["time", "level", "logger", "message"]
    assert entry["request_id"] == "r-1" and entry["time"].endswith("Z")


def test_human_formatter_shows_control_characters_escaped_on_one_line():
    from mongo_todos.web.logs import HumanFormatter

    line = HumanFormatter().format(record("path %s", "/a\nb\x1b[31m\\", request_id="r-1"))
    assert "\n" not in line and "\x1b" not in line
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING mongo_todos\.test: path /a\\nb\\x1b\[31m\\\\ \[r-1\]",
                        line), line


def test_every_gunicorn_line_is_json_whatever_the_client_sends():
    port = free_port()
    with gunicorn_server(port, env={"RATELIMIT_ENABLED": "false"}) as server:
        for target in HOSTILE_TARGETS:
            raw_get(port, target, HOSTILE_AGENT)
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        time.sleep(0.5)
    output = server.output()
    lines = [line for line in output.splitlines() if line.strip()]
    for line in lines:
        json.loads(line)  # every line: no banner, no warning text, no broken access line
    access = [json.loads(line) for line in lines if '"gunicorn.access"' in line]
    paths = {entry["path"] for entry in access}
    # the path as the WSGI server decoded it: newline, NUL, ESC, quote and backslash kept
    assert {"/api/v1/a\nb\r\n{\"status\":200}", "/x\x00y\x1b[31m", '/q"uote\\'} <= paths
    hostile = [e for e in access if e["path"] != "/healthz"]
    assert all(e["user_agent"] == HOSTILE_AGENT and e["status"] == 404 for e in hostile)
    assert all(isinstance(e["duration_us"], int) and re.fullmatch(r"[0-9a-f]{32}", e["request_id"])
               for e in access)
    assert any(json.loads(line)["logger"] == "gunicorn.error" for line in lines)
    assert any(json.loads(line)["logger"] == "mongo_todos" for line in lines)


def test_an_interactive_terminal_gets_one_human_readable_format_for_every_line():
    port = free_port()
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "RATELIMIT_"))}
    process = subprocess.Popen([sys.executable, "-m", "mongo_todos", "--port", str(port)],
                               cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=terminal,
                               stderr=terminal, close_fds=True)
    os.close(terminal)
    chunks = []

    def drain(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunks.append(os.read(controller, 65536))
                except OSError:  # the terminal closed
                    return

    try:
        deadline = time.monotonic() + 30
        while b"Booting worker" not in b"".join(chunks) and time.monotonic() < deadline:
            drain(0.2)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        raw_get(port, HOSTILE_TARGETS[0], HOSTILE_AGENT)
        drain(1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        drain(3.0)
        process.wait(timeout=15)
        os.close(controller)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    lines = [line for line in text.split("\n") if line.strip()]
    human = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: .+")
    assert lines and all(human.fullmatch(line) for line in lines), "\n".join(lines)
    assert any("demo account: username=demo" in line for line in lines)  # the banner too
    assert any("Booting worker" in line for line in lines)  # gunicorn's own lines
    access = [line for line in lines if "gunicorn.access" in line and " 404 " in line]
    assert len(access) == 1 and r"/api/v1/a\nb\r\n" in access[0]


def test_request_id_is_generated_and_echoed(client):
    response = client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != response.headers["X-Request-ID"]


def test_client_request_id_is_kept_when_sane(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    forged = client.get("/healthz", headers={"X-Request-ID": "x <script>"})
    assert forged.headers["X-Request-ID"] != "x <script>"
    assert len(client.get("/healthz", headers={"X-Request-ID": "y" * 200}).headers["X-Request-ID"]) == 32


def test_log_lines_are_json_with_the_request_id(client, headers_for_error, capsys):
    from mongo_todos.web.logs import JsonFormatter, RequestIdFilter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("mongo_todos")
    logger.addHandler(handler)
    try:
        response = client.get("/api/v1/todos", headers={**headers_for_error, "X-Request-ID": "trace-me"})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 500
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    entry = next(e for e in lines if e["level"] == "ERROR")
    assert entry["request_id"] == "trace-me" and entry["logger"] == "mongo_todos.errors"
    assert "Traceback" in entry["exception"] and entry["time"].endswith("Z")


@pytest.fixture
def headers_for_error(auth, monkeypatch):
    from mongo_todos.todos import store

    monkeypatch.setattr(store, "paginate", lambda *a, **k: 1 / 0)
    return auth.headers()
