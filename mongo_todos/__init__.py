"""mongo_todos: a JSON REST API for todos, on Flask and MongoDB (MongoEngine).

Clients register (``POST /api/v1/users``), trade their credentials for a short-lived access
token and a long-lived refresh token (``POST /api/v1/tokens``), and send
``Authorization: Bearer <access token>`` to manage their own todos under ``/api/v1/todos``.
Each login is a session (``/api/v1/users/me/sessions`` lists and ends them);
``PUT /api/v1/users/me/password`` changes the password, ``DELETE /api/v1/users/me`` deletes
the account with its data.
Lists are cursor-paginated: follow ``links.next`` until it is null. Offline clients keep a
copy in step with ``GET /api/v1/todos/changes?since=<token>`` (changes and deletions since). Every error is an RFC 9457
``application/problem+json`` body. The full contract is served at ``/api/v1/openapi.json``.

Settings come from environment variables (see ``config/.env.example``); with no
``MONGODB_URI`` the service runs on an in-process, in-memory store.
"""

from __future__ import annotations

# isort: off
# first of all, before pymongo and PyJWT import ssl: gevent's patching under the quick start
from mongo_todos.web import gevent_first  # noqa: F401
# isort: on

import logging
import os
from collections.abc import Mapping

import mongoengine
from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from mongo_todos import settings
from mongo_todos.settings import ConfigError
from mongo_todos.store import documents
from mongo_todos.store.mongodb import settings_from, time_budget
from mongo_todos.todos import sequence
from mongo_todos.web import compress, cors, errors, headers, json_provider, logs
from mongo_todos.web.public_url import PublicBaseURL
from mongo_todos.web.turns import take_turns

__all__ = ["create_app", "ConfigError"]
__version__ = "0.1.0"

log = logging.getLogger(__name__)


def create_app(config: Mapping | None = None, env: Mapping[str, str] | None = None) -> Flask:
    """Build the app from environment variables (``env``, default ``os.environ``), with
    ``config`` overriding them (tests use it). Raises ConfigError on an invalid setting."""
    # the factory idiom: the commands (and the accounts they manage) load with an app, not
    # with `import mongo_todos.settings` in a gunicorn master
    from mongo_todos.cli.commands import register as register_cli

    app = Flask(__name__)
    # a token API keeps no cookie session: skip opening and signing one on every request
    app.session_interface = _NoSessions()
    app.ensure_sync = _SyncCheckedOnce(app.ensure_sync)
    _configure(app, config, env)
    _bind_database(app)
    compress.init_app(app)  # first: its after_request runs last, on the finished body
    logs.init_app(app)
    errors.init_app(app)
    headers.init_app(app)  # after errors: a 429's detail reads the Retry-After it sets
    _register_views_then_limits(app)
    cors.init_app(app)
    _trust_proxies(app)
    register_cli(app)
    return app


def __getattr__(name: str):
    # `flask --app mongo_todos` looks for an `app` attribute before calling create_app():
    # this one is built for a person at a terminal (one line on a bad setting, a quiet --help)
    if name == "app":
        # a cycle: the terminal's app is made by create_app
        from mongo_todos.cli.terminal import app_for_flask_cli

        return app_for_flask_cli()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _configure(app: Flask, config: Mapping | None, env: Mapping[str, str] | None) -> None:
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


def _bind_database(app: Flask) -> None:
    """Connect MongoEngine to MONGODB_URI, or to the embedded store, and shape the WSGI app
    for it (a time budget on MongoDB; the embedded store serialises each operation itself)."""
    from flask_mongoengine import MongoEngine  # start-up cost: only an app needs the binding

    # one process, one connection: a new app (a test's, say) replaces the previous one's,
    # after the changes feed's leases finished on the previous one are released there
    sequence.RELEASER.flush()
    mongoengine.disconnect_all()
    # the client's defaults (majority writes, primary reads, timeouts) live in store/mongodb.py
    app.config["MONGODB_SETTINGS"] = settings_from(app.config)
    # one binding per app: flask-mongoengine keeps the first app's settings on its instance
    MongoEngine().init_app(app)
    # after the binding (it installs its own JSON provider): keep fields in documented order
    app.json.sort_keys = False
    json_provider.use_orjson(app)
    if app.config["EMBEDDED_DB"]:
        log.warning(
            "MONGODB_URI is not set: using the embedded in-memory store. "
            "Data lives only in this process and is lost when it stops."
        )
        documents.create_indexes()
    else:
        # outermost but for the proxy middlewares: a request's database work fits in one budget
        app.wsgi_app = time_budget(app.wsgi_app, app.config["MONGODB_REQUEST_TIMEOUT_MS"])
    # under gevent, a connection's next request (pipelined, keep-alive) waits its turn behind
    # other connections' instead of starving them; elsewhere this changes nothing
    app.wsgi_app = take_turns(app.wsgi_app)


def _register_views_then_limits(app: Flask) -> None:
    """Every view, then the rate limiter: it wraps the views registered when it starts, as
    their decorators asked (see :mod:`mongo_todos.web.ratelimit`)."""
    # the factory idiom: the views (flask-smorest, JWT, limiter) load with an app, not with
    # `import mongo_todos.settings` in a gunicorn master or the CLI
    from mongo_todos.accounts import auth, sessions, tokens, users
    from mongo_todos.changes import views as changes
    from mongo_todos.jobs import queue as jobs_queue
    from mongo_todos.jobs import views as jobs
    from mongo_todos.todos import views as todos
    from mongo_todos.web import api, docs, probes, ratelimit, root

    auth.init_app(app)
    # one Api per app: it holds the app's OpenAPI document
    openapi = api.Api(app, spec_kwargs=_openapi_document())
    # /docs shows the groups in this order: the main resource first, the entry point last
    for blueprint in (todos.blp, changes.blp, jobs.blp, users.blp, tokens.blp, sessions.blp, root.blp):
        openapi.register_blueprint(blueprint)
    app.register_blueprint(docs.blp)
    root.init_app(app)
    probes.init_app(app)
    changes.init_app(app)
    jobs_queue.init_app(app)
    ratelimit.init_app(app)


def _openapi_document() -> dict:
    """What the OpenAPI document says beyond the views: the package docstring, the schemes."""
    return {
        "info": {"description": __doc__},
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "basicAuth": {"type": "http", "scheme": "basic"},
                # the refresh token, a scheme of its own: a generated client's auth callback
                # is asked for it by name (refreshTokens, logOut), not for the access token
                "refreshAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                "description": "The `refresh_token` of a token pair."},
            }
        },
        "security": [{"bearerAuth": []}],
    }


def _trust_proxies(app: Flask) -> None:
    """The outermost middlewares: a pinned public URL, then the trusted proxies' headers."""
    if app.config.get("PUBLIC_BASE_URL"):
        app.wsgi_app = PublicBaseURL(app.wsgi_app, app.config["PUBLIC_BASE_URL"])
    if app.config["TRUSTED_PROXY_COUNT"]:
        n = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)


class _SyncCheckedOnce:
    """Flask's ``ensure_sync``, remembered per function: Flask asks it about every hook and
    view on every request (a dozen times for a GET, each an ``inspect`` of the code flags),
    and the answer for a function never changes."""

    MAX_CACHED = 4096

    def __init__(self, ensure_sync):
        self.ensure_sync = ensure_sync
        self.seen: dict = {}

    def __call__(self, func):
        try:
            return self.seen[func]
        except KeyError:
            if len(self.seen) >= self.MAX_CACHED:  # bound methods made per call, say
                self.seen.clear()
            result = self.seen[func] = self.ensure_sync(func)
            return result
        except TypeError:  # an unhashable callable
            return self.ensure_sync(func)


class _NoSessions(SessionInterface):
    """Flask's cookie session, switched off (``session`` is a null session that refuses writes)."""

    def open_session(self, app, request):
        return None  # Flask then uses make_null_session()

    def save_session(self, app, session, response):
        pass
