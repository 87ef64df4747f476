"""gunicorn settings for production (the Docker image runs ``gunicorn -c config/gunicorn.conf.py``).

Every value can be overridden from the environment with gunicorn's own variable
(``GUNICORN_CMD_ARGS``) or the ones read below.
"""

import multiprocessing
import os

wsgi_app = "mongo_todos.wsgi:app"
bind = os.environ.get("BIND", "0.0.0.0:5000")
# (2 x cores) + 1 sync workers is gunicorn's rule of thumb for an I/O-bound API. Without
# MONGODB_URI the store lives inside the process (and so do the random signing keys), so
# there is exactly one worker: several would each hold different data and refuse each
# other's tokens.
if os.environ.get("MONGODB_URI"):
    workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
else:
    workers = 1
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# one JSON object per request line, for log shippers
accesslog = "-"
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": "%(B)s", "duration_us": %(D)s, "request_id": "%({x-request-id}o)s", '
    '"user_agent": "%(a)s"}'
)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's control socket is for interactive administration; containers don't need it
control_socket_disable = True
