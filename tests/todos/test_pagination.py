"""Listing: keyset pagination over aggregation pipelines, cursors, filters and sorts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from bson import ObjectId
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mongo_todos.dates import FAR_FUTURE, isoformat
from mongo_todos.store.documents import Todo
from mongo_todos.store.embedded import EmbeddedCollection
from mongo_todos.todos.pagination import SORTS
from mongo_todos.todos.store import stored_fields
from mongo_todos.todos.views import _page_url
from tests.conftest import assert_problem

BASE = datetime(2026, 1, 1)


@pytest.fixture
def user(app, client, auth):
    headers = auth.headers("alice")
    owner = ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])
    return headers, owner


def insert(app, owner, rows: list[dict]) -> list[dict]:
    """Store todos directly (fast): rows hold name/created_at/due_at/done/tags/task."""
    docs = []
    for row in rows:
        created = row.get("created_at", BASE)
        fields = {"name": row["name"], "task": row.get("task", ""), "done": row.get("done", False),
                  "due_at": row.get("due_at"), "tags": row.get("tags", [])}
        docs.append({"_id": ObjectId(), "owner": owner, **stored_fields(fields),
                     "created_at": created, "updated_at": row.get("updated_at", created),
                     "version": 1})
    if docs:
        with app.app_context():
            Todo._get_collection().insert_many(docs)
    return docs


def expected_order(docs: list[dict], sort: str) -> list[str]:
    """The order MongoDB gives: by stored key then _id, both ascending or both descending."""
    field = {"created_at": "created_at", "updated_at": "updated_at",
             "due_at": "due_sort", "name": "name_key"}[sort.lstrip("-")]
    ordered = sorted(docs, key=lambda d: (d[field], d["_id"]), reverse=sort.startswith("-"))
    return [str(d["_id"]) for d in ordered]


def walk(client, headers, url: str, direction="next", max_pages=1000):
    """Follow links.<direction> from ``url``; the pages' item ids."""
    pages = []
    while url and len(pages) < max_pages:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append([item["id"] for item in body["items"]])
        url = body["links"][direction]
    return pages


def random_rows(rng: random.Random, n: int) -> list[dict]:
    names = ["alpha", "Alpha", "beta", "BETA", "gamma", "Ähnlich", "zeta", "ärger", "Zulu", "a b"]
    stamps = [BASE + timedelta(minutes=rng.randrange(30)) for _ in range(10)]  # many duplicates
    rows = []
    for _ in range(n):
        rows.append({
            "name": rng.choice(names) + rng.choice(["", " 1", " 2"]),
            "created_at": rng.choice(stamps),
            "updated_at": rng.choice(stamps),
            "due_at": rng.choice([None, None] + stamps),
            "done": rng.random() < 0.5,
            "tags": rng.sample(["home", "work", "x"], rng.randrange(3)),
        })
    return rows


@pytest.mark.parametrize("sort", SORTS)
def test_walking_next_visits_every_todo_once_in_order(app, client, user, sort):
    headers, owner = user
    docs = insert(app, owner, random_rows(random.Random(sort), 300))
    pages = walk(client, headers, f"/api/v1/todos?sort={sort}&limit=17")
    assert [len(p) for p in pages] == [17] * 17 + [11]
    assert [i for page in pages for i in page] == expected_order(docs, sort)


@pytest.mark.parametrize("sort", ["-created_at", "name", "due_at", "-due_at"])
def test_walking_prev_returns_the_same_pages_reversed(app, client, user, sort):
    headers, owner = user
    insert(app, owner, random_rows(random.Random(1), 100))
    forward = walk(client, headers, f"/api/v1/todos?sort={sort}&limit=9")
    last = client.get(f"/api/v1/todos?sort={sort}&limit=9", headers=headers).get_json()
    url = None
    while last["links"]["next"]:
        url = last["links"]["next"]
        last = client.get(url, headers=headers).get_json()
    backward = walk(client, headers, url, direction="prev")
    assert backward == forward[::-1]
    first = client.get(last["links"]["first"], headers=headers).get_json()
    assert first["page"]["has_prev"] is False and first["links"]["prev"] is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.fixed_dictionaries({
            "name": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                            max_size=8).filter(lambda s: s.strip()),
            "created_at": st.sampled_from([BASE + timedelta(seconds=s) for s in range(5)]),
            "due_at": st.one_of(st.none(), st.sampled_from([BASE + timedelta(days=d) for d in range(3)])),
        }),
        max_size=40,
    ),
    sort=st.sampled_from(SORTS),
    limit=st.integers(1, 7),
)
def test_any_data_any_sort_walks_in_python_sort_order(make_app, rows, sort, limit):
    app = make_app()
    client = app.test_client()
    client.post("/api/v1/users", json={"username": "prop", "password": "correct horse"})
    token = client.post("/api/v1/tokens", auth=("prop", "correct horse")).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    owner = ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])
    rows = [{**r, "name": r["name"].strip()} for r in rows]
    docs = insert(app, owner, rows)
    pages = walk(client, headers, f"/api/v1/todos?sort={sort}&limit={limit}")
    assert [i for page in pages for i in page] == expected_order(docs, sort)
    assert all(len(p) == limit for p in pages[:-1])


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "name", "-due_at"])
def test_walk_survives_inserts_and_deletes_between_pages(app, client, user, sort):
    headers, owner = user
    rng = random.Random(7)
    docs = insert(app, owner, random_rows(rng, 200))
    alive = {str(d["_id"]) for d in docs}
    deleted: set[str] = set()
    seen: list[str] = []
    url = f"/api/v1/todos?sort={sort}&limit=13"
    while url:
        body = client.get(url, headers=headers).get_json()
        seen.extend(item["id"] for item in body["items"])
        url = body["links"]["next"]
        # another client adds todos and deletes some, seen or not, between our requests
        insert(app, owner, random_rows(rng, 5))
        for victim in rng.sample(sorted(alive - deleted), 3):
            assert client.delete(f"/api/v1/todos/{victim}", headers=headers).status_code == 204
            deleted.add(victim)
    assert len(seen) == len(set(seen)), "a todo was returned twice"
    assert alive - deleted <= set(seen), "a todo that existed for the whole walk was skipped"
    order = expected_order([d for d in docs if str(d["_id"]) in set(seen)], sort)
    assert [i for i in seen if i in set(order)] == order


def test_page_body_and_link_header(app, client, user):
    headers, owner = user
    insert(app, owner, [{"name": f"t{i}", "created_at": BASE + timedelta(seconds=i)} for i in range(5)])
    response = client.get("/api/v1/todos?limit=2&count=true", headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"
    body = response.get_json()
    assert [t["name"] for t in body["items"]] == ["t4", "t3"]
    page = body["page"]
    assert page["limit"] == 2 and page["total"] == 5
    assert page["has_next"] is True and page["has_prev"] is False
    assert page["next_cursor"] and page["prev_cursor"] is None
    links = body["links"]
    assert links["self"] == "http://localhost/api/v1/todos?limit=2&count=true"
    assert links["first"] == "http://localhost/api/v1/todos?limit=2&count=true"
    assert parse_qs(urlsplit(links["next"]).query) == {
        "limit": ["2"], "count": ["true"], "cursor": [page["next_cursor"]]}
    assert links["prev"] is None
    assert response.headers["Link"] == (
        f'<{links["next"]}>; rel="next", <{links["first"]}>; rel="first"')
    second = client.get(links["next"], headers=headers)
    assert 'rel="prev"' in second.headers["Link"] and 'rel="next"' in second.headers["Link"]
    third = client.get(second.get_json()["links"]["next"], headers=headers).get_json()
    assert [t["name"] for t in third["items"]] == ["t0"]
    assert third["page"]["has_next"] is False and third["links"]["next"] is None


def test_total_only_with_count(client, user):
    headers, _ = user
    assert "total" not in client.get("/api/v1/todos", headers=headers).get_json()["page"]
    assert client.get("/api/v1/todos?count=true", headers=headers).get_json()["page"]["total"] == 0


def test_empty_list(client, user):
    body = client.get("/api/v1/todos", headers=user[0]).get_json()
    assert body["items"] == [] and body["page"]["has_next"] is False
    assert body["links"]["next"] is None and body["links"]["prev"] is None


def test_undated_todos_sort_as_due_infinitely_late(app, client, user):
    headers, owner = user
    insert(app, owner, [
        {"name": "none-1", "due_at": None},
        {"name": "soon", "due_at": BASE + timedelta(days=1)},
        {"name": "none-2", "due_at": None},
        {"name": "later", "due_at": BASE + timedelta(days=2)},
    ])
    asc_items = client.get("/api/v1/todos?sort=due_at", headers=headers).get_json()["items"]
    asc = [t["name"] for t in asc_items]
    desc = [t["name"] for t in client.get("/api/v1/todos?sort=-due_at", headers=headers).get_json()["items"]]
    assert asc[:2] == ["soon", "later"] and set(asc[2:]) == {"none-1", "none-2"}
    assert desc == asc[::-1]
    # the walk crosses the dated/undated boundary without stalling
    pages = walk(client, headers, "/api/v1/todos?sort=due_at&limit=1")
    assert pages == [[t["id"]] for t in asc_items]


def test_names_sort_case_insensitively_by_code_point(app, client, user):
    headers, owner = user
    insert(app, owner, [{"name": n} for n in ["banana", "Apple", "cherry", "apple pie", "Éclair", "Zebra"]])
    names = [t["name"] for t in client.get("/api/v1/todos?sort=name", headers=headers).get_json()["items"]]
    # case-folded, then by code point: "É" (U+00C9 -> é U+00E9) sorts after every ASCII letter
    assert names == ["Apple", "apple pie", "banana", "cherry", "Zebra", "Éclair"]


def test_filters(app, client, user):
    headers, owner = user
    insert(app, owner, [
        {"name": "pay rent", "done": True, "tags": ["home", "money"], "due_at": BASE + timedelta(days=1)},
        {"name": "fix bike", "task": "Buy a PUMP", "tags": ["home"], "due_at": BASE + timedelta(days=5)},
        {"name": "write report", "tags": ["work"]},
    ])

    def names(query):
        response = client.get(f"/api/v1/todos?sort=name&{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [t["name"] for t in response.get_json()["items"]]

    assert names("done=true") == ["pay rent"]
    assert names("done=false") == ["fix bike", "write report"]
    assert names("tag=home") == ["fix bike", "pay rent"]
    assert names("tag=hom") == []
    assert names("q=PUMP") == ["fix bike"]
    assert names("q=pump") == ["fix bike"]
    assert names("q=REN") == ["pay rent"]
    day3 = isoformat(BASE + timedelta(days=3))
    assert names(f"due_before={day3}") == ["pay rent"]
    assert names(f"due_after={day3}") == ["fix bike"]
    assert names(f"tag=home&done=false&due_after={isoformat(BASE)}") == ["fix bike"]


@pytest.mark.parametrize("q", [".*", "(a+)+$", "[", "\\", "a|b", "$where", "^pay", "rent$", "{1}"])
def test_q_matches_regex_metacharacters_literally(app, client, user, q):
    headers, owner = user
    insert(app, owner, [{"name": "pay rent"}, {"name": f"has {q} inside"}, {"name": "aaaaaaaaaaaaaaaaaaaaaaaa!"}])
    response = client.get("/api/v1/todos", headers=headers, query_string={"q": q})
    assert response.status_code == 200
    assert [t["name"] for t in response.get_json()["items"]] == [f"has {q} inside"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"), ("limit=101", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"),
        ("limit=1.5", "limit"), ("sort=owner", "sort"), ("sort=--name", "sort"),
        ("done=yes", "done"), ("count=1", "count"), ("due_before=tomorrow", "due_before"),
        ("due_after=2026-01-01", "due_after"), ("q=", "q"), ("tag=" + "x" * 51, "tag"),
        ("sorted=name", "sorted"), ("owner=6560f0c2a1b2c3d4e5f60718", "owner"),
        ("q[$ne]=x", "q[$ne]"),
    ],
)
def test_bad_query_parameters_are_422_naming_the_parameter(client, user, query, field):
    assert_problem(client.get(f"/api/v1/todos?{query}", headers=user[0]), 422, field)


def test_an_unencoded_plus_in_an_offset_gets_a_hint(client, user):
    """``+01:00`` typed into a URL arrives as `` 01:00``: the 422 says to send %2B."""
    response = client.get("/api/v1/todos?due_before=2030-01-01T09:00:00+01:00", headers=user[0])
    body = assert_problem(response, 422, "due_before")
    assert "%2B" in body["errors"]["due_before"][0]
    encoded = client.get("/api/v1/todos?due_before=2030-01-01T09:00:00%2B01:00", headers=user[0])
    assert encoded.status_code == 200
    other = client.get("/api/v1/todos?due_before=tomorrow", headers=user[0])
    assert "%2B" not in other.get_json()["errors"]["due_before"][0]  # only where it applies


@pytest.fixture
def cursor(app, client, user):
    headers, owner = user
    insert(app, owner, [{"name": f"t{i}", "created_at": BASE + timedelta(seconds=i)} for i in range(5)])
    return client.get("/api/v1/todos?limit=2&sort=name", headers=headers).get_json()["page"]["next_cursor"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-3],
        lambda c: c[:10],
        lambda c: c[:-6] + ("A" if c[-6] != "A" else "B") + c[-5:],  # signature bit flipped
        lambda c: c[:8] + ("A" if c[8] != "A" else "B") + c[9:],  # payload bit flipped
        lambda c: ("Z" if c[0] != "Z" else "Y") + c[1:],  # first character changed
        lambda c: "not-a-cursor",
        lambda c: "eyJrIjpbInMiLCJ4Il0sImkiOiJ4In0.forged",
        lambda c: c + "." + c,
    ],
)
def test_tampered_cursors_are_400(client, user, cursor, mangle):
    response = client.get("/api/v1/todos", headers=user[0],
                          query_string={"limit": 2, "sort": "name", "cursor": mangle(cursor)})
    assert_problem(response, 400, "cursor")


def test_cursor_is_bound_to_its_sort_and_filters(client, user, cursor):
    headers = user[0]
    for query in ({"sort": "-name"}, {"sort": "created_at"}, {"sort": "name", "done": "true"},
                  {"sort": "name", "q": "t"}):
        response = client.get("/api/v1/todos", headers=headers, query_string={**query, "cursor": cursor})
        assert_problem(response, 422, "cursor")
    # page size may change mid-walk
    response = client.get("/api/v1/todos", headers=headers,
                          query_string={"sort": "name", "limit": 3, "cursor": cursor})
    assert response.status_code == 200


def test_cursor_of_another_user_is_refused(client, auth, user, cursor):
    mallory = auth.headers("mallory")
    response = client.get("/api/v1/todos", headers=mallory,
                          query_string={"sort": "name", "limit": 2, "cursor": cursor})
    assert_problem(response, 422, "cursor")


def test_cursor_signed_by_another_deployment_is_refused(app, client, user, cursor, monkeypatch):
    from mongo_todos.todos.pagination import seal

    # another deployment's key on this app (a second app would replace this one's embedded
    # store, and with it the session the user's token needs)
    with monkeypatch.context() as patch, app.test_request_context():
        patch.setitem(app.config, "SECRET_KEY", "another-secret-key-that-is-long-enough-0123")
        forged = seal({"k": ["s", "t1"], "i": str(ObjectId()), "s": "name", "d": "next", "f": "x"})
    response = client.get("/api/v1/todos", headers=user[0],
                          query_string={"sort": "name", "cursor": forged})
    assert_problem(response, 400, "cursor")


def test_pipeline_has_no_skip_and_sorts_on_an_indexed_key(app, client, user, monkeypatch):

    seen = []
    original = EmbeddedCollection.aggregate

    def spy(self, pipeline, *args, **kwargs):
        seen.append(pipeline)
        hints.append(kwargs.get("hint"))
        return original(self, pipeline, *args, **kwargs)

    hints = []
    monkeypatch.setattr(EmbeddedCollection, "aggregate", spy)
    headers, owner = user
    insert(app, owner, [{"name": f"t{i}"} for i in range(3)])
    body = client.get("/api/v1/todos?limit=1&sort=due_at", headers=headers).get_json()
    client.get(body["links"]["next"], headers=headers)
    with app.app_context():
        indexes = [list(dict(i["key"])) for i in Todo._get_collection().index_information().values()]
    assert len(seen) == 2  # the first page and the next: one exact range each
    for pipeline in seen:
        stages = [next(iter(stage)) for stage in pipeline]
        assert stages == ["$match", "$sort", "$limit", "$project"]
        assert ["owner", *pipeline[1]["$sort"]] in indexes
        assert pipeline[2]["$limit"] == 2
    # the sort's index is pinned, so a filter can never make MongoDB sort a page in memory
    assert hints == [{"owner": 1, "due_sort": 1, "_id": 1}] * len(seen)
    assert FAR_FUTURE.year == 9999


@pytest.mark.parametrize("query", ["limit=5&limit=6", "sort=name&sort=-name", "q=a&q=b&done=true"])
def test_a_repeated_query_parameter_is_422(client, user, query):
    headers, _ = user
    repeated = {pair.split("=")[0] for pair in query.split("&")
                if query.count(pair.split("=")[0] + "=") > 1}
    body = assert_problem(client.get(f"/api/v1/todos?{query}", headers=headers), 422, *repeated)
    assert "more than once" in body["detail"]


@pytest.mark.parametrize("query", ["done=yes", "count=1"])
def test_a_query_flag_says_which_words_it_takes(client, user, query):
    headers, _ = user
    body = assert_problem(client.get(f"/api/v1/todos?{query}", headers=headers), 422,
                          query.split("=")[0])
    assert body["errors"][query.split("=")[0]] == ["Not a valid boolean: use true or false."]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)), max_size=4,
                       unique_by=lambda kv: kv[0]),
       cursor=st.one_of(st.none(), st.text(min_size=1, max_size=20)))
def test_page_links_are_what_url_for_builds(app, params, cursor):
    """The page links are built from the remembered base URL, not by url_for: the same
    string for any parameters (non-ASCII, reserved characters, a prefix and port)."""
    query = urlencode(params)
    environ = {"SCRIPT_NAME": "/pre fix", "HTTP_HOST": "example.test:8443"}
    with app.test_request_context(f"/api/v1/todos?{query}", environ_base=environ):
        expected = {k: v for k, v in params if k != "cursor"}
        if cursor:
            expected["cursor"] = cursor
        assert _page_url(cursor) == url_for("todos.all", _external=True, **expected)
