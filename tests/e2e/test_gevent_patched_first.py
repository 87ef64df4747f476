"""gevent patches the standard library before anything imports ssl: neither the quick start
(``python -m mongo_todos``, what ./scripts/serve runs) nor gunicorn with the deployment's
config on its gevent worker prints gevent's MonkeyPatchWarning, and both serve."""

from __future__ import annotations

import sys

import pytest
import requests

from mongo_todos.web.gevent_first import serving_quick_start
from tests.support.servers import embedded_server, free_port, gunicorn_server


def _starts_clean(server, port: int) -> None:
    with server(port) as process:
        assert requests.get(f"http://127.0.0.1:{port}/api/v1", timeout=10).status_code == 200
        output = process.output()
    assert "Booting worker" in output  # the worker did start (its patching is the late one)
    assert "MonkeyPatchWarning" not in output, output[-3000:]


def test_the_quick_start_patches_before_ssl_is_imported():
    _starts_clean(embedded_server, free_port())


def test_gunicorn_config_patches_first_for_the_gevent_worker():
    _starts_clean(gunicorn_server, free_port())  # no MONGODB_URI: the gevent worker


@pytest.mark.parametrize("argv, expected", [
    (["python", "-m", "mongo_todos", "--port", "5000"], True),
    (["python", "-X", "dev", "-m", "mongo_todos"], True),
    (["python", "-m", "pytest", "tests"], False),
    (["python", "-m", "mongo_todos.seed"], False),
    (["gunicorn", "-c", "config/gunicorn.conf.py"], False),
])
def test_only_the_quick_start_command_patches_on_import(argv, expected):
    assert serving_quick_start(argv) is expected


def test_importing_the_package_in_tests_patches_nothing():
    from gevent import monkey

    assert "mongo_todos" in sys.modules and not monkey.is_module_patched("socket")
