"""The download streams the export from GridFS a chunk at a time: the body is the file, a
Range is its slice, and no read hands over more than one chunk (the whole file is never held).
The headers of every kind of answer (200, 206, 304, 416, HEAD, If-Range) are pinned as the
whole-file version of the view gave them."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect

from mongo_todos.jobs import files
from mongo_todos.store.documents import Job
from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import assert_problem
from tests.jobs.conftest import create_todos, start

#: A small chunk, so that a few dozen todos make a file of many chunks.
CHUNK = 1024


@pytest.fixture
def export(client, headers, monkeypatch):
    monkeypatch.setattr(files, "CHUNK_SIZE", CHUNK)
    create_todos(client, headers, *({"name": f"todo {n}", "task": "x" * 100} for n in range(40)))
    job = start(client, headers, "/api/v1/exports", json={})
    assert job["status"] == "succeeded" and job["result"]["bytes"] > 5 * CHUNK
    return job


def stored(app, job) -> bytes:
    with app.app_context():
        return files.open_owned(files.EXPORTS, Job.objects.get().id,
                                Job.objects.get().owner).read()


@pytest.fixture
def chunk_reads(monkeypatch):
    """The bytes of export chunks each read of the store handed over, in order."""
    reads: list[int] = []
    original = EmbeddedCollection._get_dataset

    def spy(self, *args, **kwargs):
        found = list(original(self, *args, **kwargs))
        if self.name == f"{files.EXPORTS}.chunks":
            reads.append(sum(len(doc.get("data", b"")) for doc in found))
        return iter(found)

    monkeypatch.setattr(EmbeddedCollection, "_get_dataset", spy)
    return reads


def get(client, headers, job, method="get", **more):
    return getattr(client, method)(job["result"]["download_url"], headers={**headers, **more},
                                   buffered=False)


def test_the_body_is_the_file_and_ranges_are_its_slices(app, client, headers, export):
    whole = stored(app, export)
    response = get(client, headers, export)
    assert response.status_code == 200 and response.get_data() == whole
    assert int(response.headers["Content-Length"]) == len(whole) == export["result"]["bytes"]
    size = len(whole)
    for spec, begin, end in [("0-0", 0, 1), ("10-19", 10, 20), (f"{CHUNK - 3}-{CHUNK + 2}",
                             CHUNK - 3, CHUNK + 3), (f"{2 * CHUNK}-", 2 * CHUNK, size),
                             ("-100", size - 100, size), (f"0-{size + 50}", 0, size),
                             (f"{CHUNK}-{3 * CHUNK - 1}", CHUNK, 3 * CHUNK)]:
        part = get(client, headers, export, Range=f"bytes={spec}")
        assert part.status_code == 206, spec
        assert part.get_data() == whole[begin:end], spec
        assert part.headers["Content-Range"] == f"bytes {begin}-{end - 1}/{size}"
        assert int(part.headers["Content-Length"]) == end - begin


def test_the_view_reads_one_chunk_at_a_time_as_it_sends(client, headers, export, chunk_reads):
    response = get(client, headers, export)
    assert response.status_code == 200
    # the headers are out with at most the first chunk read (Werkzeug's test client takes the
    # body's first piece to see the answer started); the whole-file view had read it all
    assert sum(chunk_reads) <= CHUNK
    sizes = [len(piece) for piece in response.response]
    assert sum(sizes) == export["result"]["bytes"]
    assert len(chunk_reads) == len(sizes) > 5 and max(chunk_reads) <= CHUNK


def test_a_range_reads_only_its_chunks(client, headers, export, chunk_reads):
    part = get(client, headers, export, Range=f"bytes={3 * CHUNK + 5}-{3 * CHUNK + 9}")
    assert part.status_code == 206 and len(part.get_data()) == 5
    assert chunk_reads == [CHUNK]


#: The headers a download's answers carry about the file (the web layer's own left out).
FILE_HEADERS = ("Content-Type", "Content-Disposition", "ETag", "Accept-Ranges", "Cache-Control",
                "Vary", "Content-Length", "Content-Range", "Last-Modified", "Expires")


def _headers(response) -> dict:
    return {k: v for k, v in response.headers.items() if k in FILE_HEADERS}


def test_every_answers_headers_are_as_before(client, headers, export):
    """As the whole-file version answered (send_file of the bytes, conditional)."""
    job_id, size = export["id"], export["result"]["bytes"]
    tag = f'"{job_id}-{size}"'
    common = {"Content-Disposition": f"attachment; filename=todos-{job_id}.ndjson",
              "ETag": tag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-cache",
              "Vary": "Authorization, Accept-Encoding"}
    whole = get(client, headers, export)
    typed = {**common, "Content-Type": "application/x-ndjson"}
    assert _headers(whole) == {**typed, "Content-Length": str(size)}
    head = get(client, headers, export, method="head")
    assert head.status_code == 200 and head.get_data() == b""
    assert _headers(head) == _headers(whole)
    part = get(client, headers, export, Range="bytes=5-9")
    assert _headers(part) == {**typed, "Content-Length": "5",
                              "Content-Range": f"bytes 5-9/{size}"}
    head = get(client, headers, export, method="head", Range="bytes=5-9")
    assert head.status_code == 206 and head.get_data() == b"" and _headers(head) == _headers(part)
    same = get(client, headers, export, Range="bytes=5-9", **{"If-Range": tag})
    assert same.status_code == 206 and same.get_data() == part.get_data()
    other = get(client, headers, export, Range="bytes=5-9", **{"If-Range": '"old"'})
    assert other.status_code == 200 and len(other.get_data()) == size
    assert _headers(other) == _headers(whole)
    cached = get(client, headers, export, **{"If-None-Match": tag})
    assert cached.status_code == 304 and cached.get_data() == b""
    assert _headers(cached) == common
    for spec in (f"bytes={size}-", "bytes=abc"):
        refused = get(client, headers, export, Range=spec)
        assert_problem(refused, 416)
        assert refused.get_json()["detail"] == "The server cannot provide the requested range."


@pytest.mark.parametrize("trouble", ["removed", "store down"])
def test_a_file_gone_mid_download_ends_the_body_short(app, client, headers, export,
                                                      monkeypatch, caplog, trouble):
    """The status is out: the body stops short of its Content-Length (the client sees it is
    incomplete), with a warning, never an exception in the server."""
    response = get(client, headers, export)
    if trouble == "removed":
        with app.app_context():
            files.delete(files.EXPORTS, Job.objects.get().id)
    else:
        def down(self, *args, **kwargs):
            raise AutoReconnect("connection refused")

        monkeypatch.setattr(EmbeddedCollection, "find_one", down)
    body = b"".join(response.response)
    assert 0 < len(body) < int(response.headers["Content-Length"])
    assert "cut short" in caplog.text
