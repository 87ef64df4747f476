"""At start-up a serving process says whether MongoDB answers, without waiting for it."""

from __future__ import annotations

import logging

from mongo_todos.store.startup import check_in_background
from tests.support.servers import free_port

SECRETS = {"SECRET_KEY": "k" * 40, "JWT_SECRET_KEY": "j" * 40}


def test_a_database_that_refuses_is_a_warning_in_the_background(make_app, caplog):
    # a loopback port nobody listens on: every connection is refused
    app = make_app(env={**SECRETS, "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/todos"})
    with caplog.at_level(logging.INFO, logger="mongo_todos.store"):
        thread = check_in_background(app)
        assert thread is not None and thread.is_alive()  # start-up does not wait for it
        thread.join(timeout=30)
    assert not thread.is_alive()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "MongoDB does not answer at start-up" in message and "serving anyway" in message
    assert "ServerSelectionTimeoutError" in message and "Connection refused" in message


def test_the_embedded_store_needs_no_check(app):
    assert check_in_background(app) is None
