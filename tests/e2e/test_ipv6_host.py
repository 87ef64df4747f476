"""``python -m mongo_todos --host ::1`` serves on the IPv6 loopback (issue 19, item 14): it
used to print its banner, then fail, gunicorn reading ``::1:5000`` as a host name."""

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.support.servers import ROOT, free_port


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_host_serves_and_the_banner_brackets_it(host):
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="server-", suffix=".log") as log:
        server = subprocess.Popen([sys.executable, "-m", "mongo_todos", "--host", host,
                                   "--port", str(port)], cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            deadline, answer = time.monotonic() + 30, None
            while answer is None and time.monotonic() < deadline:
                assert server.poll() is None, Path(log.name).read_text()
                try:
                    answer = requests.get(f"http://[::1]:{port}/healthz", timeout=1)
                except (requests.ConnectionError, requests.Timeout):
                    time.sleep(0.1)
            assert answer is not None and answer.json() == {"status": "ok"}
            assert f"http://[::1]:{port}/api/v1" in Path(log.name).read_text()
        finally:
            server.terminate()
            server.wait(timeout=15)
