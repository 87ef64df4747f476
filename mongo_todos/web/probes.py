"""The health probes an orchestrator polls: ``/healthz`` (the process is up) and ``/readyz``
(it can serve: MongoDB answers with every index, and a remote rate-limit storage answers;
packages above this one add their own checks with :func:`add_check`, e.g. the jobs broker).

They sit outside the API's blueprints, the OpenAPI document and the rate limits: a probe is
not a client.
"""

from __future__ import annotations

from collections.abc import Callable

import pymongo
from flask import Flask, current_app
from pymongo.errors import PyMongoError

from mongo_todos.store.documents import DOCUMENTS, User
from mongo_todos.store.mongodb import missing_indexes
from mongo_todos.web.errors import problem
from mongo_todos.web.ratelimit import exempt

#: Seconds /readyz waits for MongoDB before reporting it unavailable.
READY_TIMEOUT = 1.0


def init_app(app: Flask) -> None:
    """Register the probes (before the rate limiter starts: it exempts them as marked)."""
    app.get("/healthz")(exempt(healthz))
    app.get("/readyz")(exempt(readyz))


def add_check(app: Flask, name: str, check: Callable[[], str]) -> None:
    """Make /readyz also ask ``check()``: "ok", or what is wrong (a few words)."""
    app.extensions.setdefault("mongo_todos_readiness", {})[name] = check


def healthz():
    """The process is up."""
    return {"status": "ok"}


def readyz():
    """MongoDB answers and has every declared index (and a remote rate-limit storage
    answers): the process can serve."""
    checks = {}
    try:
        with pymongo.timeout(READY_TIMEOUT):  # bounds server selection too
            User._get_db().command("ping")
            # a deploy that skipped `db init` would take duplicate usernames and sort
            # pages in memory: not ready until the indexes exist
            missing = missing_indexes(DOCUMENTS)
        checks["mongodb"] = "ok"
        checks["indexes"] = "ok" if not missing else (
            "missing " + ", ".join(missing) + " (run: flask --app mongo_todos db init)")
    except PyMongoError as err:
        checks["mongodb"] = f"unavailable: {err.__class__.__name__}"
    limiter = current_app.extensions.get("mongo_todos_limiter")
    config = current_app.config
    if limiter is not None and not config["RATELIMIT_STORAGE_URI"].startswith("memory"):
        checks["ratelimit_storage"] = "ok" if limiter.storage.check() else "unavailable"
    for name, check in current_app.extensions.get("mongo_todos_readiness", {}).items():
        checks[name] = check()
    if all(v == "ok" for v in checks.values()):
        return {"status": "ok", "checks": checks}
    return problem(503, "Not ready: " + ", ".join(
        f"{k} {v}" for k, v in checks.items() if v != "ok"), headers={"Retry-After": "5"})
