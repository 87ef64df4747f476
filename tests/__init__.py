"""The test suite, laid out like the package it tests (run it with ``./scripts/test``).

- ``todos/``, ``accounts/``, ``web/``, ``store/``, ``cli/``: each package's behaviour, in process
  (Flask's test client on the embedded store); ``test_settings.py`` and ``test_seed.py`` pin
  the package's top-level modules.
- ``e2e/``: the running deployment: real servers on loopback ports (gunicorn, the quick-start
  server, nginx, Redis, Chromium), whole client sessions, soak and benchmark runs, the README
  walk-through.
- ``conformance/``: the project's artefacts judged by outside tools and specifications: the
  OpenAPI document (linters, schemathesis), the compose file and Dockerfile, the lock files, ruff.
- ``integration/``: the real-MongoDB suite (``-m mongodb``), and the tests of its helpers.
- ``support/``: helpers the tests import (server runners, the nginx harness, slow clients, a
  scripted MongoDB wire server); the shared fixtures are in ``conftest.py``.

Every folder is a package, so tests import helpers by their full name
(``from tests.support.servers import free_port``) and two folders may hold files of one name.
"""
