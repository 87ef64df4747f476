"""Cursor (keyset) pagination over MongoDB aggregation pipelines.

The todo store (``store.py``) hands :func:`paginate` a base ``$match`` (owner and filters), the
requested sort and the client's cursor; it gets back a :class:`Page`. Every query is one pipeline::

    $match (base + keyset bound) -> $sort (key, _id) -> $limit -> $project

with no ``$skip`` anywhere, run with the sort's ``(owner, key, _id)`` index as its ``hint``.

**Each page is an exact index range.** A bound written as one filter,
``key >= k AND (key > k OR (key = k AND _id > id))``, is planned by MongoDB as a scan of
``[k, end]`` with the ``$or`` as a filter on the fetched documents: every page re-reads every
entry equal to ``k`` it already returned, so walking a long run of equal keys (undated todos
all share one ``due_sort``) is quadratic. A page after a cursor therefore runs up to two
queries, each a contiguous range of the index:

1. the rest of the run of equal keys: ``key = k AND _id > id`` (bounds on all three fields),
   skipped when the previous page showed that the run ended at the cursor (its look-ahead
   item going forward; going back, its edge item's key differing from its own cursor's): the
   usual case for distinct keys, where a page is one query either way;
2. only if (1) returned fewer than ``limit + 1`` items: keys strictly beyond ``k``.

So a page reads at most ``limit + 2`` index entries and ``limit + 1`` documents however deep it
is, as the first page does (filters other than the owner are applied to the documents the
range yields, so a selective filter reads more of the owner's todos; see the README). The first page is one query. A ``prev`` page runs the same queries
with the bound and the sort reversed, then flips the result. The extra item fetched tells
whether a page lies beyond.

**The sort's index is pinned** (``hint``): with another index usable for a filter (``due_sort``
ranges, say), the planner could otherwise pick it, sort in memory and cache that plan. The hint
is the index's key pattern, not its name, so an index with those keys under another name serves
(it passes /readyz too). (mongomock
ignores ``hint``; the integration suite checks the plans on MongoDB.)

**Cursors are opaque**: the boundary item's (sort key, id), the sort, the direction and a
fingerprint of the owner and the filters, encrypted and authenticated with AES-256-GCM under a
key derived (HKDF-SHA256) from the app's ``SECRET_KEY``. A cursor cannot be read (the sort key
may be a todo's name), forged, nor replayed against another sort, filter set or user.
A cursor also carries the query parameters of the listing it was made for (``a``: sort,
filters, limit, count, as sent): a request with the cursor alone gets the same listing
(:func:`remembered`), so a typed client follows a page with its cursor and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_smorest import abort

from mongo_todos.store.documents import SORT_FIELDS, index_keys

_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
#: Binds the derived key and every cursor to this purpose and format version.
_PURPOSE = b"mongo_todos.cursor.v2"
_NONCE_BYTES = 12
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


@functools.lru_cache(maxsize=8)
def _cipher(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        secret.encode())
    return AESGCM(key)


def seal(data: dict) -> str:
    """``data`` as an opaque, authenticated token (URL-safe base64, no padding)."""
    nonce = os.urandom(_NONCE_BYTES)  # random 96-bit nonces: safe far beyond 2**32 cursors per key
    # UTF-8, not \u escapes: a name or q of non-ASCII text costs 2-4 bytes a character, not 6-12
    plain = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = _cipher(current_app.config["SECRET_KEY"]).encrypt(nonce, plain, _PURPOSE)
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def unseal(token: str) -> dict:
    """The data of a token made by :func:`seal`; ValueError if it was not, or was altered."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
    if len(raw) <= _NONCE_BYTES:
        raise ValueError("too short")
    try:
        plain = _cipher(current_app.config["SECRET_KEY"]).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _PURPOSE)
    except InvalidTag:
        raise ValueError("not authentic") from None
    data = json.loads(plain)
    if not isinstance(data, dict):
        raise ValueError("not a cursor")
    return data


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


def make_cursor(item: dict, field: str, sort: str, direction: str, fp: str,
                tie: bool = True, carry: dict | None = None) -> str:
    """A cursor after ``item``. ``tie``: whether todos sharing ``item``'s key may lie beyond
    it (false only when the look-ahead item showed that the run of its key ends there);
    ``carry``: the listing's query parameters, for :func:`remembered`."""
    data = {"k": _encode_key(item[field]), "i": str(item["_id"]), "s": sort, "d": direction,
            "f": fp}
    if not tie:
        data["t"] = 0
    if carry:
        data["a"] = carry
    return seal(data)


def remembered(token: str | None) -> dict[str, str]:
    """The query parameters the listing of cursor ``token`` was made with; {} without them
    or for a cursor that is not ours (:func:`read_cursor` then refuses it)."""
    if not token:
        return {}
    try:
        carried = unseal(token).get("a")
    except ValueError:  # not ours, altered, not JSON, not UTF-8
        return {}
    if not isinstance(carried, dict):
        return {}
    return {k: v for k, v in carried.items() if isinstance(k, str) and isinstance(v, str)}


def read_cursor(token: str, sort: str, fp: str) -> tuple[object, ObjectId, str, bool]:
    """The (key, id, direction, tie) of a cursor; 400 if it is not one of ours, 422 if it is
    for another sort or filter set."""
    try:
        data = unseal(token)
        key = _decode_key(data["k"])
        item_id = ObjectId(data["i"])
        direction = data["d"]
        if direction not in ("next", "prev"):
            raise ValueError("bad direction")
        tie = data.get("t", 1) != 0
    except (KeyError, TypeError, ValueError, InvalidId):
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
    return key, item_id, direction, tie


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
    carry: dict | None = None,
) -> Page:
    """The page of ``collection`` documents matching ``match`` that ``cursor`` points at."""
    field = SORT_FIELDS[sort.lstrip("-")]
    fp = fingerprint(filters)
    order = -1 if sort.startswith("-") else 1
    if cursor is None:
        direction, key = "next", None
        items = _run(collection, match, field, order, limit + 1, projection)
    else:
        key, item_id, direction, tie = read_cursor(cursor, sort, fp)
        if direction == "prev":
            order = -order
        items = _after_cursor(collection, match, field, order, (key, item_id, tie), limit,
                              projection)
    more = len(items) > limit
    # the look-ahead item tells whether the run of the last key goes on past this page: when
    # it does not, the cursor says so and the next page skips query 1 (one round trip)
    tie_ahead = more and items[limit][field] == items[limit - 1][field]
    items = items[:limit]
    if direction == "prev":
        items.reverse()
        has_prev, has_next = more, True
        # the cursor's item follows items[-1]: any todo between them sharing items[-1]'s key
        # would have been read instead, so a different key at the cursor ends that run
        next_tie, prev_tie = (not items or items[-1][field] == key), tie_ahead
    else:
        has_next, has_prev = more, cursor is not None
        # likewise the cursor's item precedes items[0]
        next_tie, prev_tie = tie_ahead, (cursor is None or not items or items[0][field] == key)
    has_next, has_prev = has_next and bool(items), has_prev and bool(items)
    return Page(
        items=items,
        limit=limit,
        has_next=has_next,
        has_prev=has_prev,
        next_cursor=(make_cursor(items[-1], field, sort, "next", fp, next_tie, carry)
                     if has_next else None),
        prev_cursor=(make_cursor(items[0], field, sort, "prev", fp, prev_tie, carry)
                     if has_prev else None),
        total=collection.count_documents(match) if count else None,
    )


def _run(collection, query: dict, field: str, order: int, n: int,
         projection: dict | None) -> list[dict]:
    """The first ``n`` documents matching ``query`` in ``(field, _id)`` order ``order``: one
    pipeline, pinned to the sort's index."""
    pipeline = [
        {"$match": query},
        {"$sort": {field: order, "_id": order}},
        {"$limit": n},
    ]
    if projection:
        pipeline.append({"$project": projection})
    return list(collection.aggregate(pipeline, hint=index_keys(field)))


def _after_cursor(collection, match: dict, field: str, order: int, position: tuple,
                  limit: int, projection: dict | None) -> list[dict]:
    """Up to ``limit + 1`` documents past the cursor ``position`` (key, id, tie) in ``order``:
    two exact index ranges (see the module docstring)."""
    key, item_id, tie = position
    # moving forward on a descending sort, or backward on an ascending one, goes down
    op = "$lt" if order == -1 else "$gt"
    # the rest of the run of key k ...
    items = []
    if tie:
        items = _run(collection, {"$and": [match, {field: key, "_id": {op: item_id}}]},
                     field, order, limit + 1, projection)
    if len(items) <= limit:
        # ... then, only when that run ends within the page, the keys beyond k
        items += _run(collection, {"$and": [match, {field: {op: key}}]},
                      field, order, limit + 1 - len(items), projection)
    return items
