"""Idempotency-Key records for creates: reserve a key, replay its first response.

A record is keyed by ``owner:key`` and holds the request body's fingerprint, the id the todo
gets (chosen at reservation, so a retry after a crash finds the same todo) and, once the first
attempt answered, that response to replay. Records expire after :data:`IDEMPOTENCY_TTL`
(``expires_at``, a TTL index). Like the todos, records are written through the raw collection
(``IdempotencyRecord._get_collection()``): the reservation is a single insert whose
duplicate-key error is the race detector.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from bson import ObjectId
from flask_smorest import abort
from pymongo.errors import DuplicateKeyError
from werkzeug.exceptions import HTTPException

from mongo_todos.dates import utcnow
from mongo_todos.store.documents import IdempotencyRecord
from mongo_todos.todos import store
from mongo_todos.web.request_body import json_object

#: How long a client may retry a create with the same Idempotency-Key.
IDEMPOTENCY_TTL = timedelta(hours=24)
# validated with fullmatch, never match + "$" (which also matches before a final newline)
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


def reserve(owner: ObjectId, key: str, fingerprint: str | None = None) -> dict:
    """The record for ``owner``'s ``key`` and this request's body: reserved now, or the live
    one of an earlier request with the same body (422 for an invalid key or another body).
    ``fingerprint``: the request's own (jobs hash their route with the body), else the JSON
    body's. The record's ``todo_id`` is the id the created resource gets."""
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        abort(422, message="The Idempotency-Key header is not valid.",
              messages={"Idempotency-Key": ["Use 1 to 255 visible ASCII characters."]})
    fingerprint = fingerprint or hashlib.sha256(
        json.dumps(json_object(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    record = _reserve(f"{owner}:{key}", fingerprint)
    if record["fingerprint"] != fingerprint:
        abort(422, message="This Idempotency-Key was used with a different body.",
              messages={"Idempotency-Key": ["Already used with a different body; use a new key."]})
    return record


def create_once(record: dict, owner: ObjectId, data: dict) -> dict:
    """The todo of ``record``: created now, or found if an earlier attempt created it and
    stopped before recording its response."""
    try:
        return store.create(owner, data, record["todo_id"])
    except HTTPException:
        # refused (quota exceeded): there is no answer to replay, so the key stays free and a
        # retry after the client made room creates the todo. A record of a replayable attempt
        # (one that may have created the todo) is never removed: only refusals land here.
        IdempotencyRecord._get_collection().delete_one(
            {"_id": record["_id"], "response": {"$exists": False}})
        raise
    except DuplicateKeyError:
        todo = store.find({"_id": record["todo_id"], "owner": owner})
        if todo is None:
            abort(409, message="This Idempotency-Key belongs to a request that cannot be replayed.")
        return todo


def remember(record: dict, body: dict, etag: str, location: str) -> None:
    """Store the first response to ``record``'s request, for later retries to replay."""
    IdempotencyRecord.objects(key=record["_id"]).update_one(set__response={
        "body": body, "etag": etag, "location": location,
    })


def _reserve(record_key: str, fingerprint: str) -> dict:
    """The idempotency record for ``record_key``: inserted now, or the live one already there.

    MongoDB's TTL monitor runs once a minute and may lag further, so a record can be past its
    ``expires_at`` yet present (it is expired: this request takes its place), or be deleted
    between the duplicate-key error and the lookup (then the key is free: reserve it again).
    """
    records = IdempotencyRecord._get_collection()
    for _ in range(3):
        now = utcnow()
        record = {"_id": record_key, "fingerprint": fingerprint, "todo_id": store.unguessable_id(),
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
