"""gunicorn settings for production (the Docker image runs ``gunicorn -c config/gunicorn.conf.py``).

Every value can be overridden from the environment with gunicorn's own variable
(``GUNICORN_CMD_ARGS``) or the ones read below.

Worker model (measured, see the README's "Worker model"): behind the compose file's nginx,
which buffers whole requests and times out slow clients, gunicorn only ever sees complete
requests, so plain sync workers are right: simple, and a CPU-bound request cannot starve the
others of the GIL inside one process. Without MONGODB_URI (the embedded store, usually run
with no proxy) one gevent worker: a slow or idle connection then costs a greenlet, not the
worker (one sync worker, or a gthread worker's 4 threads, stopped answering with 8 slow-header
clients; gevent answered /healthz in 3 ms).
"""

import importlib
import multiprocessing
import os

wsgi_app = "mongo_todos.wsgi:app"
bind = os.environ.get("BIND", "0.0.0.0:5000")
# (2 x cores) + 1 sync workers is gunicorn's rule of thumb for an I/O-bound API. Without
# MONGODB_URI the store lives inside the process (and so do the random signing keys), so
# there is exactly one worker: several would each hold different data and refuse each
# other's tokens. The app is loaded in the worker (no preload_app), so a replaced worker
# starts a new store with new keys: no token outlives the data it was issued for.
if os.environ.get("MONGODB_URI"):
    workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
    worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
else:
    workers = 1
    # gevent with a per-address connection cap (CONNECTIONS_PER_ADDRESS): no proxy in front
    worker_class = os.environ.get("GUNICORN_WORKER_CLASS",
                                  "mongo_todos.web.gunicorn_workers.CappedGeventWorker")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# one JSON object per line for every log line (access and error), escaped by a JSON encoder;
# human-readable lines instead when the output is a terminal (mongo_todos/web/logs.py)
logger_class = "mongo_todos.web.logs.GunicornLogger"
# requests gunicorn cannot parse get problem+json, not its HTML page
# (mongo_todos/web/gunicorn_errors.py)
# gevent's patching before the package (pymongo, PyJWT) imports ssl, as the worker would do
# it too late (mongo_todos/web/gevent_first.py says why); the worker's own patching then
# changes nothing. Only when gunicorn loads this file (as its module "__config__"): a tool that
# reads the settings in its own process (scripts/bench.py, in a test) must not be patched
if "gevent" in worker_class.lower() and __name__ == "__config__":
    importlib.import_module("gevent.monkey").patch_all()
importlib.import_module("mongo_todos.web.gunicorn_errors").install()
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's control socket is for interactive administration; containers don't need it
control_socket_disable = True


def when_ready(server):
    """Say loudly when several workers would each count rate limits alone."""
    from mongo_todos.web.ratelimit import shared_storage_warning

    warning = shared_storage_warning(os.environ, server.cfg.workers)
    if warning:
        server.log.warning("WARNING: %s", warning)
