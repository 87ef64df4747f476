"""The export job: the owner's matching todos, written to a GridFS file batch by batch.

Every line is the todo's API representation, built by ``todos.store.to_json`` (so a field it
gains appears in exports too, and an ``ndjson`` or ``json`` export re-imports as is). ``json``
is ``{"items": [...]}``, the import's own shape; ``csv`` has one column per field, tags joined
by ``;``, and a cell that a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``,
tab, CR first) starts with ``'`` (so ``csv`` is for reading, not for a round trip). The set
of todos is fixed when the job starts (their ids, in ``_id`` order); a todo deleted meanwhile
is left out. An export reads only, so a re-run simply starts the file over.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from bson import ObjectId
from flask import current_app

from mongo_todos.dates import utcnow
from mongo_todos.jobs import files, store
from mongo_todos.todos import store as todos

MEDIA_TYPES = {"ndjson": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}


def columns() -> list[str]:
    """The CSV columns: the representation's fields, in its order."""
    now = utcnow()
    sample = {"_id": ObjectId(), "name": "", "created_at": now, "updated_at": now, "version": 1}
    return list(todos.to_json(sample, ""))


def _csv_rows(items: list[dict], header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = columns()
    if header:
        writer.writerow(names)
    for item in items:
        row = {**item, "tags": ";".join(item["tags"])}
        writer.writerow(["" if row.get(n) is None else _cell(row.get(n)) for n in names])
    return out.getvalue().encode()


#: What a spreadsheet takes for the start of a formula (CSV injection, OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # a todo's text is anyone's (an import, a shared device): opened in a spreadsheet, a cell
    # like =HYPERLINK(...) would run. A leading ' makes it text there (and shows as is in one)
    return "'" + text if text.startswith(FORMULA_START) else text


def encode(fmt: str, items: list[dict], first: bool) -> bytes:
    """One batch of representations in ``fmt`` (``first``: the batch that opens the file)."""
    if fmt == "csv":
        return _csv_rows(items, header=first)
    lines = [json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in items]
    if fmt == "ndjson":
        return "".join(line + "\n" for line in lines).encode()
    body = ",\n".join(lines)
    return ((("" if first else ",\n") + body) if lines else "").encode()


def run(job: dict, batches) -> tuple[dict, int] | None:
    owner, params = job["owner"], job["params"]
    fmt, base = params["format"], params["todo_url_base"]
    match = todos.filter_match(owner, params["filter"])
    ids = todos.matching_ids(match)
    expires_at = utcnow() + timedelta(seconds=current_app.config["EXPORT_TTL"])
    file = files.writer(files.EXPORTS, job["_id"], owner, expires_at=expires_at, format=fmt)
    chunks = [b'{"items":[\n' if fmt == "json" else (_csv_rows([], True) if fmt == "csv" else b"")]
    done = 0
    for begin in range(0, len(ids), batches.size):
        items = [todos.to_json(todo, base)
                 for todo in todos.fetch(match, ids[begin:begin + batches.size])]
        chunks.append(_csv_rows(items, False) if fmt == "csv" else encode(fmt, items, done == 0))
        done += len(items)
        file.write(b"".join(chunks))
        chunks = []
        if not batches.progress(min(begin + batches.size, len(ids)), len(ids)):
            file.abort()
            return None
    chunks.append(b"\n]}\n" if fmt == "json" else b"")
    file.write(b"".join(chunks))
    file.close()
    result = {"count": done, "bytes": file.length, "format": fmt, "expires_at": expires_at}
    return result, len(ids)


def keep_newest(owner: ObjectId) -> None:
    """After an export finished: only the ``EXPORTS_PER_USER`` newest finished exports of
    ``owner`` keep their files; the older ones' go now, and their results say so (their
    download is a 410, as past their ``EXPORT_TTL``)."""
    for job_id in store.kept_exports(owner)[current_app.config["EXPORTS_PER_USER"]:]:
        store.expire_export(owner, job_id)
        files.delete(files.EXPORTS, job_id)
