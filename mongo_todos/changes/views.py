"""``GET /api/v1/todos/changes``: the changes feed's HTTP face (the logic is in feed.py).

Its own blueprint under the todos' prefix: the todos blueprint stays as it was, and the route
``/changes`` outranks ``/<todo_id>`` (a static path wins over a variable one in Werkzeug).
It shares the todos' request hooks (a token first, one value per query parameter).
"""

from __future__ import annotations

import functools

from flask import Flask, request
from marshmallow import RAISE, Schema, fields, validate

from mongo_todos.accounts import erasure
from mongo_todos.accounts.auth import current_owner
from mongo_todos.changes import feed
from mongo_todos.todos import sequence
from mongo_todos.todos import views as todo_views
from mongo_todos.web.api import Blueprint
from mongo_todos.web.fields import Text

blp = Blueprint("changes", __name__, url_prefix="/api/v1/todos/changes",
                description="Changes feed for syncing clients")
blp.before_request(todo_views._authenticate)
blp.before_request(todo_views._refuse_repeated_parameters)


class ChangesArgsSchema(Schema):
    since = Text(load_default=None, validate=validate.Length(1, 1000), metadata={
        "description": "The `since` token of your previous answer; omit it for a full sync "
                       "(every current todo, in pages)."})
    limit = fields.Integer(load_default=500, validate=validate.Range(1, 1000),
                           metadata={"description": "Changes per answer."})


_POLL_KEYS = frozenset(("since", "limit"))


def usual_poll(args) -> dict | None:
    """The arguments of a usual poll (``since`` and ``limit`` as plain values, or absent),
    as :class:`ChangesArgsSchema` loads them, without webargs' pass (a tenth of an empty poll);
    None for anything else, which webargs then parses (and answers with its 422s).
    tests/changes/test_feed.py compares the two on odd query strings."""
    if not args.keys() <= _POLL_KEYS:
        return None
    since, limit = args.get("since"), args.get("limit", "500")
    if since is not None and not (0 < len(since) <= 1000 and since.isascii()
                                  and "\x00" not in since):
        return None
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 4 and 1 <= int(limit) <= 1000):
        return None
    return {"since": since, "limit": int(limit)}


def _parsed_quickly(view):
    """Above ``blp.arguments``: a usual poll's arguments go to the view without webargs (the
    OpenAPI document and every other query string keep webargs' path)."""
    @functools.wraps(view)
    def quick(*args, **kwargs):
        parsed = usual_poll(request.args)
        if parsed is None:
            return view(*args, **kwargs)
        return view.__wrapped__(*args, parsed, **kwargs)  # as webargs' use_args calls it

    return quick


_CHANGE = {
    "type": "object", "required": ["id", "url", "deleted"],
    "description": "A todo as it is now, with `deleted: false` (every field of a todo, "
                   "`etag` included), or a tombstone `{id, url, deleted: true, deleted_at}`.",
    "properties": {"id": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                   "deleted": {"type": "boolean"},
                   "deleted_at": {"type": "string", "format": "date-time"}},
}


class ChangesPageSchema(Schema):
    # the change schema on the item field itself: as the list's "items" it was overwritten
    items = fields.List(fields.Dict(metadata=_CHANGE), required=True)
    since = fields.String(required=True, metadata={
        "description": "Opaque token: send it back as `since` (at once while `has_more`, "
                       "else at your next poll)."})
    has_more = fields.Boolean(required=True, metadata={
        "description": "More changes are ready: ask again with `since` now."})


@blp.route("", methods=["GET"])
@_parsed_quickly
@blp.arguments(ChangesArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, ChangesPageSchema)
@blp.alt_response(400, response="BAD_REQUEST", description="The token is not one this "
                  "service issued to this account (problem type sync-token-invalid).")
@blp.alt_response(410, response="GONE", description="The token is older than "
                  "SYNC_TOMBSTONE_TTL (problem type sync-token-expired): sync afresh.")
def all(args):  # noqa: A001 (the endpoint is changes.all, like todos.all)
    """What changed in the caller's todos since a sync token.

    Without `since`: every current todo, in pages. With it: each todo created or changed
    since, once, as it is now (`deleted: false`), and each todo deleted since (a tombstone,
    `deleted: true`). Apply the items in order; while `has_more`, ask again with the new
    `since` at once; then poll with it. A client doing so holds exactly the server's todos,
    whatever other clients write meanwhile (docs/sync.md).
    """
    page = feed.changes(current_owner(), args["since"], args["limit"],
                        todo_views.todo_url_base())
    return todo_views.json_response(
        {"items": page.items, "since": page.since, "has_more": page.has_more},
        headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Deleting an account also forgets its feed: its counter and tombstones."""
    erasure.register(app, sequence.forget)
