"""Exports: every format with the list's filters, the download (attachment, media type,
ETag, Range), another account's 404, expiry, and an export that re-imports as is."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from mongo_todos.dates import utcnow
from mongo_todos.jobs import files
from mongo_todos.store.documents import Job
from tests.conftest import assert_problem
from tests.jobs.conftest import create_todos, start

TODOS = [{"name": "milk", "tags": ["home"], "done": True},
         {"name": "call Bob", "task": "about the car", "due_at": "2026-12-24T17:00:00Z"},
         {"name": "paint", "tags": ["home", "diy"]}]


@pytest.fixture
def todos(client, headers):
    return create_todos(client, headers, *TODOS)


def download(client, headers, job, **kwargs):
    return client.get(job["result"]["download_url"], headers={**headers, **kwargs})


@pytest.mark.parametrize("fmt,media", [("ndjson", "application/x-ndjson"),
                                       ("json", "application/json"), ("csv", "text/csv")])
def test_export_holds_every_todo_in_its_format(client, headers, todos, fmt, media):
    job = start(client, headers, "/api/v1/exports", json={"format": fmt})
    assert job["status"] == "succeeded" and job["kind"] == "export"
    assert job["progress"] == {"done": 3, "total": 3}
    assert job["result"]["count"] == 3 and job["result"]["format"] == fmt
    response = download(client, headers, job)
    assert response.status_code == 200
    assert response.mimetype == media
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Disposition"].endswith(f".{fmt}")
    assert int(response.headers["Content-Length"]) == job["result"]["bytes"]
    text = response.get_data(as_text=True)
    if fmt == "ndjson":
        items = [json.loads(line) for line in text.splitlines()]
    elif fmt == "json":
        items = json.loads(text)["items"]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[2]["tags"] == "home;diy" and rows[0]["done"] == "true"
        items = [{**row, "tags": row["tags"].split(";") if row["tags"] else []} for row in rows]
    assert [item["id"] for item in items] == [todo["id"] for todo in todos]
    if fmt != "csv":
        assert items == todos  # the representation, exactly as GET shows it


def test_export_takes_the_lists_filters(client, headers, todos):
    job = start(client, headers, "/api/v1/exports", json={"filter": {"tag": "home",
                                                                     "done": False}})
    lines = download(client, headers, job).get_data(as_text=True).splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["paint"]
    job = start(client, headers, "/api/v1/exports",
                json={"filter": {"due_before": "2027-01-01T00:00:00Z", "q": "CAR"}})
    assert job["result"]["count"] == 1


@pytest.mark.parametrize("body,fields", [
    ({"format": "xml"}, {"format"}),
    ({"filter": {"done": "yes"}}, {"filter.done"}),
    ({"filter": {"due_after": "tomorrow"}}, {"filter.due_after"}),
    ({"filter": {"colour": "red"}}, {"filter.colour"}),
    ({"filter": []}, {"filter"}),
    ({"limit": 3}, {"limit"}),
])
def test_bad_export_bodies_are_422_and_start_nothing(client, headers, body, fields, app):
    assert_problem(client.post("/api/v1/exports", json=body, headers=headers), 422, *fields)
    with app.app_context():
        assert Job.objects.count() == 0


def test_download_honours_etag_and_range(client, headers, todos):
    job = start(client, headers, "/api/v1/exports", json={})
    whole = download(client, headers, job)
    assert whole.headers["Accept-Ranges"] == "bytes"
    tag = whole.headers["ETag"]
    assert download(client, headers, job, **{"If-None-Match": tag}).status_code == 304
    part = download(client, headers, job, Range="bytes=10-19")
    assert part.status_code == 206
    assert part.data == whole.data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(whole.data)}"
    assert download(client, headers, job, Range="bytes=999999-").status_code == 416


def test_another_accounts_export_and_download_are_404(client, headers, auth, todos):
    job = start(client, headers, "/api/v1/exports", json={})
    mallory = auth.headers("mallory")
    assert_problem(client.get(job["url"], headers=mallory), 404)
    assert_problem(download(client, mallory, job), 404)
    assert_problem(client.delete(job["url"], headers=mallory), 404)
    assert client.get("/api/v1/jobs", headers=mallory).get_json()["items"] == []
    assert download(client, {}, job).status_code == 401


def test_an_expired_export_is_410_and_its_file_removed(client, headers, todos, app):
    job = start(client, headers, "/api/v1/exports", json={})
    past = utcnow() - timedelta(seconds=1)
    with app.app_context():
        Job._get_collection().update_one({}, {"$set": {"result.expires_at": past}})
        exports = Job._get_db()[f"{files.EXPORTS}.files"]
        exports.update_one({}, {"$set": {"metadata.expires_at": past}})
    assert_problem(download(client, headers, job), 410, type=None)
    client.get("/api/v1/jobs", headers=headers)  # reading jobs sweeps expired files
    with app.app_context():
        assert exports.count_documents({}) == 0
        assert Job._get_db()[f"{files.EXPORTS}.chunks"].count_documents({}) == 0


def test_export_ttl_sets_the_results_expiry(make_app):
    app = make_app(env={"EXPORT_TTL": "120"})
    client = app.test_client()
    from tests.conftest import Auth

    headers = Auth(client).headers()
    job = start(client, headers, "/api/v1/exports", json={})
    expires = job["result"]["expires_at"]
    finished = job["finished_at"]
    from datetime import datetime

    gap = datetime.fromisoformat(expires) - datetime.fromisoformat(finished)
    assert timedelta(seconds=110) < gap <= timedelta(seconds=121)


def test_an_export_reimports_as_is(client, headers, todos, auth):
    for fmt, media in (("ndjson", "application/x-ndjson"), ("json", "application/json")):
        job = start(client, headers, "/api/v1/exports", json={"format": fmt})
        data = download(client, headers, job).data
        other = auth.headers(f"bob{fmt}")
        imported = start(client, other, "/api/v1/imports", data=data, content_type=media)
        assert imported["result"] == {"created": 3, "failed": 0, "errors": []}
        copies = client.get("/api/v1/todos?sort=created_at", headers=other).get_json()["items"]
        keep = ("name", "task", "done", "due_at", "tags")
        assert [{k: c[k] for k in keep} for c in copies] == [{k: t[k] for k in keep}
                                                              for t in todos]


def test_finished_export_deleted_with_its_file(client, headers, todos, app):
    job = start(client, headers, "/api/v1/exports", json={})
    assert client.delete(job["url"], headers=headers).status_code == 204
    assert_problem(client.get(job["url"], headers=headers), 404)
    assert_problem(download(client, headers, job), 404)
    with app.app_context():
        assert Job._get_db()[f"{files.EXPORTS}.files"].count_documents({}) == 0


def test_csv_cells_a_spreadsheet_would_run_start_with_a_quote(client, headers):
    """CSV injection: text starting with = + - @ (or tab, CR) is a formula to a spreadsheet."""
    create_todos(client, headers, {"name": "=HYPERLINK(\"http://x\")", "task": "+1",
                                   "tags": ["@a", "b"]}, {"name": "-2", "task": "\tx"},
                 {"name": "a=b", "task": "plain"})
    job = start(client, headers, "/api/v1/exports", json={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(download(client, headers, job).get_data(as_text=True))))
    assert [(r["name"], r["task"], r["tags"]) for r in rows] == [
        ("'=HYPERLINK(\"http://x\")", "'+1", "'@a;b"), ("'-2", "'\tx", ""), ("a=b", "plain", "")]
    assert all(not r["id"].startswith("'") and r["url"].startswith("http") for r in rows)


@pytest.mark.parametrize("ranges", ["bytes=0-1,3-4", "bytes=0-1, -5", "bytes=5-2,0-1"])
def test_several_ranges_get_the_whole_file(client, headers, todos, ranges):
    """Werkzeug's send_file serves one range; several (satisfiable) are not a 416."""
    job = start(client, headers, "/api/v1/exports", json={})
    whole = download(client, headers, job)
    response = download(client, headers, job, Range=ranges)
    assert response.status_code == 200 and response.data == whole.data
    assert "Content-Range" not in response.headers
