"""The OpenAPI document as a contract that generated clients and /docs can rely on.

flask-smorest builds the document from the views' decorators and schemas; the plugin here
completes every operation the same way, so endpoints added later get it too:

- an ``operationId`` derived from the endpoint (``todos.patch`` -> ``updateTodo``), which is
  what a generated client names its functions after, unless the view names its own;
- a description (the view's own, from ``@blp.doc`` or its docstring's body, else its summary);
- the error responses the service can give it, each status with its own problem+json
  examples, ``Retry-After`` and the ``X-RateLimit-*`` headers where they are sent;
- the conditional headers (``If-Match`` where a 412/428 is possible, ``If-None-Match`` where a
  304 is) as parameters, so a client has an argument for them;
- the response headers, typed, wherever they are sent: the rate-limit headers on every
  limited response (errors included), ``ETag`` on the answers of an operation that has
  versions (a 304 or a 412 possible), ``Cache-Control`` on every answer with a body and on a
  304, ``Location`` on a 201/202, ``Retry-After`` on a 202;
- a 304 wherever one is declared, as a response with its headers and no body;
- for a cursor-paginated list (an operation with a ``cursor`` query parameter): the ``Link``
  header and OpenAPI ``links`` ``next``/``prev`` to the same operation, passing the page's
  cursor alone (a cursor remembers the sort, filters and limit it was made for).

Passes over the whole document (the problem type enum, read/write-only by use) are in
:mod:`mongo_todos.web.openapi_document`.
"""

from __future__ import annotations

import http
import json

from apispec import BasePlugin

from mongo_todos.web import errors

#: Names a generated client gets for the views that have a conventional verb name.
_VERBS = {"new": "create", "all": "list", "get": "get", "put": "replace", "patch": "update",
          "delete": "delete"}
#: What a path parameter means, by name; others get a generic line.
PATH_PARAMETERS = {
    "todo_id": "The todo's id (24 hexadecimal digits), as in its `id` field; the todo's `url` "
               "already ends with it. Another user's or a malformed id is a 404.",
    "slug": "The problem type's name, the last segment of its `type` URI.",
}

_RATE_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed in the current window (sent while rate limiting "
                         "is on).",
    "X-RateLimit-Remaining": "Requests left in the current window.",
    "X-RateLimit-Reset": "When the window resets, in seconds since the Unix epoch.",
}
_RETRY_AFTER = {"description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 0}}


#: What common response headers mean, for views that declare one without saying.
HEADER_DESCRIPTIONS = {
    "Location": "The URL of the resource created.",
    "ETag": "The current version: send it back in If-Match (writes) or If-None-Match (reads).",
    "Link": "RFC 8288 links to related pages.",
    "Cache-Control": "How the response may be cached.",
}
#: The headers the plugin declares where an operation sends them (see _complete_headers).
_ETAG = {"description": HEADER_DESCRIPTIONS["ETag"], "schema": {"type": "string"}}
_LOCATION = {"description": HEADER_DESCRIPTIONS["Location"],
             "schema": {"type": "string", "format": "uri"}}
_LINK = {"description": "RFC 8288 links to the `next`, `prev` and `first` pages.",
         "schema": {"type": "string"}}
_CACHE_CONTROL = {"description": "How the response may be cached: `private, no-cache` (keep it, "
                                  "but revalidate with its ETag) or `no-store` (tokens, "
                                  "sessions).", "schema": {"type": "string"}}
_ACCEPTED_RETRY = {"description": "Seconds until polling the resource is worth it.",
                   "schema": {"type": "integer", "minimum": 0}}
NOT_MODIFIED = "Not modified: the If-None-Match ETag is still current (no body)."


def rate_limit_headers() -> dict:
    return {name: {"description": text, "schema": {"type": "integer"}}
            for name, text in _RATE_HEADERS.items()}


IF_MATCH = {
    "in": "header", "name": "If-Match", "required": False,
    "schema": {"type": "string"},
    "description": "The ETag of the version you last read (e.g. `\"6560f0c2a1b2c3d4e5f60718.3\"`):"
                   " the write happens only if the resource is still at that version, else 412. "
                   "Required (428 without it) when the operator turns on REQUIRE_IF_MATCH.",
}
IF_UNMODIFIED_SINCE = {
    "in": "header", "name": "If-Unmodified-Since", "required": False,
    "schema": {"type": "string"},
    "description": "An HTTP date (e.g. `Wed, 21 Oct 2026 07:28:00 GMT`), used only without "
                   "If-Match: the write happens only if the resource has not changed after "
                   "that second, else 412. An unparseable date is ignored (RFC 9110).",
}
IF_NONE_MATCH = {
    "in": "header", "name": "If-None-Match", "required": False,
    "schema": {"type": "string"},
    "description": "An ETag you hold: if it is still current the answer is 304 with no body.",
}


def _problem(status: int, detail: str, slug: str | None = "", **extra) -> dict:
    """One problem+json example body, built the way :func:`errors.problem` builds them."""
    slug = errors.default_type(status) if slug == "" else slug
    title = errors.PROBLEM_TYPES[slug][0] if slug else http.HTTPStatus(status).phrase
    return {"type": errors.type_uri(slug), "title": title, "status": status, "detail": detail,
            **extra}


#: Examples per status: (name, summary, body). Every documented error status has its own.
PROBLEM_EXAMPLES: dict[int, list[tuple[str, str, dict]]] = {
    400: [("invalid_json", "The body is not JSON",
           _problem(400, "The body is not valid UTF-8 JSON.", None)),
          ("bad_cursor", "A cursor this service did not issue",
           _problem(400, "The cursor is not one this service issued.", None,
                    errors={"cursor": ["Not a valid cursor: it was altered or cut short."]})),
          ("sync_token_invalid", "A sync token this service did not issue to you",
           _problem(400, "The sync token is not one this service issued to this account.",
                    "sync-token-invalid"))],
    401: [("token_missing", "No token sent",
           _problem(401, "This request needs 'Authorization: Bearer <access token>'.",
                    "token-missing")),
          ("token_invalid", "A malformed or forged token",
           _problem(401, "The token is not valid: Signature verification failed.",
                    "token-invalid")),
          ("token_expired", "Refresh the token pair",
           _problem(401, "The token has expired.", "token-expired")),
          ("token_revoked", "Log in again",
           _problem(401, "The token has been revoked.", "token-revoked")),
          ("credentials_invalid", "Wrong username or password",
           _problem(401, "The username or password is wrong.", "credentials-invalid"))],
    403: [("registration_closed", "Registration is closed",
           _problem(403, "Registration is closed; an operator can create accounts from the CLI.",
                    None))],
    404: [("not_found", "No such todo (or not yours)",
           _problem(404, "No todo with this id."))],
    409: [("username_taken", "The username is taken",
           _problem(409, "The username 'demo' is taken.")),
          ("quota_exceeded", "The account holds as many todos as it may",
           _problem(409, "You hold 10000 todos, the most one account may hold: delete some "
                         "before creating more.", "quota-exceeded"))],
    410: [("todo_deleted", "You deleted this todo",
           _problem(410, "This todo was deleted (by you, perhaps on another device).",
                    "todo-deleted")),
          ("sync_token_expired", "Sync afresh",
           _problem(410, "The sync token is older than SYNC_TOMBSTONE_TTL, or than deletions the "
                         "account's SYNC_TOMBSTONES_PER_USER cap made it forget.",
                    "sync-token-expired")),
          ("export_expired", "The export's EXPORT_TTL has passed",
           _problem(410, "This export has expired: start a new one.", None))],
    412: [("stale_etag", "Someone changed it since you read it",
           _problem(412, "The todo has changed since that ETag; fetch it again."))],
    413: [("too_large", "The body is over the limit",
           _problem(413, "The data value transmitted exceeds the capacity limit.", None))],
    415: [("not_json", "The body is not application/json",
           _problem(415, "Send the body as application/json.", None))],
    422: [("validation_failed", "Fields that failed validation",
           _problem(422, "The request has invalid fields: done, name.",
                    errors={"done": ["Not a valid boolean: use true or false."],
                            "name": ["Missing data for required field."]}))],
    416: [("range_outside", "The Range lies outside the file",
           _problem(416, "The server cannot provide the requested range.", None))],
    428: [("if_match_required", "The operator requires If-Match on writes",
           _problem(428, "This write needs an If-Match header with the todo's ETag."))],
    429: [("rate_limited", "Over the rate limit",
           _problem(429, "Rate limit exceeded (300 per 1 minute); retry after 42 seconds."))],
    500: [("server_error", "A bug, logged on the server",
           _problem(500, "The server failed to handle this request; it has been logged.", None))],
    503: [("database_unreachable", "The database does not answer",
           _problem(503, "The database is unreachable. Nothing was changed; retry later."))],
}

#: Headers an error response carries, by status.
PROBLEM_HEADERS = {
    401: {"WWW-Authenticate": {"description": "`Bearer realm=\"mongo_todos\"`, with the error "
                                              "when a token was presented.",
                               "schema": {"type": "string"}}},
    405: {"Allow": {"description": "The methods the resource supports.",
                    "schema": {"type": "string"}}},
    429: {"Retry-After": _RETRY_AFTER, **rate_limit_headers()},
    503: {"Retry-After": _RETRY_AFTER},
}


def problem_response(status: int, schema) -> dict:
    """The component response of an error status (flask-smorest's ``prepare_response`` form)."""
    response: dict = {"description": http.HTTPStatus(status).phrase, "schema": schema}
    examples = PROBLEM_EXAMPLES.get(status)
    if examples:
        response["examples"] = {name: {"summary": summary, "value": body}
                                for name, summary, body in examples}
    # limited operations send the rate-limit headers with their errors too
    response["headers"] = {**PROBLEM_HEADERS.get(status, {}), **rate_limit_headers()}
    return response


def operation_id(endpoint: str) -> str:
    """``todos.all`` -> ``listTodos``, ``todos.get`` -> ``getTodo``; else camelCase of both.

    A view whose name reads better otherwise says so beside it (``@blp.doc(operationId=...)``).
    """
    blueprint, _, view = endpoint.rpartition(".")
    noun = blueprint.capitalize()
    if view in _VERBS:
        return _VERBS[view] + (noun if view == "all" else noun.removesuffix("s"))
    words = [w for w in f"{blueprint}_{view}".split("_") if w]
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _error_codes(path: str, method: str, operation: dict) -> set[int]:
    """The error statuses any operation of this shape can give."""
    codes = {429, 500, 503}
    if operation.get("security") != []:
        codes.add(401)
    if "requestBody" in operation:
        codes |= {400, 413, 415, 422}
    if "{" in path:
        codes.add(404)
        if method in ("put", "patch", "delete") and "{todo_id}" in path:
            codes |= {412, 428}
    if method == "get" and path.endswith("/todos"):
        codes |= {400, 422}
    if method == "delete" and path.endswith("/tokens"):
        codes.discard(404)
    return codes


def _paged(operation: dict) -> bool:
    """Whether the operation is a cursor-paginated list."""
    return any(isinstance(p, dict) and p.get("in") == "query" and p.get("name") == "cursor"
               for p in operation.get("parameters", []))


def _page_links(operation_id: str | None) -> dict:
    """OpenAPI links from a page to the next and previous ones: the cursor alone."""
    if not operation_id:
        return {}
    return {rel: {"operationId": operation_id,
                  "parameters": {"cursor": f"$response.body#/page/{rel}_cursor"},
                  "description": f"The {word} page (while `page.has_{rel}`): the cursor "
                                 "alone carries the sort, filters and limit."}
            for rel, word in (("next", "next"), ("prev", "previous"))}


def _defaults_from_cursor(operation: dict) -> None:
    """A paged list's parameters have no fixed default: beside a cursor, the cursor's value.
    The default moves into the description, so generators do not send it (Python clients
    send every parameter that has a default, which would override the cursor's)."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {}) if isinstance(parameter, dict) else {}
        if parameter.get("in") == "query" and "default" in schema:
            default = json.dumps(schema.pop("default"))
            if parameter.get("name") == "cursor":
                continue
            parameter["description"] = (parameter.get("description", "") + f" Default "
                                        f"`{default.strip(chr(34))}`; beside a cursor, the "
                                        "one the cursor was made with.").strip()


def _complete_headers(code: str, response: dict, operation: dict) -> None:
    """Declare, typed, the headers the response of ``code`` carries (module docstring)."""
    headers = response.setdefault("headers", {})
    versioned = "304" in operation["responses"] or "412" in operation["responses"]
    if code == "304" or (versioned and code in ("200", "201") and "content" in response):
        headers.setdefault("ETag", dict(_ETAG))
    if code == "304" or (code[0] == "2" and "content" in response):
        headers.setdefault("Cache-Control", dict(_CACHE_CONTROL))
    if code in ("201", "202"):
        headers.setdefault("Location", dict(_LOCATION))
    if code == "202":
        headers.setdefault("Retry-After", dict(_ACCEPTED_RETRY))
    if code in ("200", "304") and _paged(operation):
        headers.setdefault("Link", dict(_LINK))
    if code == "200" and _paged(operation):
        links = response.setdefault("links", {})
        for rel, link in _page_links(operation.get("operationId")).items():
            links.setdefault(rel, link)
    for name, header in headers.items():
        if isinstance(header, dict) and name in HEADER_DESCRIPTIONS:
            header.setdefault("description", HEADER_DESCRIPTIONS[name])
            header.setdefault("schema", {"type": "string"})
    if code[0] in "23":  # errors carry them through their component responses
        for name, header in rate_limit_headers().items():
            headers.setdefault(name, header)
    if not headers:
        del response["headers"]


class ContractPlugin(BasePlugin):
    """Completes every operation of the document (see the module docstring)."""

    def path_helper(self, path=None, operations=None, parameters=None, **kwargs):
        for parameter in parameters or []:
            if parameter.get("in") == "path" and "description" not in parameter:
                parameter["description"] = PATH_PARAMETERS.get(
                    parameter["name"], "The id from the item's `id` field.")

    def schema_helper(self, name, definition, **kwargs):
        """What a schema says of itself beyond its fields (``class Meta: json_schema = {...}``):
        the rule a schema-level validator enforces (one field or another), so a client and a
        fuzzer see it too."""
        meta = getattr(kwargs.get("schema"), "Meta", None)
        return dict(getattr(meta, "json_schema", None) or {}) or None

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule = kwargs.get("rule")
        endpoint = rule.endpoint if rule is not None else ""
        for method, operation in (operations or {}).items():
            if endpoint:
                operation.setdefault("operationId", operation_id(endpoint))
            operation.setdefault("description", operation.get("summary", ""))
            # decorators key responses by int, the document by string
            responses = {str(k): v for k, v in operation.get("responses", {}).items()}
            operation["responses"] = responses
            for code in sorted(_error_codes(path or "", method, operation)):
                responses.setdefault(str(code), http.HTTPStatus(code).name)
            parameters = operation.setdefault("parameters", [])
            names = {p.get("name") for p in parameters if isinstance(p, dict)}
            if ("412" in responses or "428" in responses) and "If-Match" not in names:
                parameters.append(dict(IF_MATCH))
                if "If-Unmodified-Since" not in names:
                    parameters.append(dict(IF_UNMODIFIED_SINCE))
            if "304" in responses and "If-None-Match" not in names:
                parameters.append(dict(IF_NONE_MATCH))
            if not parameters:
                del operation["parameters"]
            if _paged(operation):
                _defaults_from_cursor(operation)
            if isinstance(responses.get("304"), str):  # a component's bare description
                responses["304"] = {"description": NOT_MODIFIED}
            for code, response in responses.items():
                if isinstance(response, dict):  # inline (success) responses, not $refs
                    _complete_headers(code, response, operation)
