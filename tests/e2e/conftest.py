"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest

from tests.support.servers import free_port, gunicorn_server


@pytest.fixture(scope="module")
def server():
    """The production command (gunicorn, embedded store) on a loopback port: its base URL."""
    port = free_port()
    with gunicorn_server(port):
        yield f"http://127.0.0.1:{port}"
