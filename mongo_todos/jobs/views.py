"""Jobs: start an export, an import or a bulk change (202), poll, list, cancel, download.

Thin views: each checks the request, stores a job (``store.py``), hands its id to the queue
and answers ``202`` with the job, ``Location`` and ``Retry-After``. Reading or listing jobs
first runs the lost-job sweep for the caller (``queue.sweep``) and removes expired
export files. Another account's job, or its download, is a 404 like a missing one.
"""

from __future__ import annotations

import hashlib
import json

from bson import ObjectId
from flask import Response, abort, current_app, request, url_for
from flask_jwt_extended import verify_jwt_in_request
from flask_smorest import abort as abort_with
from marshmallow import RAISE

from mongo_todos.accounts.auth import current_owner
from mongo_todos.dates import utcnow
from mongo_todos.jobs import export, files, imports, queue, store
from mongo_todos.jobs.schemas import (
    BulkInSchema,
    ExportInSchema,
    JobListArgsSchema,
    JobPageSchema,
    JobSchema,
)
from mongo_todos.todos import conditional, idempotency
from mongo_todos.todos.views import json_response, todo_url_base
from mongo_todos.web.api import Blueprint
from mongo_todos.web.errors import problem
from mongo_todos.web.request_body import json_object, refuse_cut_short_stream

blp = Blueprint("jobs", __name__, url_prefix="/api/v1", description="Background jobs: "
                "exports, imports and bulk changes")

#: Seconds until polling a queued or running job is worth it.
POLL_AFTER = 1
NOT_FOUND = "No job with this id."
IMPORT_TYPES = ("application/x-ndjson", "application/json")
_READ_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}
_STARTED_HEADERS = {
    "Location": {"schema": {"type": "string", "format": "uri"}, "description": "The job's url."},
    "Retry-After": {"schema": {"type": "integer"},
                    "description": "Seconds until polling the job is worth it."}}
#: What a client (or a stateful fuzzer) can do with a job it started.
_JOB_LINKS = {202: {"links": {
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"},
           "description": description}
    for name, operation, description in [("GetJob", "getJob", "Poll the job."),
                                         ("DeleteJob", "deleteJob", "Cancel or remove it.")]}}}
_IDEMPOTENCY = {"in": "header", "name": "Idempotency-Key", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                           "pattern": "^[!-~]+$"},
                "description": "The same key and body give the same job, never a second one."}


@blp.before_request
def _authenticate():
    if request.method != "OPTIONS":
        verify_jwt_in_request()


def _job_url(job_id) -> str:
    return url_for("jobs.get", job_id=str(job_id), _external=True)


def _body(job: dict) -> dict:
    download = (url_for("jobs.download", job_id=str(job["_id"]), _external=True)
                if job["kind"] == "export" else None)
    return store.to_json(job, _job_url(job["_id"]), download)


def _represent(job: dict, status: int = 200, **headers) -> Response:
    body = _body(job)
    more = {"Retry-After": str(POLL_AFTER)} if job["status"] in store.ACTIVE else {}
    return json_response(body, status, {"ETag": store.etag(body), **_READ_HEADERS, **more,
                                        **headers})


def _start(kind: str, params: dict, fingerprint: str, prepare=None) -> Response:
    """Store and enqueue a job (or find the one of this Idempotency-Key); the 202."""
    owner = current_owner()
    key = request.headers.get("Idempotency-Key")
    job_id = ObjectId()
    if key is not None:
        job_id = idempotency.reserve(owner, key, fingerprint)["todo_id"]
        existing = store.find_owned(owner, str(job_id))
        if existing is not None:
            return _represent(existing, 202, Location=_job_url(job_id))
    limit = current_app.config["JOBS_PER_USER"]
    if store.active_count(owner, limit) >= limit:
        _too_many_jobs(limit)
    if prepare is not None:  # before the job exists: a worker finds what it needs
        prepare(job_id)
    job = store.create(owner, kind, params, job_id)
    if job is not None and store.active_count(owner, limit + 1) > limit \
            and store.withdraw(owner, job_id):
        # requests that raced past the count above together: counted again with their jobs
        # stored, the extra ones withdraw theirs (the limit is never passed)
        files.delete(files.IMPORTS, job_id)
        _too_many_jobs(limit)
    job = job or store.find_owned(owner, str(job_id))
    queue.enqueue(str(job_id))
    return _represent(job, 202, Location=_job_url(job_id))


def _too_many_jobs(limit: int):
    abort(problem(429, f"You have {limit} jobs queued or running, the most one account may "
                       "have: wait for one to finish, or cancel one.",
                  headers={"Retry-After": str(POLL_AFTER * 5)}))


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(request.path.encode() + b"\0" + data).hexdigest()


def _json_fingerprint() -> str:
    return _fingerprint(json.dumps(json_object(), sort_keys=True).encode())


@blp.route("/exports", methods=["POST"])
@blp.arguments(ExportInSchema(), required=False)
@blp.response(202, JobSchema, headers=_STARTED_HEADERS)
@blp.doc(operationId="startExport", parameters=[_IDEMPOTENCY], responses=_JOB_LINKS)
def start_export(data):
    """Export the caller's todos (NDJSON, JSON or CSV), optionally filtered.

    Answers at once with the job; poll it until `succeeded`, then GET its
    `result.download_url`. An account keeps its `EXPORTS_PER_USER` (default 10) newest
    finished exports: when another finishes, the oldest one's file is removed (its download
    is then a 410, as after `EXPORT_TTL`); a new export is never refused for them.
    """
    params = {"format": data["format"], "filter": data["filter"],
              "todo_url_base": todo_url_base()}
    return _start("export", params, _json_fingerprint())


@blp.route("/todos/bulk", methods=["POST"])
@blp.arguments(BulkInSchema())
@blp.response(202, JobSchema, headers=_STARTED_HEADERS)
@blp.doc(operationId="startBulkChange", parameters=[_IDEMPOTENCY], responses=_JOB_LINKS)
def start_bulk(data):
    """Change (`set`, `add_tags`, `remove_tags`) or delete every todo the filter selects.

    Each todo changed gets a new ETag and `updated_at`, as if PATCHed one by one.
    """
    return _start("bulk", data, _json_fingerprint())



# /todos/bulk also matches the todo rule (/todos/<todo_id>), whose methods Flask's automatic
# OPTIONS would list too: list only this path's own
_BULK_ALLOW = "OPTIONS, POST"


@blp.after_request
def _bulk_allow(response: Response) -> Response:
    if request.method == "OPTIONS" and request.url_rule is not None \
            and request.url_rule.endpoint == "jobs.start_bulk":
        response.headers["Allow"] = _BULK_ALLOW
    return response


_IMPORT_BODY = {"required": True, "description": (
    "Todos as `POST /todos` takes them: NDJSON, one per line, or JSON `{\"items\": [...]}`. "
    "Fields the server owns (`id`, `url`, `etag`, `created_at`, `updated_at`) are ignored, "
    "so an export re-imports as is. Up to IMPORT_MAX_BYTES (default 16 MiB) and 100,000 "
    "lines (JSON: 400,000 objects and arrays); larger is a 413."),
    "content": {
        # the bytes of the file, as the download's: a generated client sends a file (Python:
        # `File`, TypeScript: `Blob`). At least one character that is not white space (else:
        # 422, no todos): the description says so, a pattern would make it text to generators
        "application/x-ndjson": {"schema": {"type": "string", "format": "binary"},
                                 "example": '{"name": "Buy milk"}\n{"name": "Call Bob"}\n'},
        "application/json": {"schema": {
            "type": "object", "required": ["items"], "additionalProperties": False,
            "properties": {"items": {"type": "array", "items": {
                "description": "A todo as POST /todos takes it; anything else is reported as "
                               "this item's error in the job's result."}}}},
            "example": {"items": [{"name": "Buy milk"}]}}}}


@blp.route("/imports", methods=["POST"])
@blp.response(202, JobSchema, headers=_STARTED_HEADERS)
@blp.doc(operationId="startImport", parameters=[_IDEMPOTENCY], responses=_JOB_LINKS,
         requestBody=_IMPORT_BODY)
def start_import():
    """Import todos from NDJSON or JSON; each line is checked like `POST /todos`.

    Valid lines are created, the others reported in the result (`errors`, by line).
    """
    # this route alone takes bodies this large (the proxy allows them here only too)
    request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]
    data = request.get_data(cache=True)
    refuse_cut_short_stream(data)
    if request.mimetype not in IMPORT_TYPES:
        abort(415, "Send the todos as application/x-ndjson or application/json.")
    if (too_many := imports.too_many(data, request.mimetype)) is not None:
        abort(413, too_many)
    if not data.strip():
        abort_with(422, message="The body holds no todos.",
                   messages={"_body": ["Send at least one todo."]})
    if request.mimetype == "application/json":
        _check_json_import(data)
    owner = current_owner()
    return _start("import", {"media_type": request.mimetype}, _fingerprint(data),
                  prepare=lambda job_id: files.save(files.IMPORTS, job_id, owner, data,
                                                    expires_at=utcnow() + store.UNFINISHED_TTL))


def _check_json_import(data: bytes) -> None:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        abort(400, "The body is not valid UTF-8 JSON.")
    if not isinstance(value, dict):
        abort(400, "The body must be a JSON object.")
    if not isinstance(value.get("items"), list) or set(value) != {"items"}:
        abort_with(422, message="The request has invalid fields: items.",
                   messages={"items": ['Send {"items": [todo, ...]}, and nothing else.']})


@blp.route("/jobs", methods=["GET"])
@blp.arguments(JobListArgsSchema(), location="query", unknown=RAISE)
@blp.response(200, JobPageSchema)
def all(args):  # noqa: A001 (the endpoint is jobs.all)
    """List the caller's jobs, newest first (cursor pagination, as the todo list)."""
    owner = _swept()
    page = store.page(owner, args)

    def link(cursor):
        params = {"limit": args["limit"], **({"cursor": cursor} if cursor else {})}
        return url_for("jobs.all", _external=True, **params)

    return json_response({
        "items": [_body(job) for job in page.items],
        "page": {"limit": page.limit, "has_next": page.has_next, "has_prev": page.has_prev,
                 "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor},
        "links": {"self": link(args["cursor"]), "first": link(None),
                  "next": link(page.next_cursor) if page.next_cursor else None,
                  "prev": link(page.prev_cursor) if page.prev_cursor else None},
    }, headers=_READ_HEADERS)


def _swept():
    """The caller, after the sweeps of their lost jobs and expired export files."""
    owner = current_owner()
    queue.sweep(owner)
    files.remove_expired(owner)
    return owner


def _owned(job_id: str) -> dict:
    job = store.find_owned(_swept(), job_id)
    if job is None:
        abort_with(404, message=NOT_FOUND)
    return job


@blp.route("/jobs/<job_id>", methods=["GET"])
@blp.response(200, JobSchema, headers={"Retry-After": _STARTED_HEADERS["Retry-After"]})
@blp.alt_response(304, description="Not modified: nothing moved since that ETag.")
def get(job_id):
    """Return a job: its status, progress, and result or error once finished."""
    job = _owned(job_id)
    response = _represent(job)
    if conditional.not_modified(response.headers["ETag"].strip('"')):
        return Response(status=304, headers={k: v for k, v in response.headers.items()
                                             if k in ("ETag", "Retry-After", *_READ_HEADERS)})
    return response


@blp.route("/jobs/<job_id>", methods=["DELETE"])
@blp.response(200, JobSchema, description="The job was cancelled: it stops between two "
                                         "batches (what it did so far stays done).")
@blp.alt_response(204, description="The job had finished: it is removed (an export with "
                                   "its file).")
def delete(job_id):
    """Cancel a queued or running job, or remove a finished one."""
    job = _owned(job_id)
    cancelled = store.cancel(job["owner"], job["_id"])
    if cancelled is not None:
        # no run will read it (a running import has read it already): the account's files
        # are its finished exports and its active jobs' bodies, no more
        files.delete(files.IMPORTS, job["_id"])
        return _represent(cancelled)
    if store.remove(job["owner"], job["_id"]):
        files.delete(files.EXPORTS if job["kind"] == "export" else files.IMPORTS, job["_id"])
    return "", 204


# the file's bytes in every format, `json` too: a generated client hands over the bytes
# (a Blob, a File) whatever the export's format, and a byte range of a JSON file is no object
_DOWNLOAD_TYPES = {media: {"schema": {"type": "string", "format": "binary", "description": (
    "The export file: NDJSON (a todo per line), JSON (`{\"items\": [todo, ...]}`) or CSV "
    "(one column per field, tags joined by `;`).")}} for media in export.MEDIA_TYPES.values()}


@blp.route("/exports/<job_id>/download", methods=["GET"])
@blp.doc(operationId="downloadExport", parameters=[{
    "in": "header", "name": "Range", "required": False, "schema": {"type": "string"},
    "description": "A byte range (`bytes=0-1023`): the answer is a 206 with those bytes."}],
    responses={
    200: {"description": "The export file (`Content-Disposition: attachment`); `Range` "
                         "requests are honoured.",
          "content": _DOWNLOAD_TYPES,
          "headers": {
              "ETag": {"schema": {"type": "string"}, "description": "The file's version: "
                       "If-None-Match (304) and If-Range take it."},
              "Content-Disposition": {"schema": {"type": "string"}, "description":
                                      "`attachment; filename=todos-<id>.<format>`."},
              "Accept-Ranges": {"schema": {"type": "string"},
                                "description": "`bytes`: Range requests are honoured."}}},
    206: {"description": "The requested byte range of the file.", "content": _DOWNLOAD_TYPES,
          "headers": {"Content-Range": {"schema": {"type": "string"},
                                        "description": "Which bytes of the file, of how many."}}},
    304: {"description": "Not modified: the If-None-Match ETag is still current."},
    410: "GONE",  # the export expired (EXPORT_TTL)
    416: "REQUESTED_RANGE_NOT_SATISFIABLE"})
def download(job_id):
    """Download a finished export (the owner's access token only)."""
    job = _owned(job_id)
    if job["kind"] != "export" or job["status"] != "succeeded":
        abort_with(404, message="No finished export with this id.")
    stream = files.stream_owned(files.EXPORTS, job["_id"], job["owner"])
    if stream is None or job["result"]["expires_at"] <= utcnow():
        abort(410, "This export has expired, or newer ones replaced it (an account keeps its "
                   f"newest {current_app.config['EXPORTS_PER_USER']}): start a new one.")
    fmt = job["result"]["format"]
    if "," in request.headers.get("Range", ""):
        # several ranges: Werkzeug answers 416 ("none satisfiable") even when all are; a server
        # may ignore Range (RFC 9110, 14.2), so the whole file it is
        request.environ.pop("HTTP_RANGE")
    # what send_file does for a file of known size, with the file sent chunk by chunk
    response = Response(stream, mimetype=export.MEDIA_TYPES[fmt], direct_passthrough=True)
    response.headers.set("Content-Disposition", "attachment", filename=f"todos-{job_id}.{fmt}")
    response.content_length = stream.length
    response.set_etag(f"{job_id}-{stream.length}")
    response = response.make_conditional(request.environ, accept_ranges=True,
                                         complete_length=stream.length)
    response.headers.update(_READ_HEADERS)
    return response
