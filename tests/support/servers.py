"""Real servers on loopback for end-to-end tests: free ports, start, wait, stop; and the
container's command, read from the Dockerfile, for the tests that run it as the image would."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.output() if hasattr(process, "output") else process.stdout.read()
            raise RuntimeError(f"server exited with {process.returncode}: {output}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        # a read timeout too: the socket listens (gunicorn's master) before a worker, still
        # booting on a busy machine, answers
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextmanager
def running(args: list[str], port: int, env: dict | None = None):
    """Run ``args`` (a server listening on ``port``) until the block ends; yields the process,
    whose ``output()`` returns what it printed so far. Output goes to a file, not a pipe: a
    pipe nobody drains fills up and blocks a busy server."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "RATELIMIT_"))}
    full_env.update(env or {})
    named = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", delete=False)
    named.close()
    # append mode: gunicorn's master and worker share the file; without O_APPEND their lines
    # can overwrite each other
    log = open(named.name, "ab")
    process = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    process.output = lambda: Path(log.name).read_text(errors="replace")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def dockerfile_command(dockerfile: str) -> str:
    """The shell command of the runtime image's CMD."""
    cmd = re.findall(r'^CMD \["sh", "-c", "(.*)"\]$', dockerfile, re.M)
    assert len(cmd) == 1
    return cmd[0]


def embedded_server(port: int):
    """The README's quick start server, on another port."""
    return running([sys.executable, "-m", "mongo_todos", "--port", str(port)], port)


def gunicorn_server(port: int, env: dict | None = None, workers: int = 1,
                    extra: list[str] | None = None):
    """The production command (gunicorn with config/gunicorn.conf.py), on a loopback port."""
    return running(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), *(extra or [])],
        port,
        env,
    )


class RedisServer:
    """A throwaway redis-server on a free loopback port, no persistence."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
