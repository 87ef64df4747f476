"""mongo_todos: a JSON REST API for todos, on Flask and MongoDB (MongoEngine).

Clients register (``POST /api/v1/users``), trade their credentials for a short-lived access
token and a long-lived refresh token (``POST /api/v1/tokens``), and send
``Authorization: Bearer <access token>`` to manage their own todos under ``/api/v1/todos``.
Each login is a session (``/api/v1/users/me/sessions`` lists and ends them);
``PUT /api/v1/users/me/password`` changes the password, ``DELETE /api/v1/users/me`` deletes
the account with its data.
Lists are cursor-paginated: follow ``links.next`` until it is null. Every error is an RFC 9457
``application/problem+json`` body. The full contract is served at ``/api/v1/openapi.json``.

Settings come from environment variables (see ``config/.env.example``); with no
``MONGODB_URI`` the service runs on an in-process, in-memory store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import mongoengine
import pymongo
from flask import Flask
from flask.sessions import SessionInterface
from pymongo.errors import PyMongoError
from werkzeug.middleware.proxy_fix import ProxyFix

from mongo_todos import settings
from mongo_todos.settings import ConfigError
from mongo_todos.web import logs
from mongo_todos.web.turns import take_turns

__all__ = ["create_app", "ConfigError"]
__version__ = "0.1.0"

log = logging.getLogger(__name__)

#: Seconds /readyz waits for MongoDB before reporting it unavailable.
READY_TIMEOUT = 1.0


def _mongodb_settings(config: Mapping) -> dict:
    # the client's defaults (majority writes, primary reads, timeouts) live in database.py
    from mongo_todos.store.mongodb import settings_from

    return settings_from(config)


class _NoSessions(SessionInterface):
    """Flask's cookie session, switched off (``session`` is a null session that refuses writes)."""

    def open_session(self, app, request):
        return None  # Flask then uses make_null_session()

    def save_session(self, app, session, response):
        pass


def create_app(config: Mapping | None = None, env: Mapping[str, str] | None = None) -> Flask:
    """Build the app from environment variables (``env``, default ``os.environ``), with
    ``config`` overriding them (tests use it). Raises ConfigError on an invalid setting."""
    from flask_mongoengine import MongoEngine

    from mongo_todos.accounts import auth, sessions, tokens, users
    from mongo_todos.store import documents as models
    from mongo_todos.todos import views as todos
    from mongo_todos.web import docs, errors, ratelimit, root
    from mongo_todos.web import headers as security
    from mongo_todos.web.api import Api

    app = Flask(__name__)
    # a token API keeps no cookie session: skip opening and signing one on every request
    app.session_interface = _NoSessions()
    logs.configure("INFO")
    app.config.update(settings.from_env(os.environ if env is None else env))
    app.config.update(
        API_TITLE="mongo_todos",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    if config:
        app.config.update(config)
    logs.configure(app.config["LOG_LEVEL"])

    # one process, one connection: a new app (a test's, say) replaces the previous one's
    mongoengine.disconnect_all()
    app.config["MONGODB_SETTINGS"] = _mongodb_settings(app.config)
    # one binding per app: flask-mongoengine keeps the first app's settings on its instance
    MongoEngine().init_app(app)
    # after the binding (it installs its own JSON provider): keep fields in documented order
    app.json.sort_keys = False
    if app.config["EMBEDDED_DB"]:
        log.warning(
            "MONGODB_URI is not set: using the embedded in-memory store. "
            "Data lives only in this process and is lost when it stops."
        )
        models.create_indexes()
        app.wsgi_app = take_turns(app.wsgi_app)
    else:
        from mongo_todos.store.mongodb import time_budget

        # outermost but for the proxy fix: a request's database work fits in one budget
        app.wsgi_app = time_budget(app.wsgi_app, app.config["MONGODB_REQUEST_TIMEOUT_MS"])

    logs.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    # one Api per app: it holds the app's OpenAPI document
    api = Api(
        app,
        spec_kwargs={
            "info": {"description": __doc__},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                    "basicAuth": {"type": "http", "scheme": "basic"},
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    for blueprint in (root.blp, users.blp, sessions.blp, tokens.blp, todos.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(docs.blp)
    root.init_app(app)
    _register_probes(app)
    app.extensions["mongo_todos_limiter"] = ratelimit.init_app(app)
    _configure_cors(app)
    if app.config.get("PUBLIC_BASE_URL"):
        from mongo_todos.web.public_url import PublicBaseURL

        app.wsgi_app = PublicBaseURL(app.wsgi_app, app.config["PUBLIC_BASE_URL"])
    if app.config["TRUSTED_PROXY_COUNT"]:
        n = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)

    from mongo_todos.cli.commands import register as register_cli

    register_cli(app)
    return app


def __getattr__(name: str):
    # `flask --app mongo_todos` looks for an `app` attribute before calling create_app():
    # this one is built for a person at a terminal (one line on a bad setting, a quiet --help)
    if name == "app":
        from mongo_todos.cli.terminal import app_for_flask_cli

        return app_for_flask_cli()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register_probes(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        """MongoDB answers and has every declared index (and a remote rate-limit storage
        answers): the process can serve."""
        from mongo_todos.store.documents import DOCUMENTS, User
        from mongo_todos.store.mongodb import missing_indexes
        from mongo_todos.web.errors import problem

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
        limiter = app.extensions.get("mongo_todos_limiter")
        if limiter is not None and not app.config["RATELIMIT_STORAGE_URI"].startswith("memory"):
            checks["ratelimit_storage"] = "ok" if limiter.storage.check() else "unavailable"
        if all(v == "ok" for v in checks.values()):
            return {"status": "ok", "checks": checks}
        response = problem(503, "Not ready: " + ", ".join(
            f"{k} {v}" for k, v in checks.items() if v != "ok"), headers={"Retry-After": "5"})
        return response


def _configure_cors(app: Flask) -> None:
    origins = app.config["CORS_ORIGINS"]
    if not origins:
        return
    from flask_cors import CORS

    CORS(
        app,
        # compiled whole-origin patterns: a bare string would be a prefix regex to flask-cors
        resources={r"/api/*": {"origins": settings.cors_origin_patterns(origins)}},
        allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match",
                       "Idempotency-Key", "X-Request-ID"],
        expose_headers=["ETag", "Link", "Location", "Retry-After", "X-RateLimit-Limit",
                        "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-ID"],
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        max_age=600,
        vary_header=True,
    )
