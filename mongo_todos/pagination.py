"""Cursor (keyset) pagination over MongoDB aggregation pipelines.

A view hands :func:`paginate` a base ``$match`` (owner and filters), the requested sort and the
client's cursor; it gets back a :class:`Page`. Each page is one pipeline::

    $match (base + keyset bound) -> $sort (key, _id) -> $limit (limit + 1) -> $project

with no ``$skip`` anywhere: with the ``(owner, key, _id)`` index declared for every sort on
:class:`~mongo_todos.models.Todo`, a page is an index range scan whose cost does not depend on
its depth. A ``prev`` page runs the same pipeline with the bound and the sort reversed, then
flips the result. The extra item fetched tells whether a page lies beyond.

Cursors are opaque to clients: a signed (itsdangerous, app ``SECRET_KEY``) record of the
boundary item's (sort key, id), the sort, the direction, and a fingerprint of the owner and the
filters, so a cursor cannot be forged, nor replayed against another sort, filter set or user.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from flask import current_app
from flask_smorest import abort
from itsdangerous import BadData, URLSafeSerializer

from .models import SORT_FIELDS

_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
_SALT = "mongo_todos.cursor.v1"
SORTS = tuple(sorted([*SORT_FIELDS, *(f"-{name}" for name in SORT_FIELDS)]))


@dataclass
class Page:
    """One page of items and what a client needs to move from it."""

    items: list[dict]
    limit: int
    has_next: bool
    has_prev: bool
    next_cursor: str | None
    prev_cursor: str | None
    total: int | None = None


def fingerprint(filters: dict) -> str:
    """A short digest of the filter set (owner included) a cursor is valid for."""
    canonical = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _encode_key(value) -> list:
    # JSON has no dates: store milliseconds since the epoch (what MongoDB keeps)
    if isinstance(value, datetime):
        return ["t", (value - _EPOCH) // _MS]
    return ["s", value]


def _decode_key(encoded):
    kind, value = encoded
    if kind == "t" and isinstance(value, int):
        return _EPOCH + value * _MS
    if kind == "s" and isinstance(value, str):
        return value
    raise ValueError("bad key")


def make_cursor(item: dict, field: str, sort: str, direction: str, fp: str) -> str:
    return _serializer().dumps(
        {"k": _encode_key(item[field]), "i": str(item["_id"]), "s": sort, "d": direction, "f": fp}
    )


def read_cursor(token: str, sort: str, fp: str) -> tuple[object, ObjectId, str]:
    """The (key, id, direction) of a cursor; 400 if it is not one of ours, 422 if it is
    for another sort or filter set."""
    try:
        data = _serializer().loads(token)
        key = _decode_key(data["k"])
        item_id = ObjectId(data["i"])
        direction = data["d"]
        if direction not in ("next", "prev"):
            raise ValueError("bad direction")
    except (BadData, KeyError, TypeError, ValueError, InvalidId):
        abort(
            400,
            message="The cursor is not one this service issued.",
            messages={"cursor": ["Not a valid cursor: it was altered or cut short."]},
        )
    if data.get("s") != sort:
        abort(
            422,
            message="The cursor belongs to another listing.",
            messages={"cursor": [f"This cursor is for sort {data.get('s')!r}, not {sort!r}."]},
        )
    if data.get("f") != fp:
        abort(
            422,
            message="The cursor belongs to another listing.",
            messages={"cursor": ["This cursor was made for other filters or another user."]},
        )
    return key, item_id, direction


def paginate(
    collection,
    match: dict,
    *,
    sort: str,
    limit: int,
    cursor: str | None,
    filters: dict,
    count: bool = False,
    projection: dict | None = None,
) -> Page:
    """The page of ``collection`` documents matching ``match`` that ``cursor`` points at."""
    descending = sort.startswith("-")
    field = SORT_FIELDS[sort.lstrip("-")]
    fp = fingerprint(filters)
    direction = "next"
    bounded = match
    if cursor is not None:
        key, item_id, direction = read_cursor(cursor, sort, fp)
        # moving forward on a descending sort, or backward on an ascending one, goes down
        down = descending == (direction == "next")
        op, op_or_equal = ("$lt", "$lte") if down else ("$gt", "$gte")
        # (key, _id) beyond the boundary. The range on the key bounds the index scan; each
        # $or branch is itself an index range that yields (key, _id) order, so the planner can
        # also merge the two (SORT_MERGE) and skip a long run of equal keys (undated todos)
        bound = {
            field: {op_or_equal: key},
            "$or": [{field: {op: key}}, {field: key, "_id": {op: item_id}}],
        }
        bounded = {"$and": [match, bound]}
    order = -1 if descending else 1
    if direction == "prev":
        order = -order
    pipeline = [
        {"$match": bounded},
        {"$sort": {field: order, "_id": order}},
        {"$limit": limit + 1},
    ]
    if projection:
        pipeline.append({"$project": projection})
    items = list(collection.aggregate(pipeline))
    more = len(items) > limit
    items = items[:limit]
    if direction == "prev":
        items.reverse()
        has_prev, has_next = more, True
    else:
        has_next, has_prev = more, cursor is not None
    return Page(
        items=items,
        limit=limit,
        has_next=has_next and bool(items),
        has_prev=has_prev and bool(items),
        next_cursor=make_cursor(items[-1], field, sort, "next", fp) if has_next and items else None,
        prev_cursor=make_cursor(items[0], field, sort, "prev", fp) if has_prev and items else None,
        total=collection.count_documents(match) if count else None,
    )
