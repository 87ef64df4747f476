"""Idempotent creates: Idempotency-Key on POST /api/v1/todos."""

import threading
from datetime import timedelta

import pytest

from mongo_todos.store.documents import IdempotencyRecord
from mongo_todos.store.embedded import EmbeddedCollection
from mongo_todos.todos.idempotency import IDEMPOTENCY_TTL
from tests.conftest import assert_problem


@pytest.fixture
def headers(auth):
    return auth.headers()


def count(client, headers):
    return client.get("/api/v1/todos?count=true", headers=headers).get_json()["page"]["total"]


def test_retry_with_the_same_key_returns_the_original_201(client, headers):
    keyed = {**headers, "Idempotency-Key": "order-42"}
    first = client.post("/api/v1/todos", json={"name": "pay", "tags": ["a"]}, headers=keyed)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    client.patch(first.headers["Location"], json={"done": True}, headers=headers)
    retry = client.post("/api/v1/todos", json={"tags": ["a"], "name": "pay"}, headers=keyed)
    assert retry.status_code == 201
    assert retry.get_json() == first.get_json()  # the original response, not today's state
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert count(client, headers) == 1


def test_same_key_with_another_body_is_422(client, headers):
    keyed = {**headers, "Idempotency-Key": "k1"}
    client.post("/api/v1/todos", json={"name": "pay"}, headers=keyed)
    response = client.post("/api/v1/todos", json={"name": "pay twice"}, headers=keyed)
    assert_problem(response, 422, "Idempotency-Key")
    assert count(client, headers) == 1


def test_keys_are_per_user(client, auth, headers):
    mallory = auth.headers("mallory")
    mine = client.post("/api/v1/todos", json={"name": "x"}, headers={**headers, "Idempotency-Key": "k"})
    theirs = client.post("/api/v1/todos", json={"name": "x"}, headers={**mallory, "Idempotency-Key": "k"})
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["id"] != mine.get_json()["id"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\there", "é"])
def test_malformed_keys_are_422(client, headers, key):
    response = client.post("/api/v1/todos", json={"name": "x"},
                           headers={**headers, "Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert_problem(response, 422, "Idempotency-Key")
    assert count(client, headers) == 0


def test_invalid_body_with_a_key_uses_nothing_up(client, headers):
    keyed = {**headers, "Idempotency-Key": "k2"}
    assert_problem(client.post("/api/v1/todos", json={"name": ""}, headers=keyed), 422, "name")
    assert client.post("/api/v1/todos", json={"name": "ok"}, headers=keyed).status_code == 201


def test_concurrent_retries_create_one_todo(app, headers):
    barrier = threading.Barrier(6)
    results = []

    def attempt():
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/todos", json={"name": "once"},
                               headers={**headers, "Idempotency-Key": "race"})
        results.append((response.status_code, response.get_json()["id"]))

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert {status for status, _ in results} == {201}
    assert len({todo_id for _, todo_id in results}) == 1
    assert count(app.test_client(), headers) == 1


def test_an_attempt_cut_short_is_completed_by_the_retry(app, client, headers, monkeypatch):
    keyed = {**headers, "Idempotency-Key": "k3"}
    # the database fails right after the todo is stored, before the response is recorded
    monkeypatch.setattr(IdempotencyRecord, "objects", _Failing())
    assert_problem(client.post("/api/v1/todos", json={"name": "x"}, headers=keyed), 503)
    monkeypatch.undo()
    retry = client.post("/api/v1/todos", json={"name": "x"}, headers=keyed)
    assert retry.status_code == 201
    assert count(client, headers) == 1
    replay = client.post("/api/v1/todos", json={"name": "x"}, headers=keyed)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == retry.get_json()


class _Failing:
    def __call__(self, *args, **kwargs):
        from pymongo.errors import AutoReconnect

        raise AutoReconnect("connection reset")


def test_records_expire_by_ttl(app, client, headers):
    client.post("/api/v1/todos", json={"name": "x"}, headers={**headers, "Idempotency-Key": "k4"})
    with app.app_context():
        collection = IdempotencyRecord._get_collection()
        ttl = [i for i in collection.index_information().values() if "expireAfterSeconds" in i]
        assert ttl and ttl[0]["key"] == [("expires_at", 1)]
        record = collection.find_one()
        from mongo_todos.dates import utcnow

        hours = (record["expires_at"] - utcnow()).total_seconds() / 3600
        assert 23.9 < hours <= 24


def test_a_record_removed_by_ttl_between_the_conflict_and_the_lookup_frees_the_key(
        client, headers, monkeypatch):

    keyed = {**headers, "Idempotency-Key": "k5"}
    client.post("/api/v1/todos", json={"name": "old"}, headers=keyed)
    original = EmbeddedCollection.find_one
    removed = []

    def find_one_after_ttl(self, *args, **kwargs):
        if self.name == "idempotency_keys" and not removed:
            # MongoDB's TTL monitor deletes the record just after our insert met it
            removed.append(self.delete_one({"_id": args[0]["_id"]}).deleted_count)
            return None
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedCollection, "find_one", find_one_after_ttl)
    response = client.post("/api/v1/todos", json={"name": "new"}, headers=keyed)
    monkeypatch.undo()
    assert removed == [1]
    assert response.status_code == 201 and response.get_json()["name"] == "new"
    assert "Idempotent-Replayed" not in response.headers
    assert count(client, headers) == 2


def test_an_expired_record_the_ttl_monitor_has_not_removed_yet_counts_as_expired(
        app, client, headers, monkeypatch):
    from mongo_todos.dates import utcnow
    from mongo_todos.todos import idempotency

    keyed = {**headers, "Idempotency-Key": "k6"}
    first = client.post("/api/v1/todos", json={"name": "old"}, headers=keyed)
    # 25 hours later, before MongoDB's TTL monitor (once a minute, often later) got to it
    later = utcnow() + IDEMPOTENCY_TTL + timedelta(hours=1)
    monkeypatch.setattr(idempotency, "utcnow", lambda: later)
    with app.app_context():
        assert IdempotencyRecord._get_collection().count_documents({}) == 1
    response = client.post("/api/v1/todos", json={"name": "new body"}, headers=keyed)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["id"] != first.get_json()["id"]
    assert "Idempotent-Replayed" not in response.headers
    replay = client.post("/api/v1/todos", json={"name": "new body"}, headers=keyed)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["id"] == response.get_json()["id"]
