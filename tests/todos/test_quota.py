"""TODO_QUOTA: how many todos one account may hold; a 409 quota-exceeded problem past it."""

import pytest

from mongo_todos.store.documents import IdempotencyRecord
from tests.conftest import assert_problem


@pytest.fixture
def quota_client(make_app, auth):
    app = make_app(env={"TODO_QUOTA": "3"})
    auth.client = app.test_client()
    return auth.client


def test_creating_past_the_quota_is_a_409_problem_and_stores_nothing(quota_client, auth):
    alice = auth.headers("alice")
    for n in range(3):
        assert quota_client.post("/api/v1/todos", json={"name": f"t{n}"}, headers=alice).status_code == 201
    refused = quota_client.post("/api/v1/todos", json={"name": "one too many"}, headers=alice)
    body = assert_problem(refused, 409, type="quota-exceeded")
    assert "3 todos" in body["detail"]
    listed = quota_client.get("/api/v1/todos?count=true", headers=alice).get_json()
    assert {t["name"] for t in listed["items"]} == {"t0", "t1", "t2"}


def test_the_quota_is_per_account_and_deleting_frees_room(quota_client, auth):
    alice, bob = auth.headers("alice"), auth.headers("bob")
    urls = [quota_client.post("/api/v1/todos", json={"name": f"a{n}"}, headers=alice).headers["Location"]
            for n in range(3)]
    assert quota_client.post("/api/v1/todos", json={"name": "b"}, headers=bob).status_code == 201
    assert_problem(quota_client.post("/api/v1/todos", json={"name": "a3"}, headers=alice), 409,
                   type="quota-exceeded")
    assert quota_client.delete(urls[0], headers=alice).status_code == 204
    assert quota_client.post("/api/v1/todos", json={"name": "a3"}, headers=alice).status_code == 201


def test_an_idempotent_retry_at_the_quota_replays_the_original(quota_client, auth):
    alice = auth.headers("alice")
    for n in range(2):
        quota_client.post("/api/v1/todos", json={"name": f"t{n}"}, headers=alice)
    keyed = {**alice, "Idempotency-Key": "last-one"}
    first = quota_client.post("/api/v1/todos", json={"name": "t2"}, headers=keyed)
    again = quota_client.post("/api/v1/todos", json={"name": "t2"}, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]


def test_zero_turns_the_quota_off_and_the_default_is_ten_thousand(make_app):
    assert make_app().config["TODO_QUOTA"] == 10000
    app = make_app(env={"TODO_QUOTA": "0"})
    assert app.config["TODO_QUOTA"] == 0
    client = app.test_client()
    from tests.conftest import Auth

    headers = Auth(client).headers("alice")
    created = client.post("/api/v1/todos", json={"name": "first"}, headers=headers)
    assert created.status_code == 201, created.get_json()  # a quota of 0 enforced would refuse it


def test_the_quota_problem_type_is_registered_with_advice():
    from mongo_todos.web.errors import PROBLEM_TYPES

    title, advice = PROBLEM_TYPES["quota-exceeded"]
    assert title == "Quota exceeded" and "delete" in advice


def test_a_refused_create_keeps_no_idempotency_record(quota_client, auth):
    # a 409 is no answer to replay: the key stays free, and the retry after the owner made
    # room creates the todo instead of being told "quota exceeded" again for 24 hours
    alice = auth.headers("alice")
    urls = [quota_client.post("/api/v1/todos", json={"name": f"t{n}"}, headers=alice).headers["Location"]
            for n in range(3)]
    keyed = {**alice, "Idempotency-Key": "one-more"}
    assert_problem(quota_client.post("/api/v1/todos", json={"name": "t3"}, headers=keyed), 409,
                   type="quota-exceeded")
    with quota_client.application.app_context():
        assert IdempotencyRecord.objects.count() == 0
    assert quota_client.delete(urls[0], headers=alice).status_code == 204
    retried = quota_client.post("/api/v1/todos", json={"name": "t3"}, headers=keyed)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert retried.get_json()["name"] == "t3"
