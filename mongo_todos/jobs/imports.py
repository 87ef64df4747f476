"""The import job: todos from an NDJSON or ``{"items": [...]}`` body, created batch by batch.

Each line (or item) is checked exactly as ``POST /todos`` checks a body (``TodoInSchema``:
same rules, same messages), after dropping the fields the server owns (``id``, ``url``,
``etag``, ``created_at``, ``updated_at``), so an export re-imports as is; any other unknown
field is an error, as on ``POST /todos``. Valid lines are created, others reported (the first
:data:`MAX_ERRORS`). The quota holds: once the account is full, valid lines fail with the
quota's message.

**Idempotent.** Line ``n`` of job ``j`` always becomes the todo with id :func:`line_id`
``(j, n)``. A re-run (its worker died) resumes after the last batch it recorded, and the batch
that was in flight finds its todos already there (or their tombstones, if the owner deleted
them meanwhile): they count as created, never twice, and a deleted one is not brought back.
"""

from __future__ import annotations

import hashlib
import json

from bson import ObjectId
from flask import current_app
from marshmallow import ValidationError

from mongo_todos.dates import utcnow
from mongo_todos.jobs import files
from mongo_todos.todos import sequence
from mongo_todos.todos import store as todos
from mongo_todos.todos.quota import quota_message, room
from mongo_todos.todos.schemas import TodoInSchema
from mongo_todos.web.errors import MAX_FIELD_ERRORS, flatten_messages

SERVER_OWNED = ("id", "url", "etag", "created_at", "updated_at")
MAX_ERRORS = 100
#: Longest field name an error repeats.
MAX_NAME = 100
#: Lines checked between two turns given to requests (checking is the batch's CPU time).
TURN_EVERY = 100
#: Most lines (NDJSON) one import may hold. Every line is held parsed while the job runs: 16 MiB
#: of ``{}`` lines made 5.6 million, about 1.2 GiB in the worker. 100,000 is ten default quotas.
MAX_ITEMS = 100_000
#: Most objects and arrays (``{`` and ``[``, in strings too) a JSON import may hold: a todo with
#: tags is two; the same bound on memory as MAX_ITEMS, counted before parsing.
MAX_CONTAINERS = 4 * MAX_ITEMS
#: The highest line number :func:`line_id` can hold (3 bytes).
MAX_LINE = 2**24 - 1
#: The shortest line that is a valid todo, ``{"name":"x"}``: a line numbered n is preceded by
#: n - 1 line breaks, so the largest body allowed cannot hold a valid line past MAX_LINE.
SHORTEST_TODO = 12
NOT_JSON = {"_body": ["This line is not valid JSON."]}
NOT_OBJECT = {"_body": ["A todo must be a JSON object."]}


def items(data: bytes, media_type: str) -> list:
    """The body's items in order, as ``(line, value)``; a line that is not JSON as
    ``(line, NOT_JSON)``. Blank NDJSON lines are skipped (their numbers are kept)."""
    if media_type == "application/json":
        return list(enumerate(json.loads(data)["items"], 1))
    found = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            found.append((number, json.loads(raw)))
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            found.append((number, NOT_JSON))
    return found


def too_many(data: bytes, media_type: str) -> str | None:
    """Why this body holds too many items to import (a cheap upper bound, before any
    parsing), or None."""
    if media_type == "application/json":
        if data.count(b"{") + data.count(b"[") > MAX_CONTAINERS:
            return f"The body holds more than {MAX_CONTAINERS} objects and arrays."
    elif data.count(b"\n") > MAX_ITEMS:
        return f"The body holds more than {MAX_ITEMS} lines: split it into several imports."
    return None


def check(schema: TodoInSchema, value) -> tuple[dict | None, dict | None]:
    """A line as validated todo input, or its errors as ``POST /todos`` reports them."""
    if value is NOT_JSON:
        return None, NOT_JSON
    if not isinstance(value, dict):
        return None, NOT_OBJECT
    try:
        return schema.load({k: v for k, v in value.items() if k not in SERVER_OWNED}), None
    except ValidationError as error:
        return None, flatten_messages(error.messages)


def line_id(job_id: ObjectId, line: int) -> ObjectId:
    """The id line ``line`` of job ``job_id`` creates: the job's time, five bytes of a digest
    of the job's id, the line number; so a job's todos sort (ties of ``created_at``: by id)
    in the order of its lines. ``line`` is at most :data:`MAX_LINE` (settings.py bounds
    IMPORT_MAX_BYTES so that it is)."""
    digest = hashlib.sha256(job_id.binary).digest()
    return ObjectId(job_id.binary[:4] + digest[:5] + line.to_bytes(3, "big"))


def run(job: dict, batches) -> tuple[dict, int] | None:
    owner = job["owner"]
    body = files.open_owned(files.IMPORTS, job["_id"], owner)
    if body is None:  # cancelled (or failed) as this run claimed it: cancelling removed it
        return None
    lines = items(body.read(), job["params"]["media_type"])
    state = {"created": 0, "failed": 0, "errors": [], "done": 0, **(job.get("partial") or {})}
    for begin in range(state["done"], len(lines), batches.size):
        _batch(job, lines[begin:begin + batches.size], state, batches.turn)
        state["done"] = min(begin + batches.size, len(lines))
        if not batches.progress(state["done"], len(lines), state):
            return None
    files.delete(files.IMPORTS, job["_id"])
    return {k: state[k] for k in ("created", "failed", "errors")}, len(lines)


def _batch(job: dict, lines: list, state: dict, turn) -> None:
    """Validate and create one batch, counting into ``state``."""
    owner, schema, now = job["owner"], TodoInSchema(), utcnow()
    valid = []
    for n, (line, value) in enumerate(lines, 1):
        if n % TURN_EVERY == 0:
            turn()
        data, errors = check(schema, value)
        if errors:
            _failed(state, line, errors)
        else:
            valid.append((line, data, line_id(job["_id"], line)))
    ids = [todo_id for _, _, todo_id in valid]
    # created by an earlier run of this job: still there, or deleted by the owner since
    there = ({todo["_id"] for todo in todos.fetch({"owner": owner}, ids)}
             | sequence.deleted_among(owner, ids)) if ids else set()
    left = room(owner)
    new = []
    for line, data, todo_id in valid:
        if todo_id in there:
            state["created"] += 1
        elif left is not None and left <= len(new):
            _failed(state, line, {"_body": [quota_message(current_app.config["TODO_QUOTA"])]})
        else:
            new.append(todos.new_document(owner, data, todo_id, now))
    state["created"] += todos.create_many(owner, new)


def _failed(state: dict, line: int, errors: dict) -> None:
    state["failed"] += 1
    if len(state["errors"]) < MAX_ERRORS:
        # as a 422 lists them: the first fields only, and names cut short, so a hostile line
        # (thousands of unknown keys, a key of a megabyte) cannot swell the job past a document
        state["errors"].append({"line": line, "errors": {
            name[:MAX_NAME]: errors[name] for name in sorted(errors)[:MAX_FIELD_ERRORS]}})
