"""Request bodies: one strict JSON reader shared by every view that takes a body.

The checks happen in the order a client can fix them: size (413, by Werkzeug from
``MAX_CONTENT_LENGTH``, and here for a chunked body that goes on past it), media type (415), syntax and encoding (400: strict UTF-8, no NaN),
top-level type and nesting depth (400), then width (422: absurdly many keys or items, refused
whole before a schema spends seconds on them). Field-level validation is left to the schemas (422).

A body must also arrive in time: one that takes longer than ``BODY_READ_TIMEOUT`` seconds
answers 408. That bound is enforced here on gevent (the embedded default's worker), where a
slow body costs only its own greenlet; a sync worker is blocked by it and is bounded by
gunicorn's ``--timeout`` instead (the worker is restarted), and behind the compose file's
nginx, ``client_body_timeout`` refuses it before any worker sees it.
"""

from __future__ import annotations

import json
from contextlib import nullcontext

from flask import abort, current_app, g, request
from gunicorn.http.errors import ParseException
from webargs.core import missing
from webargs.flaskparser import FlaskParser

from mongo_todos.web.turns import under_gevent

#: Deepest nesting accepted in a body; no document of this API nests more than 2 levels.
MAX_DEPTH = 20

# Width limits, far above any valid body (a todo has 7 fields and at most 20 tags), so only a
# hostile or broken client meets them. Without them a 1 MB body of 88,000 unknown keys (or
# 255,000 empty tags) costs seconds of schema validation and a 422 of several megabytes
# listing each one.
#: Most keys accepted in one JSON object of a body.
MAX_KEYS = 100
#: Most items accepted in one JSON array of a body.
MAX_ITEMS = 1000


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_object() -> dict | None:
    """The body as a JSON object, parsed once per request; ``None`` when there is no body."""
    if "json_body" in g:
        return g.json_body
    try:
        if g.get("body_unreadable"):  # a second reader (the login limit's key, then the view)
            raise OSError
        if g.get("body_late"):
            raise _BodyLate
        with _arrival_deadline(current_app.config.get("BODY_READ_TIMEOUT")):
            data = request.get_data(cache=True)
    except _BodyLate:
        g.body_late = True
        abort(408, "The body did not arrive within "
                   f"{current_app.config['BODY_READ_TIMEOUT']} seconds.")
    except (OSError, ParseException):  # gunicorn: a malformed chunked stream (bad chunk size)
        g.body_unreadable = True
        abort(400, "The body could not be read: its chunked encoding is malformed.")
    refuse_cut_short_stream(data)
    if not data:
        return None
    if not request.is_json:
        abort(415, "Send the body as application/json.")
    try:
        # strict UTF-8, no NaN/Infinity; a pathologically nested body raises RecursionError
        value = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        abort(400, "The body is not valid UTF-8 JSON.")
    if not isinstance(value, dict):
        abort(400, "The body must be a JSON object.")
    if _depth_exceeds(value, MAX_DEPTH):
        abort(400, f"The body nests deeper than {MAX_DEPTH} levels.")
    too_wide = _too_wide(value)
    if too_wide:
        abort(422, too_wide)
    g.json_body = value
    return value


class _BodyLate(Exception):
    """The body's arrival outlasted ``BODY_READ_TIMEOUT``."""


def _arrival_deadline(seconds):
    """A deadline on reading the body, under gevent (module docstring); else none."""
    if not seconds or not under_gevent():
        return nullcontext()
    import gevent  # loaded already: the worker patched the standard library with it

    return gevent.Timeout(seconds, _BodyLate)


def refuse_cut_short_stream(data: bytes) -> None:
    """413 for a body without ``Content-Length`` (``Transfer-Encoding: chunked``) that goes on
    past ``MAX_CONTENT_LENGTH``.

    Werkzeug refuses a declared length over the limit, but a chunked stream it only reads up
    to the limit and stops, without an error: the first ``MAX_CONTENT_LENGTH`` bytes would be
    taken as the whole body. When that many were read, one more byte from the server's stream
    tells whether the body really ended there.
    """
    limit = request.max_content_length
    if limit is None or request.content_length is not None or len(data) < limit:
        return
    raw = request.environ.get("wsgi.input")
    # the verdict is kept: a second reader (the login limit's key, then the view) must not
    # take the stream's end after the probed byte for the body's end
    if g.get("body_over_limit") or (raw is not None and raw.read(1)):
        g.body_over_limit = True
        abort(413, f"The body is larger than the limit of {limit} bytes.")


def _depth_exceeds(value, limit: int) -> bool:
    """Whether containers nest deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _too_wide(value) -> str | None:
    """Why ``value`` holds too many keys in one object or items in one array, else ``None``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and len(node) > MAX_KEYS:
            return f"The body has an object with more than {MAX_KEYS} keys."
        if isinstance(node, list) and len(node) > MAX_ITEMS:
            return f"The body has an array with more than {MAX_ITEMS} items."
        children = node.values() if isinstance(node, dict) else node
        stack.extend(child for child in children if isinstance(child, (dict, list)))
    return None


class Parser(FlaskParser):
    """webargs parser whose ``json`` location is :func:`json_object`.

    No body at all loads as ``{}``, so required fields are reported by name (422).
    """

    DEFAULT_VALIDATION_STATUS = 422

    def load_json(self, req, schema):
        body = json_object()
        return missing if body is None else body


parser = Parser()
