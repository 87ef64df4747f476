"""Todos: create, read, replace, patch, delete, and the cursor-paginated list.

Thin views: each parses the request, calls the store (``store.py``: every driver call, scoped
by the caller's id, so another user's todo is a 404 exactly like a missing one), the
conditional-request rules (``conditional.py``) or the Idempotency-Key records
(``idempotency.py``), and shapes the answer: body, ETag, cache and link headers.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from flask import Response, current_app, request, url_for
from flask_jwt_extended import verify_jwt_in_request
from flask_smorest import abort
from marshmallow import RAISE
from werkzeug.routing import UnicodeConverter
from werkzeug.urls import iri_to_uri

from mongo_todos.accounts.auth import current_owner
from mongo_todos.todos import conditional, idempotency, store
from mongo_todos.todos.pagination import Page, remembered
from mongo_todos.todos.schemas import (
    ListArgsSchema,
    TodoInSchema,
    TodoPageSchema,
    TodoPatchSchema,
    TodoSchema,
)
from mongo_todos.web.api import Blueprint

blp = Blueprint("todos", __name__, url_prefix="/api/v1/todos", description="Todos")


class TodoIdConverter(UnicodeConverter):
    """A todo id in a URL: any one path segment but ``changes``, which is the changes feed's
    (mongo_todos.changes); without it ``/todos/changes`` would also match ``/todos/<id>``, and
    its ``Allow`` would list PUT, PATCH and DELETE. (A string in the OpenAPI document, as
    before: it is a UnicodeConverter.)"""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (Werkzeug's name)
        super().__init__(map, *args, **kwargs)
        self.regex = r"(?!changes$)[^/]{1,}"  # {1,}: flask-smorest reads minLength from it


# before the routes below (deferred functions run in the order they were recorded)
blp.record_once(lambda state: state.app.url_map.converters.setdefault("todo_id", TodoIdConverter))


_READ_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}
_ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": "The current version: "
                          "send it back in If-Match (writes) or If-None-Match (reads)."}}
_CACHE_HEADER = {"Cache-Control": {"schema": {"type": "string"},
                                   "description": "`private, no-cache`: revalidate with the ETag."}}
_LOCATION_HEADER = {"Location": {"schema": {"type": "string", "format": "uri"},
                                 "description": "The new todo's url."}}
_NOT_MODIFIED = "Not modified: the If-None-Match ETag is still current (no body)."
_GONE = ("You deleted this todo (perhaps on another device; problem type todo-deleted), "
         "within SYNC_TOMBSTONE_TTL. Another account's deleted todo is a 404.")


@blp.before_request
def _authenticate():
    # before argument parsing: a request without a valid token is a 401, whatever it carries;
    # CORS preflights carry no credentials and are answered without them
    if request.method != "OPTIONS":
        verify_jwt_in_request()


@blp.before_request
def _refuse_repeated_parameters():
    # every query parameter takes one value; webargs would silently use the first of several,
    # so `?limit=5&limit=50` would answer for a request the client did not mean
    if b"&" not in request.query_string:  # one parameter or none: nothing can repeat
        return
    repeated = sorted(k for k, values in request.args.lists() if len(values) > 1)
    if repeated:
        abort(422, message="A query parameter was given more than once: "
              + ", ".join(repeated) + ".",
              messages={k: ["Give this parameter once."] for k in repeated})



# --- answers --------------------------------------------------------------------------------

#: The environ keys an external URL is built from (the app's own settings are fixed).
_URL_KEYS = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")
_URL_BASES = "mongo_todos_todo_url_bases"


def todo_url_base() -> str:
    """``http://host/api/v1/todos/``: each todo's url appends its id. Remembered per scheme,
    host and prefix (url_for builds the same string each time, at a measurable cost per
    request); bounded, since a client chooses its own Host header."""
    environ = request.environ
    key = tuple(environ.get(name) for name in _URL_KEYS)
    bases = current_app.extensions.setdefault(_URL_BASES, {})
    base = bases.get(key)
    if base is None:
        if len(bases) >= 64:
            bases.clear()
        base = bases[key] = url_for("todos.all", _external=True) + "/"
    return base


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    response = current_app.json.response(body)
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def represent(todo: dict, status: int = 200, **headers) -> Response:
    """A todo response: body, ETag and cache headers."""
    return json_response(store.to_json(todo, todo_url_base()), status,
                         {"ETag": store.etag(todo), **_READ_HEADERS, **headers})


def _conditional_filter(todo_id: str) -> dict:
    """The caller's todo ``todo_id``, under the request's ``If-Match``."""
    return conditional.if_match(store.owned_filter(current_owner(), todo_id))


#: What url_for leaves as it is in a query string (Werkzeug's: the WHATWG query-safe bytes).
_QUERY_SAFE = "!$'()*,/:;?@"


def _page_url(cursor: str | None) -> str:
    """The list's URL with this request's parameters and ``cursor``: what
    ``url_for("todos.all", _external=True, **params)`` builds (a test pins the two to each
    other), from the remembered base instead of a route build per link."""
    params = [(k, v) for k, v in request.args.items() if k != "cursor"]
    if cursor:
        params.append(("cursor", cursor))
    base = todo_url_base()[:-1]
    return f"{base}?{urlencode(params, safe=_QUERY_SAFE)}" if params else base


def _listing_query() -> dict[str, str]:
    """The list's query parameters as sent, with those a cursor filled in: what the page's
    cursors remember."""
    sent = {k: v for k, v in request.args.items() if k != "cursor"}
    return {**remembered(request.args.get("cursor")), **sent}


def _page_meta(page: Page) -> dict:
    meta = {
        "limit": page.limit,
        "has_next": page.has_next,
        "has_prev": page.has_prev,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }
    if page.total is not None:
        meta["total"] = page.total
    return meta


def _page_links(page: Page) -> dict:
    return {
        "self": iri_to_uri(request.url),  # a URI: non-ASCII query text percent-encoded
        "first": _page_url(None),
        "next": _page_url(page.next_cursor) if page.next_cursor else None,
        "prev": _page_url(page.prev_cursor) if page.prev_cursor else None,
    }


def _page_tag(page: Page) -> str:
    """The page's ETag (unquoted): a function of the URL and the versions of its items (and
    the total)."""
    digest = hashlib.sha256(f"{request.url}|{page.total}|{page.has_prev}|{page.has_next}".encode())
    for todo in page.items:
        digest.update(f"|{todo['_id']}.{todo['version']}".encode())
    return digest.hexdigest()[:32]


# --- views ----------------------------------------------------------------------------------

@blp.route("", methods=["GET"])
@blp.arguments(ListArgsSchema(), location="query", unknown=RAISE)  # typos are errors
@blp.response(200, TodoPageSchema, headers={
    "Link": {"schema": {"type": "string"},
             "description": "RFC 8288 links to the `next`, `prev` and `first` pages."},
    **_ETAG_HEADER, **_CACHE_HEADER})
@blp.alt_response(304, description=_NOT_MODIFIED, headers={**_ETAG_HEADER, **_CACHE_HEADER})
def all(args):  # noqa: A001 (the endpoint is todos.all)
    """List the caller's todos, a page at a time.

    Cursor pagination: follow `links.next` until it is null to visit every matching todo
    exactly once, in order, even while todos are added or removed meanwhile; `links.prev` walks
    back. Filters combine (AND).
    """
    page = store.page(current_owner(), args, carry=_listing_query())
    links = _page_links(page)
    tag = _page_tag(page)
    headers = {"Link": ", ".join(f'<{links[rel]}>; rel="{rel}"'
                                 for rel in ("next", "prev", "first") if links[rel]),
               "ETag": f'"{tag}"', **_READ_HEADERS}
    if conditional.not_modified(tag):
        return Response(status=304, headers=headers)
    base = todo_url_base()
    items = [store.to_json(todo, base) for todo in page.items]
    return json_response({"items": items, "page": _page_meta(page), "links": links},
                         headers=headers)


@blp.route("", methods=["POST"])
@blp.arguments(TodoInSchema())
@blp.response(201, TodoSchema, headers={
    **_LOCATION_HEADER, **_ETAG_HEADER, **_CACHE_HEADER,
    "Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                            "description": "`true` when this is the first response to an "
                                           "earlier request with the same Idempotency-Key, "
                                           "replayed: no second todo was created."}})
@blp.alt_response(409, response="CONFLICT")  # TODO_QUOTA reached (type quota-exceeded)
@blp.doc(responses={201: {"links": {  # what a client (or a stateful fuzzer) can do next
    name: {"operationId": operation, "parameters": {"todo_id": "$response.body#/id"},
           "description": description}
    for name, operation, description in [
        ("GetTodo", "getTodo", "Read the new todo."),
        ("UpdateTodo", "updateTodo", "Change some of its fields."),
        ("ReplaceTodo", "replaceTodo", "Replace it."),
        ("DeleteTodo", "deleteTodo", "Delete it."),
    ]}}})
@blp.doc(parameters=[{
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Retry-safe creation: a retry with the same key and body returns the "
                   "original 201 without creating a second todo (keys live 24 hours).",
}])
def new(data):
    """Create a todo.

    Only `name` is required. With an `Idempotency-Key`, a retry after a lost response
    returns the first response (header `Idempotent-Replayed: true`) instead of a second todo.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _created(store.create(current_owner(), data))
    record = idempotency.reserve(current_owner(), key)
    if replay := record.get("response"):
        return json_response(replay["body"], 201, {
            "Location": replay["location"], "ETag": replay["etag"],
            "Idempotent-Replayed": "true", **_READ_HEADERS})
    response = _created(idempotency.create_once(record, current_owner(), data))
    idempotency.remember(record, response.get_json(), response.headers["ETag"],
                         response.headers["Location"])
    return response


def _created(todo: dict) -> Response:
    base = todo_url_base()
    return json_response(store.to_json(todo, base), 201, {
        "Location": base + str(todo["_id"]), "ETag": store.etag(todo), **_READ_HEADERS})


@blp.route("/<todo_id:todo_id>", methods=["GET"])
@blp.response(200, TodoSchema, headers={**_ETAG_HEADER, **_CACHE_HEADER})
@blp.alt_response(304, description=_NOT_MODIFIED, headers={**_ETAG_HEADER, **_CACHE_HEADER})
@blp.alt_response(410, response="GONE", description=_GONE)
def get(todo_id):
    """Return a todo.

    With `If-None-Match` set to the ETag you hold, an unchanged todo is a 304 with no body.
    """
    todo = store.get(store.owned_filter(current_owner(), todo_id))
    tag = store.etag(todo)
    if conditional.not_modified(tag.strip('"')):
        return Response(status=304, headers={"ETag": tag, **_READ_HEADERS})
    return represent(todo)


@blp.route("/<todo_id:todo_id>", methods=["PUT"])
@blp.arguments(TodoInSchema())
@blp.response(200, TodoSchema, headers={**_ETAG_HEADER, **_CACHE_HEADER})
@blp.alt_response(201, schema=TodoSchema, description="Created at this id (with "
                  "`If-None-Match: *`).", headers={**_LOCATION_HEADER, **_ETAG_HEADER,
                                                   **_CACHE_HEADER})
@blp.alt_response(410, response="GONE", description=_GONE)
@blp.doc(parameters=[{
    "in": "header", "name": "If-None-Match", "required": False,
    "schema": {"type": "string", "enum": ["*"]},
    "description": "`*`: create the todo at this id (an ObjectId you made) if it is unused: "
                   "201. An id in use, in any account, or lately deleted, is a 412.",
}])
def put(data, todo_id):
    """Replace a todo: omitted optional fields go back to their defaults.

    Send `If-Match` with the ETag you read to make sure nobody changed it meanwhile (412).
    With `If-None-Match: *` instead, the todo is created at this id (a client creating
    offline keeps the ids it made): 201, or 412 if the id is taken.
    """
    if request.if_none_match.star_tag:
        return _created(store.create_at(current_owner(), todo_id, data))
    return represent(store.update(_conditional_filter(todo_id), data))


@blp.route("/<todo_id:todo_id>", methods=["PATCH"])
@blp.arguments(TodoPatchSchema(), required=False, example={"done": True},
               description="The fields to change; optional: no body (like `{}`) changes "
                           "nothing and returns the todo.")
@blp.response(200, TodoSchema, headers={**_ETAG_HEADER, **_CACHE_HEADER})
@blp.alt_response(410, response="GONE", description=_GONE)
def patch(data, todo_id):
    """Change the given fields of a todo; an empty object changes nothing.

    Fields not sent keep their values. Send `If-Match` with the ETag you read to make sure
    nobody changed it meanwhile (412).
    """
    query = _conditional_filter(todo_id)
    return represent(store.update(query, data) if data else store.get(query))


@blp.route("/<todo_id:todo_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(410, response="GONE", description=_GONE)
def delete(todo_id):
    """Delete a todo.

    `If-Match` is honoured as for writes (412 if the todo changed since that ETag).
    """
    store.delete(_conditional_filter(todo_id))
    return "", 204
