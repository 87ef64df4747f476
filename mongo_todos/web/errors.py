"""One error shape for every error source: RFC 9457 problem details.

Werkzeug HTTP errors (404, 405, 413, 415, ...), request validation (webargs/marshmallow via
flask-smorest), Flask-JWT-Extended token failures, rate limiting (429), database outages (503)
and unexpected exceptions (500) all leave through :func:`problem`, as
``application/problem+json``. No HTML page and no stack trace ever reaches a client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from flask import Flask, Response, current_app, request
from mongoengine.errors import OperationError
from mongoengine.errors import ValidationError as DocumentValidationError
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from mongo_todos.store.mongodb import (
    EXCEEDED_TIME_LIMIT,
    database_error,
    missing_index,
    outcome,
    transient,
)

log = logging.getLogger("mongo_todos.errors")

PROBLEM_JSON = "application/problem+json"
#: Seconds a client should wait before retrying while the database is unreachable.
DB_RETRY_AFTER = 5
#: Headers of a Werkzeug exception worth keeping on the problem response (e.g. 405's Allow).
_KEPT_HEADERS = {"allow", "www-authenticate", "retry-after"}

#: Where problem type URIs live. A relative reference (RFC 9457 3.1.1): the same string on
#: every host, so clients can compare it, and it resolves against the API's own base URL.
PROBLEM_TYPE_BASE = "/api/v1/problems/"

#: The problems a client must act on, by slug: slug -> (title, what a client should do).
#: Everything else stays ``about:blank`` (plain HTTP errors with nothing to add).
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "token-missing": ("Token missing", "Send 'Authorization: Bearer <access token>'."),
    "token-expired": ("Token expired", "Refresh the token pair, or log in again."),
    "token-revoked": ("Token revoked", "This login has ended: log in again."),
    "token-invalid": ("Token invalid", "The token is malformed, forged or of the wrong kind: "
                      "log in again."),
    "credentials-invalid": ("Credentials invalid", "The username or password is wrong."),
    "password-incorrect": ("Password incorrect", "The password sent to confirm this change is "
                           "wrong; the token is fine. Ask the user for it again."),
    "session-expired": ("Session expired", "This login reached its maximum age "
                        "(SESSION_MAX_AGE): log in again with the username and password."),
    "validation-failed": ("Validation failed", "Fix the fields named in 'errors' and retry."),
    "not-found": ("Not found", "The resource does not exist or is not yours."),
    "conflict": ("Conflict", "The request conflicts with the current state (e.g. a taken "
                 "username)."),
    "precondition-failed": ("Precondition failed", "The resource changed since your ETag: fetch "
                            "it again, then retry with the new ETag."),
    "etag-weak": ("Weak ETag", "A write compares ETags strongly: send the ETag exactly as the "
                  "server returned it, without W/."),
    "precondition-required": ("Precondition required", "Send If-Match with the resource's "
                              "current ETag."),
    "rate-limited": ("Rate limited", "Wait the number of seconds in Retry-After."),
    "quota-exceeded": ("Quota exceeded", "The account holds as many todos as it may (TODO_QUOTA): "
                       "delete some, then retry."),
    "service-unavailable": ("Service unavailable", "Retry after Retry-After seconds."),
    "todo-deleted": ("Todo deleted", "You deleted this todo (perhaps on another device): drop "
                     "your copy."),
    "sync-token-expired": ("Sync token expired", "The token is older than SYNC_TOMBSTONE_TTL, "
                           "or than deletions the account no longer remembers "
                           "(SYNC_TOMBSTONES_PER_USER): sync again from the start, without "
                           "since."),
    "sync-token-invalid": ("Sync token invalid", "The token was altered, cut short or made for "
                           "another account: sync again from the start, without since."),
}

#: The status each problem type comes with (documentation and ``GET /api/v1/problems``);
#: every PROBLEM_TYPES slug needs one (a test checks).
PROBLEM_STATUS: dict[str, int] = {
    "token-missing": 401, "token-expired": 401, "token-revoked": 401, "token-invalid": 401,
    "credentials-invalid": 401, "validation-failed": 422, "not-found": 404, "conflict": 409,
    "precondition-failed": 412, "precondition-required": 428, "rate-limited": 429,
    "service-unavailable": 503,
    "quota-exceeded": 409, "password-incorrect": 403, "session-expired": 401, "etag-weak": 412,
    "todo-deleted": 410, "sync-token-expired": 410, "sync-token-invalid": 400,
}

#: The type a status gets when the code raising it names none.
_TYPE_BY_STATUS = {
    404: "not-found",
    409: "conflict",
    412: "precondition-failed",
    422: "validation-failed",
    428: "precondition-required",
    429: "rate-limited",
    503: "service-unavailable",
}


def default_type(status: int) -> str | None:
    """The slug a problem of ``status`` gets when the code raising it names none."""
    return _TYPE_BY_STATUS.get(status)


def type_uri(slug: str | None) -> str:
    """The ``type`` member for a problem slug (``None``: ``about:blank``)."""
    if slug is None:
        return "about:blank"
    if slug not in PROBLEM_TYPES:
        raise KeyError(f"unknown problem type {slug!r}: add it to PROBLEM_TYPES")
    return PROBLEM_TYPE_BASE + slug


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    type: str | None = None,  # noqa: A002 (the RFC 9457 member's name)
) -> Response:
    """An ``application/problem+json`` response; ``type`` is a :data:`PROBLEM_TYPES` slug
    (default: the status's usual type, else ``about:blank``). ``title`` applies only to
    ``about:blank`` problems: a typed problem carries its type's title."""
    slug = type or default_type(status)
    if slug:  # RFC 9457: a type's title is the same for every occurrence of it
        title = PROBLEM_TYPES[slug][0]
    body: dict = {
        "type": type_uri(slug),
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = dict(errors)
    # a trailing newline, so the next prompt does not run into a body printed in a terminal
    response = Response(json.dumps(body) + "\n", status=status, mimetype=PROBLEM_JSON)
    if headers:
        response.headers.update(headers)
    return response


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow/webargs nested messages as ``{"field.sub": [msg, ...]}``.

    webargs nests them by location (``{"json": {"name": [...]}}``); the location is dropped,
    a whole-body error (``_schema``) is reported under ``_body``.
    """
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            key = str(key)
            if not prefix and key in ("json", "query", "headers", "path", "view_args"):
                name = ""
            elif key == "_schema":
                name = prefix or "_body"
            else:
                name = f"{prefix}.{key}" if prefix else key
            for field, msgs in flatten_messages(value, name).items():
                flat.setdefault(field, []).extend(msgs)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "_body"] = list(messages)
        else:
            for m in messages:
                for field, msgs in flatten_messages(m, prefix).items():
                    flat.setdefault(field, []).extend(msgs)
    else:
        flat[prefix or "_body"] = [str(messages)]
    return flat


#: Most fields a 422 lists: enough to fix a real client, while a body of thousands of bad
#: fields does not get a response of megabytes back.
MAX_FIELD_ERRORS = 20


def _first_field_errors(errors: dict[str, list[str]]) -> tuple[dict[str, list[str]], int]:
    """The first :data:`MAX_FIELD_ERRORS` fields (sorted) and how many were left out."""
    names = sorted(errors)
    return {n: errors[n] for n in names[:MAX_FIELD_ERRORS]}, max(len(names) - MAX_FIELD_ERRORS, 0)


def handle_http_exception(error: HTTPException) -> Response:
    """Any Werkzeug/Flask HTTP error, including webargs' ``abort(..., messages=...)``."""
    data = getattr(error, "data", None) or {}
    headers = {
        k: v for k, v in error.get_headers() if k.lower() in _KEPT_HEADERS
    }
    headers.update(data.get("headers") or {})
    messages = data.get("errors") or data.get("messages")
    errors = flatten_messages(messages) if messages else None
    detail = data.get("message") or error.description or error.name
    status = error.code or 500
    if status == 422 and errors and detail == error.description:
        errors, left_out = _first_field_errors(errors)
        detail = "The request has invalid fields: " + ", ".join(errors) + (
            f" and {left_out} more (not listed)." if left_out else ".")
    elif status == 429:
        # the number of seconds is filled in by _rate_limit_detail once the rate-limit headers
        # have set Retry-After (after this handler, in web/headers.py's after_request)
        detail = f"Rate limit exceeded ({error.description}); retry after {_SECONDS} seconds."
    return problem(status, detail, title=error.name, errors=errors, headers=headers,
                   type=data.get("type"))


#: What a 503 tells the client, by what the failed request may have changed.
_OUTCOME_DETAIL = {
    "none": "Nothing was changed; retry later.",
    "unknown": "The request was writing when the database stopped answering: the change may "
               "or may not have been applied. Check (GET) before retrying, or retry with the "
               "same Idempotency-Key or If-Match so it cannot apply twice.",
    "unconfirmed": "The change was applied by the primary but not confirmed by a majority of "
                   "the replica set in time, so it may still be rolled back. Check (GET) before "
                   "retrying, or retry with the same Idempotency-Key or If-Match.",
}


#: Stands for the Retry-After value in a 429's detail until the header is known.
_SECONDS = "{retry_after}"


def _rate_limit_detail(response: Response) -> Response:
    """Put the real Retry-After value into a 429's detail ("retry after 42 seconds")."""
    if response.status_code == 429 and response.mimetype == PROBLEM_JSON:
        body = json.loads(response.get_data())
        if _SECONDS in body.get("detail", ""):
            seconds = response.headers.get("Retry-After")
            body["detail"] = (body["detail"].replace(_SECONDS, seconds) if seconds
                              else body["detail"].replace(f"; retry after {_SECONDS} seconds",
                                                          "; retry later"))
            response.set_data(json.dumps(body) + "\n")
    return response


def handle_database_unavailable(error: Exception) -> Response:
    """503: the database did not answer in time (server selection, the request's time
    budget), dropped the connection, or could not confirm a write. The detail says what the
    request may have changed (see :mod:`mongo_todos.store.mongodb`)."""
    cause = database_error(error)
    if cause is None:  # e.g. MongoEngine's OperationError over something else: a bug
        return handle_unexpected(error)
    settings = current_app.config.get("MONGODB_SETTINGS") or {}
    changed = outcome(cause, request.method, tracked="event_listeners" in settings)
    if changed == "unconfirmed":
        what = "The database could not confirm the write."
    elif missing_index(cause):
        what = "The database lacks the indexes this service needs (an operator must run " \
               "'flask --app mongo_todos db init')."
    elif not transient(cause):
        what = "The database is not set up as this service needs (an operator must check " \
               "MONGODB_URI and the replica set)."
    elif (cause.timeout or getattr(cause, "code", None) == EXCEEDED_TIME_LIMIT) \
            and not isinstance(cause, ServerSelectionTimeoutError):
        what = "The database did not answer within the request's time budget."
    else:
        what = "The database is unreachable."
    log.error("database unavailable: %s (outcome %s)", cause.__class__.__name__, changed)
    retry = {"Retry-After": str(DB_RETRY_AFTER)} if transient(cause) else None
    return problem(503, f"{what} {_OUTCOME_DETAIL[changed]}", headers=retry)


def handle_document_validation(error: DocumentValidationError) -> Response:
    """A document refused by MongoEngine validation: a safety net, the request schemas
    validate every field before anything is saved."""
    errors = {k: [str(v)] for k, v in (error.to_dict() or {}).items()} or None
    return problem(422, "The request could not be stored as given.", errors=errors)


def handle_unexpected(error: Exception) -> Response:
    """500 for anything unforeseen: logged with its traceback, never shown to the client."""
    log.exception("unhandled %s", error.__class__.__name__)
    return problem(500, "The server failed to handle this request; it has been logged.")


def init_app(app: Flask) -> None:
    """Register the handlers that no extension owns (the API's HTTP handler is in Api)."""
    app.register_error_handler(HTTPException, handle_http_exception)
    # WriteConcernError (and its WTimeoutError) included: an OperationFailure whose write the
    # primary did apply; MongoEngine wraps driver errors in OperationError
    for exc in (ConnectionFailure, ExecutionTimeout, PyMongoError, OperationError):
        app.register_error_handler(exc, handle_database_unavailable)
    app.register_error_handler(DocumentValidationError, handle_document_validation)
    app.register_error_handler(Exception, handle_unexpected)
    # registered before web/headers.py's after_request, so it runs after it (Flask runs them
    # in reverse order) and sees the final Retry-After
    app.after_request(_rate_limit_detail)
