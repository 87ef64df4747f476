"""Structured logs and request ids.

Every request gets an id: the client's ``X-Request-ID`` when it is a sane token (1-128 of
``[A-Za-z0-9._:-]``), a new random one otherwise. It is echoed in the response's
``X-Request-ID`` and carried by every log line written while the request runs, so one failed
request can be traced from the client to the server's log. Nothing here logs headers or
bodies, so tokens and passwords never reach the log.

One format for every line, the service's, its libraries', gunicorn's and the access log:

- JSON objects, one per line (python-json-logger), when the output is not a terminal (a
  container, a file, a log shipper). The encoder escapes whatever a client sends (``%0A`` in
  a path, control characters, a User-Agent ending in a backslash), so a line is always valid
  JSON; gunicorn's own access-log format strings only escape ``"``.
- Human-readable lines when the output is an interactive terminal (``./scripts/serve``), with
  control characters shown escaped, so a client cannot forge or garble a line there either.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time

from flask import Flask, g, has_request_context, request
from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

from mongo_todos.web import headers

# used with fullmatch: "$" would also match before a final newline
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Fields of the standard record that JSON lines carry under their own names (or not at all).
_RENAMES = {"levelname": "level", "name": "logger", "exc_info": "exception"}


def _utc_time(record: logging.LogRecord) -> str:
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z")


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object per record: time, level, logger, message, then the record's extras
    (request_id, the access log's fields) and exception."""

    def __init__(self):
        super().__init__(["levelname", "name", "message"], rename_fields=_RENAMES,
                         json_ensure_ascii=True)

    def add_fields(self, log_data, record, message_dict):
        log_data["time"] = _utc_time(record)
        super().add_fields(log_data, record, message_dict)


def _escape(text: str) -> str:
    """Control characters as visible escapes (``\\n``, ``\\x1b``), backslashes doubled."""
    text = text.replace("\\", "\\\\")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message [request id]`` for a terminal, one line per record
    (a traceback follows on its own lines)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {_escape(record.getMessage())}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            line += f" [{_escape(str(request_id))}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter_for(stream) -> logging.Formatter:
    """Human-readable for an interactive terminal, JSON anywhere else."""
    try:
        interactive = stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return HumanFormatter() if interactive else JsonFormatter()


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to records logged while it runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g:
            record.request_id = g.request_id
        return True


def configure(level: str) -> None:
    """One handler on stderr for every logger (the service's and its libraries', e.g. the rate
    limiter's storage warnings), unless the host process already set up logging."""
    logging.getLogger("mongo_todos").setLevel(level)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter_for(sys.stderr))
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)


class GunicornLogger(glogging.Logger):
    """gunicorn's logger (``logger_class``) writing the same lines as the service: its error
    log through :func:`formatter_for`, and the access log as fields, not a format string."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter_for(getattr(handler, "stream", None)))
        # Python warnings (e.g. gevent's monkey-patching notice at worker start, before the app
        # configures logging) become records in the error log instead of raw stderr text
        logging.captureWarnings(True)
        warnings_log = logging.getLogger("py.warnings")
        warnings_log.handlers = list(self.error_log.handlers)
        warnings_log.propagate = False

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        try:
            status = int(status)
        except (TypeError, ValueError):
            pass
        request_id = next((value for name, value in (resp.headers or [])
                           if name.lower() == "x-request-id"), None)
        fields = {
            "remote": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "status": status,
            "bytes": getattr(resp, "sent", None),
            "duration_us": request_time.seconds * 1_000_000 + request_time.microseconds,
            "request_id": request_id,
            "user_agent": environ.get("HTTP_USER_AGENT", ""),
        }
        try:
            self.access_log.info(
                "%s %s %s %s %sB %.1fms", fields["remote"], fields["method"], fields["path"],
                status, fields["bytes"], fields["duration_us"] / 1000, extra=fields,
            )
        except Exception:
            self.exception("access log failed")


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign_request_id():
        given = request.headers.get("X-Request-ID", "")
        # an id to trace by, not a secret: a fast PRNG is enough (os.urandom is a system call)
        g.request_id = given if _REQUEST_ID.fullmatch(given) else f"{random.getrandbits(128):032x}"

    headers.add_headers_from(app, _request_id_header)


def _request_id_header(response) -> tuple:
    request_id = g.get("request_id")
    return (("X-Request-ID", request_id),) if request_id else ()
