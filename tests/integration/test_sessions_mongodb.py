"""Sessions against a real MongoDB, where nothing serialises requests: concurrent refreshes
of one token are decided by the atomic conditional update alone, and account deletion leaves
nothing of the account in any collection."""

from __future__ import annotations

import threading

import pytest
from bson import ObjectId

from mongo_todos.store.documents import IdempotencyRecord, Session, Todo, User
from tests.conftest import bearer

pytestmark = pytest.mark.mongodb


def test_concurrent_refreshes_of_one_token_all_stay_logged_in(app, auth):
    auth.register()
    tokens = auth.login()
    racers = 8
    barrier = threading.Barrier(racers)
    results = []

    def refresher():
        own = app.test_client()
        barrier.wait()
        results.append(own.post("/api/v1/tokens/refresh", headers=bearer(tokens["refresh_token"])))

    threads = [threading.Thread(target=refresher) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.status_code for r in results] == [200] * racers
    pairs = {(r.get_json()["access_token"], r.get_json()["refresh_token"]) for r in results}
    assert len(pairs) == 1  # exactly one rotation happened; the others got its pair
    (access, refresh), = pairs
    client = app.test_client()
    assert client.get("/api/v1/users/me", headers=bearer(access)).status_code == 200
    assert client.post("/api/v1/tokens/refresh", headers=bearer(refresh)).status_code == 200


def test_account_deletion_leaves_nothing_behind(app, client, auth):
    auth.register("alice")
    tokens = auth.login("alice")
    h = bearer(tokens["access_token"])
    owner = ObjectId(client.get("/api/v1/users/me", headers=h).get_json()["id"])
    for n in range(3):
        client.post("/api/v1/todos", json={"name": f"t{n}"}, headers={**h, "Idempotency-Key": f"k{n}"})
    response = client.delete("/api/v1/users/me", json={"password": "correct horse"}, headers=h)
    assert response.status_code == 204
    with app.app_context():
        assert User._get_collection().count_documents({"_id": owner}) == 0
        assert Todo._get_collection().count_documents({"owner": owner}) == 0
        assert Session._get_collection().count_documents({"user": owner}) == 0
        assert IdempotencyRecord._get_collection().count_documents(
            {"_id": {"$regex": f"^{owner}:"}}) == 0
    assert client.get("/api/v1/todos", headers=h).status_code == 401
