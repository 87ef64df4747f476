"""Whether MongoDB answers, said once when a serving process starts.

With ``MONGODB_URI`` pointing at nothing, a process used to start without a word, and the first
request waited for server selection to give a 503. A serving process (``mongo_todos.wsgi``,
``python -m mongo_todos``'s worker) now pings the database once in the background: a warning
if it does not answer within server selection (``serverSelectionTimeoutMS``, 3 s), an info
line when it does. Start-up does not wait for it, and the process keeps serving either way:
the database may come later, and requests that need it get a 503 until it does (``/readyz``
says which). The ping goes through the app's own client, so a good answer also opens the
first pooled connection. Under gevent the thread is a greenlet. Not run by ``create_app``:
tests and the command line build apps without it.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from pymongo.errors import PyMongoError

from mongo_todos.store.documents import User

log = logging.getLogger("mongo_todos.store")


def check_in_background(app: Flask) -> threading.Thread | None:
    """Start the ping (none for the embedded store); the thread, for tests to join."""
    if app.config["EMBEDDED_DB"]:
        return None
    thread = threading.Thread(target=_ping, args=(app,), name="mongodb-start-check", daemon=True)
    thread.start()
    return thread


def _ping(app: Flask) -> None:
    with app.app_context():
        try:
            User._get_db().client.admin.command("ping")
        except PyMongoError as err:
            # the driver's text names the hosts it tried, never the URI's credentials
            reason = str(err).split(", Timeout:")[0][:300]
            log.warning("MongoDB does not answer at start-up (%s: %s); serving anyway: requests "
                        "that need the database get 503 until it answers, /readyz tells when",
                        err.__class__.__name__, reason)
        else:
            log.info("MongoDB answers")
