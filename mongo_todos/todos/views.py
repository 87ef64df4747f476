"""Todos: create, read, replace, patch, delete, and the cursor-paginated list.

Every query is scoped by the caller's id, so another user's todo is a 404 exactly like a
missing one. Writes are single atomic operations (``find_one_and_update`` /
``find_one_and_delete``) whose filter carries the ``If-Match`` condition, so the precondition
check and the write cannot be separated by another client's write.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from bson import ObjectId
from flask import Response, current_app, request, url_for
from flask_jwt_extended import verify_jwt_in_request
from flask_smorest import abort
from marshmallow import RAISE, Schema, fields, validate
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from werkzeug.urls import iri_to_uri

from mongo_todos.accounts.auth import current_owner
from mongo_todos.dates import FAR_FUTURE, isoformat, utcnow
from mongo_todos.store.documents import IdempotencyRecord, Todo
from mongo_todos.todos.pagination import SORTS, paginate
from mongo_todos.todos.quota import check_todo_quota
from mongo_todos.todos.schemas import TodoInSchema, TodoPatchSchema, TodoSchema
from mongo_todos.todos.search import fold, search_match
from mongo_todos.web.api import Blueprint
from mongo_todos.web.fields import Text, Timestamp
from mongo_todos.web.request_body import json_object

blp = Blueprint("todos", __name__, url_prefix="/api/v1/todos", description="Todos")


# validated with fullmatch, never match + "$" (which also matches before a final newline)
_ID = re.compile(r"[0-9a-fA-F]{24}")
_VERSION = re.compile(r"[0-9]{1,18}")
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")
#: How long a client may retry a create with the same Idempotency-Key.
IDEMPOTENCY_TTL = timedelta(hours=24)
_NOT_FOUND = "No todo with this id."
_READ_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}
_ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": "The current version: "
                          "send it back in If-Match (writes) or If-None-Match (reads)."}}
_CACHE_HEADER = {"Cache-Control": {"schema": {"type": "string"},
                                   "description": "`private, no-cache`: revalidate with the ETag."}}
_LOCATION_HEADER = {"Location": {"schema": {"type": "string", "format": "uri"},
                                 "description": "The new todo's url."}}
_NOT_MODIFIED = "Not modified: the If-None-Match ETag is still current (no body)."
#: What a todo read fetches: the representation, the version (ETag) and the sort keys
#: (cursors); an inclusion list, so internal fields added later never leak.
_PROJECTION = {
    key: 1
    for key in ("name", "task", "done", "due_at", "tags", "created_at", "updated_at",
                "version", "name_key", "due_sort")
}


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
    repeated = sorted(k for k, values in request.args.lists() if len(values) > 1)
    if repeated:
        abort(422, message="A query parameter was given more than once: "
              + ", ".join(repeated) + ".",
              messages={k: ["Give this parameter once."] for k in repeated})


# --- storage helpers ------------------------------------------------------------------------

def collection():
    return Todo._get_collection()


def etag(todo: dict) -> str:
    """The strong ETag of a todo's current version."""
    return f'"{todo["_id"]}.{todo["version"]}"'


def stored_fields(data: dict) -> dict:
    """Validated input as stored, with the sort keys it implies."""
    fields_ = dict(data)
    if "name" in data:
        fields_["name_key"] = fold(data["name"])
    if "task" in data:
        fields_["task_key"] = fold(data["task"])
    if "due_at" in data:
        fields_["due_sort"] = data["due_at"] or FAR_FUTURE
    return fields_


def owned_filter(todo_id: str) -> dict:
    """The filter for the caller's todo ``todo_id``; 404 for an id that cannot exist."""
    if not _ID.fullmatch(todo_id):
        abort(404, message=_NOT_FOUND)
    return {"_id": ObjectId(todo_id), "owner": current_owner()}


def conditional_filter(todo_id: str) -> dict:
    """:func:`owned_filter` plus the request's ``If-Match`` as a condition on ``version``."""
    query = owned_filter(todo_id)
    if_match = request.if_match
    if not if_match and request.headers.get("If-Match", "").strip():
        # sent but unparseable (an unterminated quote, say): it matches no version, it is
        # not a missing header (which would write unconditionally)
        query["version"] = {"$in": []}
        return query
    if not if_match:
        if current_app.config["REQUIRE_IF_MATCH"]:
            abort(428, message="This write needs an If-Match header with the todo's ETag.")
        return query
    if if_match.star_tag:
        return query
    strong = if_match.as_set(include_weak=False)
    if not strong:
        # W/ tags never match in the strong comparison a write uses (RFC 9110 13.1.1): say
        # so, rather than that the todo changed (a refetch would give the same strong ETag)
        abort(412, message="Weak ETags (W/...) cannot be used for writes: send the todo's ETag "
                           "as the server returned it.", type="etag-weak")
    prefix = f"{query['_id']}."
    versions = []
    for tag in strong:
        # an empty entity-tag ("") parses as None: it matches no version
        if tag and tag.startswith(prefix) and _VERSION.fullmatch(tag[len(prefix):]):
            versions.append(int(tag[len(prefix):]))
    query["version"] = {"$in": versions}
    return query


def missing_or_changed(query: dict):
    """Abort after a conditional write matched nothing: 412 if the todo exists, else 404."""
    if "version" in query:
        exists = collection().find_one({"_id": query["_id"], "owner": query["owner"]}, {"_id": 1})
        if exists is not None:
            abort(412, message="The todo has changed since that ETag; fetch it again.")
    abort(404, message=_NOT_FOUND)


def todo_url_base() -> str:
    """``http://host/api/v1/todos/``: built once per request, each todo's url appends its id."""
    return url_for("todos.all", _external=True) + "/"


def to_json(todo: dict, base: str) -> dict:
    """A stored todo as the API shows it (:class:`~mongo_todos.schemas.TodoSchema` documents
    this shape; a test pins the two to each other). Written out by hand: it runs for every
    todo of every response, and is several times faster than a schema dump."""
    todo_id = str(todo["_id"])
    return {
        "id": todo_id,
        "url": base + todo_id,
        "name": todo["name"],
        "task": todo.get("task", ""),
        "done": todo.get("done", False),
        "due_at": isoformat(todo.get("due_at")),
        "tags": todo.get("tags", []),
        "created_at": isoformat(todo["created_at"]),
        "updated_at": isoformat(todo["updated_at"]),
    }


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    response = current_app.json.response(body)
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def represent(todo: dict, status: int = 200, **headers) -> Response:
    """A todo response: body, ETag and cache headers."""
    return json_response(to_json(todo, todo_url_base()), status,
                         {"ETag": etag(todo), **_READ_HEADERS, **headers})


def update(todo_id: str, changes: dict):
    """Apply ``changes`` atomically under the request's conditions."""
    query = conditional_filter(todo_id)
    todo = collection().find_one_and_update(
        query,
        {"$set": {**stored_fields(changes), "updated_at": utcnow()}, "$inc": {"version": 1}},
        projection=_PROJECTION,
        return_document=ReturnDocument.AFTER,
    )
    if todo is None:
        missing_or_changed(query)
    return represent(todo)


# --- views ----------------------------------------------------------------------------------

def _query_flag(**kwargs) -> fields.Boolean:
    """A boolean query parameter: exactly ``true`` or ``false`` (not 1, yes, on...)."""
    flag = fields.Boolean(truthy={"true"}, falsy={"false"}, **kwargs)
    # the same words as a body's boolean field (StrictBoolean)
    flag.error_messages = {**flag.error_messages, "invalid": "Not a valid boolean: use true or false."}
    return flag


class ListArgsSchema(Schema):
    """Query parameters of the list."""

    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100),
                           metadata={"description": "Todos per page."})
    cursor = Text(load_default=None, validate=validate.Length(1, 1000), metadata={
        "description": "Opaque: the `next_cursor`/`prev_cursor` of a previous page (or just "
                       "follow `links`). Valid only with the same sort and filters: another "
                       "is a 422, an altered one a 400."})
    sort = Text(load_default="-created_at", validate=validate.OneOf(SORTS), metadata={
        "description": "Sort key, `-` for descending; ties are broken by id. Todos with no "
                       "`due_at` sort as due infinitely late (last ascending, first "
                       "descending).",
        # names for generated clients' enums (else VALUE_0.. for the descending ones)
        "x-enum-varnames": [key.lstrip("-").upper() + ("_DESC" if key[0] == "-" else "")
                            for key in SORTS]})
    done = _query_flag(metadata={"description": "Only done (`true`) or open (`false`) todos."})
    tag = Text(validate=validate.Length(1, 50), metadata={
        "description": "Only todos carrying this exact tag."})
    q = Text(validate=validate.Length(1, 200), metadata={"description": (
        "Todos whose name or task contains this text, matched literally and ignoring case "
        "(full Unicode case folding: 'STRASSE' finds 'Straße'; 'i' does not find dotless 'ı'). "
        "Other filters and q narrow the page; the scan still follows the sort's index.")})
    due_before = Timestamp(example=None, metadata={
        "description": "Only todos due strictly before this instant (RFC 3339)."})
    due_after = Timestamp(example=None, metadata={
        "description": "Only todos due strictly after this instant (RFC 3339); undated todos "
                       "are never included."})
    count = _query_flag(load_default=False, metadata={
        "description": "`true` adds `page.total`, the number of matching todos (one more "
                       "query)."})


class PageMetaSchema(Schema):
    limit = fields.Integer(required=True, metadata={"example": 20})
    has_next = fields.Boolean(required=True)
    has_prev = fields.Boolean(required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "Cursor of the next page, or null on the last."})
    prev_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "Cursor of the previous page, or null on the first."})
    total = fields.Integer(metadata={"description": "Only with count=true"})


class LinksSchema(Schema):
    self = fields.String(required=True, metadata={"format": "uri"})
    first = fields.String(required=True, metadata={"format": "uri"})
    next = fields.String(required=True, allow_none=True, metadata={
        "format": "uri", "description": "The next page, or null on the last: follow it."})
    prev = fields.String(required=True, allow_none=True, metadata={
        "format": "uri", "description": "The previous page, or null on the first."})


class TodoPageSchema(Schema):
    items = fields.List(fields.Nested(TodoSchema), required=True)
    page = fields.Nested(PageMetaSchema, required=True)
    links = fields.Nested(LinksSchema, required=True)


def _list_match(args: dict) -> tuple[dict, dict]:
    """The ``$match`` for the list, and the filter set its cursors are bound to."""
    owner = current_owner()
    match: dict = {"owner": owner}
    filters = {"owner": str(owner)}
    if "done" in args:
        match["done"] = filters["done"] = args["done"]
    if "tag" in args:
        match["tags"] = filters["tag"] = args["tag"]
    if "q" in args:
        match.update(search_match(args["q"]))
        filters["q"] = args["q"]
    due: dict = {}
    # due_sort, not due_at: it is always a date, so undated todos never meet a null comparison
    if "due_before" in args:
        due["$lt"] = filters["due_before"] = args["due_before"]
    if "due_after" in args:
        due["$gt"] = filters["due_after"] = args["due_after"]
        due.setdefault("$lt", FAR_FUTURE)
    if due:
        match["due_sort"] = due
    return match, filters


def _page_url(cursor: str | None) -> str:
    params = {k: v for k, v in request.args.items() if k != "cursor"}
    if cursor:
        params["cursor"] = cursor
    return url_for("todos.all", _external=True, **params)


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
    match, filters = _list_match(args)
    page = paginate(
        collection(),
        match,
        sort=args["sort"],
        limit=args["limit"],
        cursor=args["cursor"],
        filters=filters,
        count=args["count"],
        projection=_PROJECTION,
    )
    meta = {
        "limit": page.limit,
        "has_next": page.has_next,
        "has_prev": page.has_prev,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }
    if page.total is not None:
        meta["total"] = page.total
    links = {
        "self": iri_to_uri(request.url),  # a URI: non-ASCII query text percent-encoded
        "first": _page_url(None),
        "next": _page_url(page.next_cursor) if page.next_cursor else None,
        "prev": _page_url(page.prev_cursor) if page.prev_cursor else None,
    }
    link_header = ", ".join(
        f'<{links[rel]}>; rel="{rel}"' for rel in ("next", "prev", "first") if links[rel]
    )
    # the page is a function of the URL and the versions of its items (and the total)
    digest = hashlib.sha256(f"{request.url}|{page.total}|{page.has_prev}|{page.has_next}".encode())
    for todo in page.items:
        digest.update(f"|{todo['_id']}.{todo['version']}".encode())
    tag = digest.hexdigest()[:32]
    headers = {"Link": link_header, "ETag": f'"{tag}"', **_READ_HEADERS}
    if request.if_none_match.contains_weak(tag):
        return Response(status=304, headers=headers)
    base = todo_url_base()
    items = [to_json(todo, base) for todo in page.items]
    return json_response({"items": items, "page": meta, "links": links}, headers=headers)


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
        return _created(_insert(data, ObjectId()))
    return _create_idempotently(key, data)


def _insert(data: dict, todo_id: ObjectId) -> dict:
    """Store a new todo with id ``todo_id``; the stored document.

    One insert on the raw collection: the input schema has validated every field already, so
    building a MongoEngine document only to validate and convert it again would be repeated work.
    """
    check_todo_quota(current_owner())
    now = utcnow()
    todo = {"_id": todo_id, "owner": current_owner(), "task": "", "task_key": "", "done": False,
            "due_at": None, "due_sort": FAR_FUTURE, "tags": [], **stored_fields(data),
            "created_at": now, "updated_at": now, "version": 1}
    collection().insert_one(todo)
    return todo


def _created(todo: dict) -> Response:
    base = todo_url_base()
    return json_response(to_json(todo, base), 201, {
        "Location": base + str(todo["_id"]), "ETag": etag(todo), **_READ_HEADERS})


def _create_idempotently(key: str, data: dict):
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        abort(422, message="The Idempotency-Key header is not valid.",
              messages={"Idempotency-Key": ["Use 1 to 255 visible ASCII characters."]})
    body = json_object()
    fingerprint = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    record = _reserve(f"{current_owner()}:{key}", fingerprint)
    if record["fingerprint"] != fingerprint:
        abort(422, message="This Idempotency-Key was used with a different body.",
              messages={"Idempotency-Key": ["Already used with a different body; use a new key."]})
    if record.get("response"):
        replay = record["response"]
        return json_response(replay["body"], 201, {
            "Location": replay["location"], "ETag": replay["etag"],
            "Idempotent-Replayed": "true", **_READ_HEADERS})
    try:
        todo = _insert(data, record["todo_id"])
    except DuplicateKeyError:  # an earlier attempt created it and stopped before recording it
        todo = collection().find_one({"_id": record["todo_id"], "owner": current_owner()},
                                     _PROJECTION)
        if todo is None:
            abort(409, message="This Idempotency-Key belongs to a request that cannot be replayed.")
    response = _created(todo)
    IdempotencyRecord.objects(key=record["_id"]).update_one(set__response={
        "body": response.get_json(), "etag": response.headers["ETag"],
        "location": response.headers["Location"],
    })
    return response


def _reserve(record_key: str, fingerprint: str) -> dict:
    """The idempotency record for ``record_key``: inserted now, or the live one already there.

    MongoDB's TTL monitor runs once a minute and may lag further, so a record can be past its
    ``expires_at`` yet present (it is expired: this request takes its place), or be deleted
    between the duplicate-key error and the lookup (then the key is free: reserve it again).
    """
    records = IdempotencyRecord._get_collection()
    for _ in range(3):
        now = utcnow()
        record = {"_id": record_key, "fingerprint": fingerprint, "todo_id": ObjectId(),
                  "expires_at": now + IDEMPOTENCY_TTL}
        try:
            records.insert_one(record)
            return record
        except DuplicateKeyError:
            pass
        existing = records.find_one({"_id": record_key})
        if existing is None:
            continue  # removed by the TTL monitor meanwhile
        if existing["expires_at"] > now:
            return existing
        # expired but not removed yet: replace it, unless another retry replaced it first
        if records.replace_one({"_id": record_key, "expires_at": existing["expires_at"]},
                               record).modified_count:
            return record
    abort(409, message="Requests with this Idempotency-Key keep racing each other; retry.")


@blp.route("/<todo_id>", methods=["GET"])
@blp.response(200, TodoSchema, headers={**_ETAG_HEADER, **_CACHE_HEADER})
@blp.alt_response(304, description=_NOT_MODIFIED, headers={**_ETAG_HEADER, **_CACHE_HEADER})
def get(todo_id):
    """Return a todo.

    With `If-None-Match` set to the ETag you hold, an unchanged todo is a 304 with no body.
    """
    todo = collection().find_one(owned_filter(todo_id), _PROJECTION)
    if todo is None:
        abort(404, message=_NOT_FOUND)
    tag = etag(todo)
    if request.if_none_match.contains_weak(tag.strip('"')):
        return Response(status=304, headers={"ETag": tag, **_READ_HEADERS})
    return represent(todo)


@blp.route("/<todo_id>", methods=["PUT"])
@blp.arguments(TodoInSchema())
@blp.response(200, TodoSchema, headers={**_ETAG_HEADER, **_CACHE_HEADER})
def put(data, todo_id):
    """Replace a todo: omitted optional fields go back to their defaults.

    Send `If-Match` with the ETag you read to make sure nobody changed it meanwhile (412).
    """
    return update(todo_id, data)


@blp.route("/<todo_id>", methods=["PATCH"])
@blp.arguments(TodoPatchSchema(), required=False, example={"done": True},
               description="The fields to change; optional: no body (like `{}`) changes "
                           "nothing and returns the todo.")
@blp.response(200, TodoSchema, headers={**_ETAG_HEADER, **_CACHE_HEADER})
def patch(data, todo_id):
    """Change the given fields of a todo; an empty object changes nothing.

    Fields not sent keep their values. Send `If-Match` with the ETag you read to make sure
    nobody changed it meanwhile (412).
    """
    if not data:
        query = conditional_filter(todo_id)
        todo = collection().find_one(query, _PROJECTION)
        if todo is None:
            missing_or_changed(query)
        return represent(todo)
    return update(todo_id, data)


@blp.route("/<todo_id>", methods=["DELETE"])
@blp.response(204)
def delete(todo_id):
    """Delete a todo.

    `If-Match` is honoured as for writes (412 if the todo changed since that ETag).
    """
    query = conditional_filter(todo_id)
    if not collection().delete_one(query).deleted_count:
        missing_or_changed(query)
    return "", 204
