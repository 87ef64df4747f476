"""How the service talks to MongoDB: client options, the per-request time budget, what a
failed request may have changed, and whether the declared indexes exist.

**Client defaults** (each overridable in ``MONGODB_URI``, which wins when it sets the option):

- ``w=majority``: a write is acknowledged only once a majority of the replica set has it, so
  an acknowledged logout, refresh rotation or idempotency record cannot be rolled back by a
  failover;
- ``readPreference=primary``: a revocation check never reads a lagging secondary;
- ``serverSelectionTimeoutMS=3000`` and ``connectTimeoutMS=3000``: how long work outside a
  request (the CLI, ``/readyz`` has its own 1 s) waits for an unreachable or silent server.

**Per-request time budget** (``MONGODB_REQUEST_TIMEOUT_MS``, default 5,000): every request
runs inside ``pymongo.timeout``, the driver's client-side operation timeout. All the database
work of one request (server selection, connection checkout, each command, a majority write's
wait for replication) shares that budget; the driver sends the remainder as ``maxTimeMS`` so
the server stops the query too. When it runs out the request is a 503 problem, well before
gunicorn's 30-second worker timeout would kill the worker. While a budget runs, the driver
waits for a server as long as the budget allows (client-side timeouts replace
``serverSelectionTimeoutMS``), so an unreachable database is a 503 after at most the budget.
``0`` turns the budget off (then ``serverSelectionTimeoutMS`` and socket timeouts from the URI
are the only bounds).

**What a failure changed.** A 503 may only say "nothing was changed" when that is known. A
command listener records, per request, whether a write command was sent; a request that fails
before sending one changed nothing. A request that sent a write and then lost the server, or
whose write the primary applied but a majority did not confirm (``WriteConcernError``), has an
unknown outcome, and its 503 says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import pymongo
from flask import g, has_app_context
from pymongo import monitoring
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteConcernError,
)

DEFAULT_DB = "mongo_todos"
#: Milliseconds the driver waits for a MongoDB server (selection, and each connection attempt)
#: unless the URI says otherwise.
SERVER_SELECTION_TIMEOUT_MS = 3000
#: Client options the service sets unless the URI sets them itself (see the module docstring).
URI_DEFAULTS = {
    "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
    "connectTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
    "w": "majority",
    "readPreference": "primary",
}
#: Commands that change data: once one was sent, a lost answer means an unknown outcome.
WRITE_COMMANDS = frozenset({
    "insert", "update", "delete", "findAndModify", "findandmodify", "createIndexes",
    "drop", "dropIndexes", "bulkWrite",
})


class WriteTracker(monitoring.CommandListener):
    """Marks the current request when it sends a write command to MongoDB.

    The driver calls ``started`` synchronously, in the thread running the operation, so the
    mark lands on that request's ``g``.
    """

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in WRITE_COMMANDS and has_app_context():
            g.mongo_todos_write_sent = True

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


WRITE_TRACKER = WriteTracker()


def client_options(uri: str) -> dict:
    """MongoEngine/pymongo connection options for ``uri``: the service's defaults for every
    option the URI leaves out."""
    parts = urlsplit(uri)
    given = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    options: dict = {"host": uri, "tz_aware": False, "event_listeners": [WRITE_TRACKER]}
    if not parts.path.strip("/"):
        options["db"] = DEFAULT_DB
    for name, value in URI_DEFAULTS.items():
        if name.lower() not in given:
            options[name] = value
    return options


def time_budget(wsgi_app, milliseconds: int):
    """Run every request of ``wsgi_app`` inside a client-side operation timeout."""
    if not milliseconds:
        return wsgi_app
    seconds = milliseconds / 1000

    def budgeted(environ, start_response):
        # the body is built inside the view (no streaming), so the whole of a request's
        # database work happens within this block
        with pymongo.timeout(seconds):
            return wsgi_app(environ, start_response)

    return budgeted


#: Errors raised before any command reached a server: nothing can have been applied.
_NEVER_SENT = (ServerSelectionTimeoutError, WaitQueueTimeoutError)

#: The server's code for a query over its ``maxTimeMS`` that the driver does not raise as
#: ``ExecutionTimeout`` (e.g. on a mongos, or inside a retried command).
EXCEEDED_TIME_LIMIT = 262
#: Server codes that pass: a time limit hit again after the driver's retry (262
#: ExceededTimeLimit), a primary stepping down, a node shutting down or unreachable (the
#: driver's own retryable codes, which it gives up on only when its retry failed too).
TRANSIENT_CODES = frozenset({
    6, 7, 89, 91, 134, 189, EXCEEDED_TIME_LIMIT, 9001, 10058, 10107, 11600, 11602, 13435, 13436,
})
#: Server codes of a write concern the deployment cannot satisfy (79 UnknownReplWriteConcern,
#: 100 UnsatisfiableWriteConcern): its configuration, not a passing state, so no Retry-After.
WRITE_CONCERN_CODES = frozenset({79, 100})


def database_error(error: BaseException) -> PyMongoError | None:
    """The driver error behind ``error`` if it means the database is unavailable, slow or
    could not confirm a write (a 503); ``None`` otherwise. Follows exception chains, so
    MongoEngine's ``OperationError`` raised while handling a driver error is recognised."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (ConnectionFailure, ExecutionTimeout, WriteConcernError,
                              ConfigurationError)):
            return error
        if isinstance(error, OperationFailure) and (
                error.code in TRANSIENT_CODES | WRITE_CONCERN_CODES or _write_concern_failed(error)):
            return error
        if isinstance(error, PyMongoError) and error.timeout:
            return error
        if missing_index(error):
            return error
        error = error.__cause__ or error.__context__
    return None


def transient(error: PyMongoError) -> bool:
    """Whether retrying shortly may succeed (a 503 with Retry-After); not for a configuration
    the deployment does not meet (a bad URI option, a write concern it cannot satisfy)."""
    if isinstance(error, ConfigurationError):
        return False
    return not (isinstance(error, OperationFailure) and error.code in WRITE_CONCERN_CODES)


def _write_concern_failed(error: PyMongoError) -> bool:
    """A bulk write (``insert_many``) whose writes a majority did not confirm: the driver
    reports it as a ``BulkWriteError`` with ``writeConcernErrors``, next to the
    ``writeErrors`` of the writes that failed (an unordered batch with a duplicate id): the
    others may still be rolled back, so the outcome is unknown all the same."""
    details = (error.details or {}) if isinstance(error, BulkWriteError) else {}
    return bool(details.get("writeConcernErrors"))


def missing_index(error: BaseException) -> bool:
    """Whether ``error`` is MongoDB refusing a ``hint`` because the index does not exist (a
    deploy that skipped ``db init``: a 503 until it is run, like /readyz says)."""
    return (isinstance(error, OperationFailure) and error.code == 2
            and "hint" in str((error.details or {}).get("errmsg", "")).lower())


def outcome(error: PyMongoError, method: str, tracked: bool) -> str:
    """What a request that failed with ``error`` may have changed: ``"none"``,
    ``"unconfirmed"`` (applied by the primary, not confirmed by a majority) or ``"unknown"``.

    ``tracked``: whether :class:`WriteTracker` watches this client (the real driver; the
    embedded store sends no command events, so there the error's type decides).
    """
    if isinstance(error, WriteConcernError) or _write_concern_failed(error):
        return "unconfirmed"
    if method in ("GET", "HEAD", "OPTIONS"):
        return "none"  # reads only: nothing to change
    write_sent = g.get("mongo_todos_write_sent", False) if has_app_context() else True
    if tracked:
        return "unknown" if write_sent else "none"
    return "none" if isinstance(error, _NEVER_SENT) else "unknown"


def missing_indexes(documents) -> list[str]:
    """``collection.index`` for every declared index that the database lacks (same name, or
    same keys, counts as present)."""
    missing = []
    for document in documents:
        collection = document._get_collection()
        existing = collection.index_information()
        keys = {tuple((k, _direction(v)) for k, v in info["key"]) for info in existing.values()}
        for spec in document._meta.get("index_specs", []):
            wanted = tuple((k, _direction(v)) for k, v in spec["fields"])
            if spec.get("name") in existing or wanted in keys:
                continue
            label = spec.get("name") or "_".join(f"{k}_{v}" for k, v in spec["fields"])
            missing.append(f"{collection.name}.{label}")
    return missing


def _direction(value):
    return int(value) if isinstance(value, (int, float)) else str(value)


def settings_from(config: Mapping) -> dict:
    """``MONGODB_SETTINGS`` for flask-mongoengine (embedded store: mongomock, through
    :class:`~mongo_todos.store.embedded.EmbeddedClient`)."""
    uri = config["MONGODB_URI"]
    if uri is None:
        # lazy for its cost: a deployment on MongoDB never loads mongomock (about 14 ms and
        # a test-grade library kept out of the production process)
        from mongo_todos.store.embedded import EmbeddedClient

        return {
            "host": f"mongodb://localhost/{DEFAULT_DB}",
            "mongo_client_class": EmbeddedClient,
        }
    return client_options(uri)
