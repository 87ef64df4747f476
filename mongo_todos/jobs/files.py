"""Files of jobs in GridFS: export files to download, and import bodies waiting for a worker.

GridFS is MongoDB's own place for files, so a worker on another machine reads what the API
stored and a download is served by any API process. The legacy ``gridfs.GridFS`` API is used:
it works on MongoDB and, after ``mongomock.gridfs.enable_gridfs_integration()``, on the
embedded store (``GridFSBucket`` fails there inside pymongo's timeout wrapper).

A file's ``_id`` is its job's id, so a re-run job overwrites its own file instead of adding
one. GridFS has no TTL: files carry ``metadata.expires_at`` (an export's ``EXPORT_TTL``, an
import body's the unfinished job's) and :func:`remove_expired` deletes them (files and chunks) when jobs are read and when a
worker starts; a download past that time is refused even before the sweep.
"""

from __future__ import annotations

import logging

import gridfs
import mongomock.gridfs
from bson import ObjectId
from mongoengine.connection import get_db
from pymongo.errors import PyMongoError

from mongo_todos.dates import utcnow

# it only widens gridfs' isinstance checks to accept mongomock's classes too
mongomock.gridfs.enable_gridfs_integration()

log = logging.getLogger("mongo_todos.jobs")

EXPORTS = "exports"
IMPORTS = "imports"
#: Bytes per GridFS chunk (GridFS's own default): a download holds at most one at a time.
CHUNK_SIZE = gridfs.DEFAULT_CHUNK_SIZE


def _fs(bucket: str) -> gridfs.GridFS:
    return gridfs.GridFS(get_db(), collection=bucket)


def writer(bucket: str, file_id: ObjectId, owner: ObjectId, **metadata):
    """A new file (any earlier one of this id removed first): ``write`` it, then ``close``."""
    fs = _fs(bucket)
    fs.delete(file_id)
    return fs.new_file(_id=file_id, chunkSize=CHUNK_SIZE, metadata={"owner": owner, **metadata})


def save(bucket: str, file_id: ObjectId, owner: ObjectId, data: bytes, **metadata) -> None:
    with writer(bucket, file_id, owner, **metadata) as file:
        file.write(data)


def open_owned(bucket: str, file_id: ObjectId, owner: ObjectId):
    """The file ``file_id`` of ``owner`` (a GridOut: ``read``, ``length``, ``metadata``), or
    None."""
    files = get_db()[f"{bucket}.files"]
    if files.find_one({"_id": file_id, "metadata.owner": owner}, {"_id": 1}) is None:
        return None
    try:
        return _fs(bucket).get(file_id)
    except gridfs.NoFile:
        return None


def stream_owned(bucket: str, file_id: ObjectId, owner: ObjectId) -> Stream | None:
    """The file ``file_id`` of ``owner`` as a :class:`Stream`, or None; nothing of its content
    is read yet."""
    found = get_db()[f"{bucket}.files"].find_one({"_id": file_id, "metadata.owner": owner},
                                                 {"length": 1, "chunkSize": 1})
    if found is None:
        return None
    return Stream(get_db()[f"{bucket}.chunks"], file_id, found["length"], found["chunkSize"])


class Stream:
    """A stored file's bytes as a response body: an iterator reading one GridFS chunk per
    step, as the answer is sent, so a download holds one chunk, never the file (GridOut's
    cursor would read a batch of up to 16 MB on MongoDB, and the embedded store materialises
    a cursor whole). Seekable (``seek``, ``tell``), so Werkzeug answers a ``Range`` by
    starting at its first chunk instead of reading up to it. The chunks' collection is held,
    not looked up: the body is sent after the request's app context has gone."""

    def __init__(self, chunks, file_id: ObjectId, length: int, chunk_size: int):
        self._chunks, self.file_id = chunks, file_id
        self.length, self.chunk_size = length, chunk_size
        self.position = 0

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> bytes:
        if self.position >= self.length:
            raise StopIteration
        number, offset = divmod(self.position, self.chunk_size)
        try:
            chunk = self._chunks.find_one({"files_id": self.file_id, "n": number}, {"data": 1})
        except PyMongoError as error:
            chunk = error
        data = bytes(chunk["data"][offset:]) if isinstance(chunk, dict) else b""
        if not data:
            # removed while being sent (deleted, expired, or past the account's cap), or the
            # store failed: the status is sent already, so the answer ends short of its
            # Content-Length, which tells the client it is incomplete
            log.warning("file %s: download cut short at byte %d (%s)", self.file_id,
                        self.position, chunk.__class__.__name__ if chunk else "chunk gone")
            self.position = self.length
            raise StopIteration
        self.position += len(data)
        return data

    def seekable(self) -> bool:
        return True

    def seek(self, position: int) -> int:
        self.position = position
        return position

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        """Nothing to release (each step is a query of its own); the WSGI server calls it."""


def delete(bucket: str, file_id: ObjectId) -> None:
    _fs(bucket).delete(file_id)


def remove_expired(owner: ObjectId | None = None) -> int:
    """Delete the files past their ``expires_at`` (``owner``'s, or everyone's): exports, and
    the bodies of imports that never finished (a cancelled or failed one keeps its body until
    then, as its job is kept)."""
    query: dict = {"metadata.expires_at": {"$lt": utcnow()}}
    if owner is not None:
        query["metadata.owner"] = owner
    removed = 0
    for bucket in (EXPORTS, IMPORTS):
        for file_id in [f["_id"] for f in get_db()[f"{bucket}.files"].find(query, {"_id": 1})]:
            delete(bucket, file_id)
            removed += 1
    return removed


def remove_owned(owner: ObjectId, file_ids: list[ObjectId]) -> None:
    """Delete ``owner``'s files, and the files ``file_ids`` (an export being written has its
    chunks stored but no file document yet, so only its job's id finds them)."""
    for bucket in (EXPORTS, IMPORTS):
        listed = [f["_id"] for f in get_db()[f"{bucket}.files"].find(
            {"metadata.owner": owner}, {"_id": 1})]
        for file_id in dict.fromkeys(listed + list(file_ids)):
            delete(bucket, file_id)
