"""gunicorn's own error answers as problem+json.

gunicorn answers a request it cannot parse (a bad request line, too many or too large headers,
a malformed Content-Length or chunk) itself, before the app runs, with an HTML page. Behind the
proxy those requests never reach it, but ``python -m mongo_todos`` has no proxy, and the
contract says no error is ever HTML. :func:`install` replaces the function every gunicorn
worker calls to write that answer (``gunicorn.util.write_error``) with one that writes the same
status as an RFC 9457 body; it runs in the master, before workers fork.
"""

from __future__ import annotations

import json

from gunicorn import util

PROBLEM_JSON = "application/problem+json"


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """Write gunicorn's error answer for ``status_int`` as problem+json, then gunicorn closes."""
    body = json.dumps({
        "type": "about:blank",
        "title": reason,
        "status": status_int,
        "detail": f"The server could not read this request: {mesg or reason}.",
    }).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1", "replace") + body)


def install() -> None:
    """Make every gunicorn worker of this process answer its own errors as problem+json."""
    util.write_error = write_problem
