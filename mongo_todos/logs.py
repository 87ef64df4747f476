"""Structured logs and request ids.

Every request gets an id: the client's ``X-Request-ID`` when it is a sane token (1-128 of
``[A-Za-z0-9._:-]``), a new random one otherwise. It is echoed in the response's
``X-Request-ID`` and carried by every log line written while the request runs, so one failed
request can be traced from the client to the server's log. Log lines are JSON objects, one per
line. Nothing here logs headers or bodies, so tokens and passwords never reach the log.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time

from flask import Flask, g, has_request_context, request

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to records logged while it runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g:
            record.request_id = g.request_id
        return True


def configure(level: str) -> None:
    """JSON lines on stderr for every logger (the service's and its libraries', e.g. the rate
    limiter's storage warnings), unless the host process already set up logging."""
    logging.getLogger("mongo_todos").setLevel(level)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign_request_id():
        given = request.headers.get("X-Request-ID", "")
        # an id to trace by, not a secret: a fast PRNG is enough (os.urandom is a system call)
        g.request_id = given if _REQUEST_ID.match(given) else f"{random.getrandbits(128):032x}"

    @app.after_request
    def _echo_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response
