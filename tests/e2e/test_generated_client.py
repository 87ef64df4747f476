"""A Python client generated from the served OpenAPI document (openapi-python-client, offline)
runs a whole session against the real server: every request below is a generated function,
none is written by hand. If the document lies (defaults on PATCH, missing If-Match, loose
types, a boolean documented as a string), this is where it shows."""

from __future__ import annotations

import base64
import importlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "mongo_todos_client"


@pytest.fixture(scope="module")
def generated(server, tmp_path_factory):
    """The client package generated from the document the server serves."""
    if not GENERATOR.exists():
        pytest.fail("openapi-python-client is not installed: pip install -e '.[test]'")
    work = tmp_path_factory.mktemp("client")
    document = work / "openapi.json"
    document.write_bytes(requests.get(f"{server}/api/v1/openapi.json", timeout=10).content)
    config = work / "config.yml"
    # no formatter run: generation stays offline and quick. The generator knows no NDJSON: it
    # reads the bytes of a type it is told is application/octet-stream (the download's first
    # media type; the document stays true to what the server sends)
    config.write_text("post_hooks: []\n"
                      "content_type_overrides:\n  application/x-ndjson: application/octet-stream\n")
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(work / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the generator reports what it could not turn into code: nothing may be skipped
    assert "Unable to" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _follow(link: str) -> dict:
    """The query of a ``links.next`` URL, as the list operation's arguments."""
    return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}


def test_generated_client_runs_a_whole_session(server, generated):
    client_mod = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")

    def op(group: str, name: str):
        """A generated operation module, e.g. ``api/todos/update_todo.py``."""
        return importlib.import_module(f"{PACKAGE}.api.{group}.{name}")

    anonymous = client_mod.Client(base_url=server)

    # register, then log in with HTTP Basic
    created = op("users", "create_user").sync_detailed(
        client=anonymous, body=models.UserIn(username="gen_client", password="correct horse"))
    assert created.status_code == 201, created.content
    assert created.parsed.username == "gen_client"
    basic = base64.b64encode(b"gen_client:correct horse").decode()
    login = op("tokens", "log_in").sync_detailed(
        client=client_mod.AuthenticatedClient(base_url=server, token=basic, prefix="Basic"))
    assert login.status_code == 200, login.content
    pair = login.parsed
    assert pair.token_type == "Bearer" and pair.expires_in > 0
    me = client_mod.AuthenticatedClient(base_url=server, token=pair.access_token)

    # create todos
    names = [f"todo {n}" for n in range(7)]
    for n, name in enumerate(names):
        made = op("todos", "create_todo").sync_detailed(client=me, body=models.TodoIn(
            name=name, task=f"task {n}", tags=["generated"]))
        assert made.status_code == 201, made.content
        assert made.parsed.done is False and made.parsed.due_at is None

    # page through all of them (sorted by name, 3 a page): the next page is the cursor alone,
    # which remembers the listing (the document's paging link says so)
    sort = models.ListTodosSort
    page = op("todos", "list_todos").sync(client=me, limit=3, sort=sort.NAME, count=True)
    assert page.page.total == 7
    seen = [item.name for item in page.items]
    while page.page.next_cursor:
        assert _follow(page.links.next_)["cursor"] == page.page.next_cursor
        page = op("todos", "list_todos").sync(client=me, cursor=page.page.next_cursor)
        assert page.page.limit == 3 and page.page.total == 7
        seen += [item.name for item in page.items]
    assert seen == sorted(names)

    # PATCH one field with If-Match: the others stay as they were
    first = page.items[-1]
    read = op("todos", "get_todo").sync_detailed(first.id, client=me)
    etag = read.headers["ETag"]
    patched = op("todos", "update_todo").sync_detailed(
        first.id, client=me, body=models.TodoPatch(done=True), if_match=etag)
    assert patched.status_code == 200, patched.content
    todo = patched.parsed
    assert (todo.done, todo.name, todo.task, todo.tags) == (
        True, first.name, first.task, ["generated"])
    assert patched.headers["ETag"] != etag

    # the ETag read before that change is stale now: 412, nothing changed
    stale = op("todos", "update_todo").sync_detailed(
        first.id, client=me, body=models.TodoPatch(name="lost update"), if_match=etag)
    assert stale.status_code == 412
    assert stale.parsed.type_ == "/api/v1/problems/precondition-failed"
    unchanged = op("todos", "get_todo").sync(first.id, client=me)
    assert unchanged.name == first.name and unchanged.done is True

    # refresh, then log out with the new access token: the login is over
    refreshed = op("tokens", "refresh_tokens").sync_detailed(
        client=client_mod.AuthenticatedClient(base_url=server, token=pair.refresh_token))
    assert refreshed.status_code == 200, refreshed.content
    new_me = client_mod.AuthenticatedClient(base_url=server, token=refreshed.parsed.access_token)
    assert op("todos", "list_todos").sync(client=new_me, limit=1).page.has_next is True
    assert op("tokens", "log_out").sync_detailed(client=new_me).status_code == 204
    after = op("users", "get_me").sync_detailed(client=new_me)
    assert after.status_code == 401
    assert after.parsed.type_ == "/api/v1/problems/token-revoked"


def _finished(job, me):
    """The job once it has finished, polled through the generated ``get_job``."""
    models = importlib.import_module(f"{PACKAGE}.models")
    get_job = importlib.import_module(f"{PACKAGE}.api.jobs.get_job")
    deadline = time.monotonic() + 30
    while job.status in (models.JobStatus.QUEUED, models.JobStatus.RUNNING):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = get_job.sync(job.id, client=me)
    assert job.status == models.JobStatus.SUCCEEDED, job
    return job


def _session(server: str, username: str):
    """A new account's client, registered and logged in through generated calls."""
    client_mod = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")
    anonymous = client_mod.Client(base_url=server)
    users = importlib.import_module(f"{PACKAGE}.api.users.create_user")
    users.sync(client=anonymous, body=models.UserIn(username=username, password="x" * 8))
    basic = base64.b64encode(username.encode() + b":" + b"x" * 8).decode()
    login = importlib.import_module(f"{PACKAGE}.api.tokens.log_in").sync(
        client=client_mod.AuthenticatedClient(base_url=server, token=basic, prefix="Basic"))
    return client_mod.AuthenticatedClient(base_url=server, token=login.access_token)


def test_generated_client_imports_ndjson_and_json(server, generated):
    """An import through the generated ``start_import``: NDJSON as a ``File`` (the document
    types it as bytes, as the download), JSON as the typed ``{"items": [...]}``; the todos
    arrive, the bad line is reported."""
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    start_import = importlib.import_module(f"{PACKAGE}.api.jobs.start_import")
    list_todos = importlib.import_module(f"{PACKAGE}.api.todos.list_todos")
    me = _session(server, "gen_import")

    lines = b'{"name": "from ndjson 1", "tags": ["imported"]}\n{"name": ""}\n' \
            b'{"name": "from ndjson 2", "done": true}\n'
    started = start_import.sync_detailed(client=me, body=types.File(
        payload=io.BytesIO(lines), mime_type="application/x-ndjson"))
    assert started.status_code == 202, started.content
    result = _finished(started.parsed, me).result
    assert (result.created, result.failed) == (2, 1)
    assert [(error.line, list(error.errors.to_dict())) for error in result.errors] == [
        (2, ["name"])]

    started = start_import.sync_detailed(client=me, body=models.StartImportJsonBody(
        items=[{"name": "from json", "task": "typed"}]))
    assert started.status_code == 202, started.content
    assert _finished(started.parsed, me).result.created == 1

    todos = list_todos.sync(client=me, limit=10, sort=models.ListTodosSort.NAME).items
    assert [(t.name, t.done, t.tags) for t in todos] == [
        ("from json", False, []), ("from ndjson 1", False, ["imported"]),
        ("from ndjson 2", True, [])]


def test_generated_client_exports_polls_and_downloads(server, generated):
    """Start an export, poll the job until it succeeded, download the file: all generated.

    The job's ``result.download_url`` is a URL, which a generated client does not follow as a
    typed call; the document names the operation it maps to (``downloadExport``, with the
    job's id), and that is what a generated client calls."""
    models = importlib.import_module(f"{PACKAGE}.models")
    jobs = lambda name: importlib.import_module(f"{PACKAGE}.api.jobs.{name}")  # noqa: E731
    todos = importlib.import_module(f"{PACKAGE}.api.todos.create_todo")
    me = _session(server, "gen_export")
    for n in range(3):
        todos.sync(client=me, body=models.TodoIn(name=f"export {n}", done=n == 2))

    started = jobs("start_export").sync_detailed(client=me, body=models.ExportIn(
        format_=models.ExportInFormat.NDJSON, filter_=models.TodoFilter(done=False)))
    assert started.status_code == 202, started.content
    job = started.parsed
    assert isinstance(job, models.Job) and job.kind == models.JobKind.EXPORT
    assert started.headers["Location"] == job.url
    job = _finished(job, me)
    # typed: JobResult is a nullable object, which this generator names "...Type0"
    result = job.result
    assert isinstance(result, models.JobResultType0)
    assert result.count == 2 and result.format_ == models.JobResultType0Format.NDJSON
    assert result.download_url.endswith(f"/exports/{job.id}/download")

    downloaded = jobs("download_export").sync_detailed(job.id, client=me)
    assert downloaded.status_code == 200
    assert downloaded.headers["Content-Type"].startswith("application/x-ndjson")
    data = downloaded.parsed.payload.read()  # a File: the bytes, not parsed
    assert len(data) == result.bytes_
    assert sorted(json.loads(line)["name"] for line in data.splitlines()) == [
        "export 0", "export 1"]
    # a byte range of it, and the ETag's 304, through the same operation
    part = jobs("download_export").sync_detailed(job.id, client=me, range_="bytes=0-9")
    assert part.status_code == 206 and part.parsed.payload.read() == data[:10]
    again = jobs("download_export").sync_detailed(
        job.id, client=me, if_none_match=downloaded.headers["ETag"])
    assert again.status_code == 304
