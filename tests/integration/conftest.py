"""The real-MongoDB suite: runs when ``MONGODB_URI`` points to a reachable server (e.g.
``docker compose --profile test run --rm integration``), and is skipped, saying why, otherwise;
asked for by name (``-m mongodb``), a missing server fails the run instead.

Each test gets a database of its own (the URI's database name plus a random suffix), dropped
afterwards.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mongo_todos import create_app
from tests.conftest import TEST_CONFIG, TEST_ENV
from tests.integration.uris import with_database

URI = os.environ.get("MONGODB_URI", "")


def _missing(config: pytest.Config):
    """Skip when the suite only came along; fail when ``-m mongodb`` asked for it by name."""
    expr = config.getoption("markexpr") or ""
    return pytest.fail if "mongodb" in expr and "not mongodb" not in expr else pytest.skip


@pytest.fixture(scope="session")
def server_uri(pytestconfig) -> str:
    missing = _missing(pytestconfig)
    if not URI:
        missing("MONGODB_URI is not set: this suite needs a real MongoDB server "
                "(docker compose --profile test run --rm integration)")
    client = MongoClient(URI, serverSelectionTimeoutMS=2000)
    try:
        client.admin.command("ping")
    except PyMongoError as err:
        missing(f"MongoDB at MONGODB_URI is not reachable: {err.__class__.__name__}")
    finally:
        client.close()
    return URI


@pytest.fixture
def database_uri(server_uri):
    name = (urlsplit(server_uri).path.strip("/") or "mongo_todos") + "_" + secrets.token_hex(4)
    yield with_database(server_uri, name)
    client = MongoClient(server_uri, serverSelectionTimeoutMS=2000)
    client.drop_database(name)
    client.close()


@pytest.fixture
def make_app(database_uri):
    def _make(env: dict | None = None, **config):
        app = create_app({**TEST_CONFIG, **config},
                         env={**TEST_ENV, "MONGODB_URI": database_uri, **(env or {})})
        with app.app_context():
            from mongo_todos.store.documents import create_indexes

            create_indexes()  # what `flask db init` does at deploy time
        return app

    return _make
