"""The embedded store's lock (issue 19, item 1): each operation alone holds it, waiters are
served in arrival order, and concurrent conditional writes lose no update without the request-
wide serialisation the app used to have."""

import threading
import time

from mongo_todos.store.embedded import EmbeddedClient
from mongo_todos.store.embedded_lock import FairLock

THREADS = 8
TAGS_EACH = 2


def test_the_lock_is_reentrant_and_serves_waiters_in_arrival_order():
    lock = FairLock()
    served = []
    with lock, lock:  # reentrant
        waiters = []
        for n in range(5):
            def wait(n=n):
                with lock:
                    served.append(n)
            thread = threading.Thread(target=wait)
            thread.start()
            waiters.append(thread)
            time.sleep(0.05)  # each queued before the next arrives
    for thread in waiters:
        thread.join(timeout=5)
    assert served == [0, 1, 2, 3, 4]


def test_reading_a_cursor_waits_for_the_store():
    collection = EmbeddedClient().get_database("db").get_collection("c")
    collection.insert_many([{"n": n} for n in range(3)])
    rows = []
    reader = threading.Thread(target=lambda: rows.extend(
        doc["n"] for doc in collection.find({}).sort("n", -1)))
    with collection.database.client.lock:  # another operation in progress
        reader.start()
        reader.join(timeout=0.3)
        assert reader.is_alive() and rows == []
    reader.join(timeout=5)
    assert rows == [2, 1, 0]


def test_concurrent_conditional_writes_lose_no_update(app, client, auth):
    headers = auth.headers()
    created = client.post("/api/v1/todos", json={"name": "shared"}, headers=headers)
    location = created.headers["Location"]
    start = threading.Barrier(THREADS)
    refused = []

    def add_tags(me: int):
        own = app.test_client()
        start.wait()
        for k in range(TAGS_EACH):
            while True:  # read, then write conditionally; on 412 read again
                current = own.get(location, headers=headers)
                assert current.status_code == 200, current.get_json()
                tags = current.get_json()["tags"] + [f"t{me}-{k}"]
                written = own.patch(location, json={"tags": tags},
                                    headers={**headers, "If-Match": current.headers["ETag"]})
                if written.status_code == 200:
                    break
                assert written.status_code == 412, written.get_json()
                refused.append(me)

    threads = [threading.Thread(target=add_tags, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    final = client.get(location, headers=headers).get_json()["tags"]
    assert sorted(final) == sorted(f"t{n}-{k}" for n in range(THREADS) for k in range(TAGS_EACH))
