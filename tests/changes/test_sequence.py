"""The guarantee's moving parts (mongo_todos.todos.sequence): reservations hold readers back
until their writes finish, a dead writer's only for a lease, an unknown outcome is not
committed, tombstones of living todos mean nothing, and every write path numbers its writes."""

from __future__ import annotations

import threading
import time

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, BulkWriteError, ServerSelectionTimeoutError

from mongo_todos import dates, seed
from mongo_todos.seed import plant
from mongo_todos.store.documents import SyncCounter, Tombstone
from mongo_todos.todos import leases, sequence, store
from tests.changes.conftest import CHANGES, Replica, insert_batch, owner_of, server_todos


def _create(client, headers, name="t"):
    return client.post("/api/v1/todos", json={"name": name}, headers=headers).get_json()


def test_a_reader_stops_below_a_reservation_until_it_commits(app, client, headers):
    owner = owner_of(client, headers)
    replica = Replica(client, headers)
    replica.sync()
    with app.app_context():
        held = sequence.reserve(owner)  # writer A: reserved, not written yet
    later = _create(client, headers, "B")  # writer B: reserved after A, committed
    assert replica.page()["items"] == []  # B is past A's number: not yet
    with app.app_context():
        first = insert_at(owner, held.first, "A")
        assert replica.page()["items"] == []  # written, not committed: still held back
        sequence.commit(held)
    # A first (it has the lower number), then B
    assert [c["id"] for c in replica.page()["items"]] == [str(first), later["id"]]
    assert replica.todos == server_todos(client, headers)


def insert_at(owner, seq: int, name: str) -> ObjectId:
    now = dates.utcnow()
    return store.collection().insert_one({
        "_id": ObjectId(), "owner": owner, **store.stored_fields({"name": name, "task": "",
                                                                  "due_at": None}),
        "done": False, "tags": [], "created_at": now, "updated_at": now, "version": 1,
        "seq": seq}).inserted_id


def test_a_dead_writer_holds_readers_back_for_one_lease(app, client, headers, clock):
    owner = owner_of(client, headers)
    replica = Replica(client, headers)
    replica.sync()
    with app.app_context():
        sequence.reserve(owner)  # and never commits
    after = _create(client, headers, "after")
    assert replica.page()["items"] == []
    clock.advance(seconds=sequence.LEASE.total_seconds() + 1)
    assert [c["id"] for c in replica.page()["items"]] == [after["id"]]
    with app.app_context():  # the next reservation hands the expired lease to the releaser
        sequence.commit(sequence.reserve(owner))
        sequence.RELEASER.flush()
        assert SyncCounter._get_collection().find_one({"_id": owner})["leases"] == {}


def test_an_unknown_outcome_is_left_to_its_lease_a_known_one_commits(app, client, headers):
    owner = owner_of(client, headers)
    with app.app_context():
        with pytest.raises(AutoReconnect), sequence.stamped(owner):
            raise AutoReconnect("primary stepped down")  # the write may still land
        unknown = sequence.safe_point(owner)
        with pytest.raises(KeyError), sequence.stamped(owner):
            raise KeyError("a bug: nothing was written")
        counter = SyncCounter._get_collection().find_one({"_id": owner})
    assert unknown == 0 and [e["s"] for e in counter["leases"].values()] == [1]


def test_a_precondition_failure_commits_its_reservation(client, headers, app, releaser):
    todo = _create(client, headers)
    stale = client.patch(todo["url"], json={"done": True}, headers={**headers, "If-Match": '"x"'})
    assert stale.status_code == 412
    owner = owner_of(client, headers)
    with app.app_context():
        counter = SyncCounter._get_collection().find_one({"_id": owner})
        # finished (a known outcome), to be released with the next reservation or round
        assert releaser.known(owner) == dict.fromkeys(counter["leases"])
        assert len(counter["leases"]) == 1
        assert sequence.safe_point(owner) == counter["seq"] >= 2
        releaser.flush()
        assert SyncCounter._get_collection().find_one({"_id": owner})["leases"] == {}


def test_a_burst_of_request_writes_reserves_numbers_in_growing_blocks(app, client, headers,
                                                                      releaser, monkeypatch,
                                                                      clock):
    owner = owner_of(client, headers)
    writes = []
    counters = sequence.counters

    class Spy:
        def __init__(self, collection):
            self.collection = collection

        def __getattr__(self, name):
            if name.startswith(("update", "find_one_and", "insert", "delete")):
                writes.append(name)
            return getattr(self.collection, name)

    def counter():
        with app.app_context():
            return SyncCounter._get_collection().find_one({"_id": owner})

    monkeypatch.setattr(sequence, "counters", lambda: Spy(counters()))
    todos = [_create(client, headers, f"t{i}") for i in range(5)]
    client.patch(todos[0]["url"], json={"done": True}, headers=headers)
    client.delete(todos[1]["url"], headers=headers)
    # blocks of 1, 2 and 4 numbers: seven writes, three reservations (releases taken along)
    assert writes == ["find_one_and_update"] * 3
    assert counter()["seq"] == 7 and len(counter()["leases"]) == 1  # the last block's
    assert releaser.known(owner) == dict.fromkeys(counter()["leases"])  # used up: finished
    with app.app_context():
        releaser.flush()
    assert writes[3:] == ["update_one"] and counter()["leases"] == {}
    clock.advance(seconds=leases.BLOCK_AGE.total_seconds() + 1)
    _create(client, headers, "a lone write, a while later")  # a block of one, as before
    assert writes[4:] == ["find_one_and_update"] and counter()["seq"] == 8


def test_a_poll_here_closes_the_open_block_a_write_reserves_anew(app, client, headers,
                                                                releaser):
    owner = owner_of(client, headers)
    replica = Replica(client, headers)
    replica.sync()
    first, second = _create(client, headers, "1"), _create(client, headers, "2")  # [1], [2, 3]
    with app.app_context():
        assert releaser.known(owner) != {}
        held = sequence.reserve(owner)  # another process's write, after the open block: 4
        insert_at(owner, held.first, "elsewhere")
        sequence.commit(held)
    # number 3 was never handed out: the poll closes the block rather than wait for it
    assert [c["name"] for c in replica.page()["items"]] == ["1", "2", "elsewhere"]
    third = _create(client, headers, "3")
    assert [c["id"] for c in replica.page()["items"]] == [third["id"]]
    with app.app_context():
        # a block of two (the last one handed out one): 5 and 6
        assert SyncCounter._get_collection().find_one({"_id": owner})["seq"] == 6
    assert {first["id"], second["id"], third["id"]} <= set(replica.todos)


def test_an_unknown_outcome_leaves_its_whole_block_to_the_lease(app, client, headers,
                                                                 releaser, clock,
                                                                 monkeypatch):
    owner = owner_of(client, headers)
    with app.app_context():
        for _ in range(2):  # blocks [1] and [2, 3]: 2 handed out and finished, 3 next
            with sequence.stamped(owner, deferred=True):
                pass
        with pytest.raises(AutoReconnect), sequence.stamped(owner, deferred=True) as lost:
            raise AutoReconnect("primary stepped down")  # number 3 may still land
        assert lost.first == 3
        with sequence.stamped(owner, deferred=True) as later:  # a new block: [4 .. 7]
            pass
        releaser.flush()
        leases_left = SyncCounter._get_collection().find_one({"_id": owner})["leases"]
        # the block of the unknown write holds readers back: here from the unknown number
        # (2 is known finished), elsewhere from the lease's s
        assert sequence.safe_point(owner) == 2
        assert [e["s"] for e in leases_left.values()] == [2] and later.first == 4
        with monkeypatch.context() as elsewhere:
            elsewhere.setattr(releaser, "known", lambda owner: {})
            assert sequence.safe_point(owner) == 1
        clock.advance(seconds=sequence.LEASE.total_seconds() + 1)
        assert sequence.safe_point(owner) == 7  # the dead lease passed


def test_a_forked_process_hands_out_none_of_its_parents_numbers(app, client, headers,
                                                                releaser):
    owner = owner_of(client, headers)
    _create(client, headers, "1")
    _create(client, headers, "2")  # the block [2, 3] is open, 3 not handed out
    releaser._blocks_pid = -1  # as in a child forked now
    with app.app_context():
        with sequence.stamped(owner, deferred=True) as child:
            pass
    assert child.first == 4  # a reservation of its own, not the parent's 3


def test_a_reader_elsewhere_sees_a_write_once_its_lease_is_released(client, headers, app,
                                                                   elsewhere):
    replica = Replica(client, headers)
    replica.sync()
    todo = _create(client, headers, "from this process")
    assert replica.page()["items"] == []  # finished here, not yet released in the database
    with app.app_context():
        elsewhere.flush()
    assert [c["id"] for c in replica.page()["items"]] == [todo["id"]]


def test_the_releaser_releases_on_its_own_soon_after(client, headers, app, elsewhere,
                                                     monkeypatch):
    monkeypatch.setattr(leases, "RELEASE_DELAY", 0.01)
    replica = Replica(client, headers)
    replica.sync()
    todo = _create(client, headers, "released by the background thread")
    deadline = time.monotonic() + 10
    while not (items := replica.page()["items"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [c["id"] for c in items] == [todo["id"]]


def test_a_tombstone_of_a_living_todo_is_ignored(app, client, headers):
    todo = _create(client, headers)
    replica = Replica(client, headers)
    replica.sync()
    owner = owner_of(client, headers)
    with app.app_context(), sequence.stamped(owner) as reservation:
        # a deletion that wrote its tombstone and then crashed (or lost to an If-Match)
        sequence.tombstone_many(owner, [ObjectId(todo["id"])], reservation.first)
    assert replica.page()["items"] == []
    assert replica.todos == server_todos(client, headers)
    assert client.get(todo["url"], headers=headers).status_code == 200
    client.delete(todo["url"], headers=headers)  # the real deletion moves the tombstone on
    assert replica.page()["items"][0]["deleted"] is True and replica.todos == {}


def test_a_batch_numbered_once_pages_by_id_within_the_number(app, client, headers):
    owner = owner_of(client, headers)
    ids = insert_batch(app, owner, 5, seq_each=False)  # five todos, one sequence number
    replica = Replica(client, headers, limit=2)
    replica.sync()
    assert sorted(replica.todos) == sorted(map(str, ids)) and replica.pages == 3
    with app.app_context(), sequence.stamped(owner) as reservation:
        sequence.tombstone_many(owner, ids, reservation.first)
        store.collection().delete_many({"owner": owner, "_id": {"$in": ids}})
    replica.sync()
    assert replica.todos == {}


def test_seeded_todos_and_a_reset_reach_the_feed(app, client):
    with app.app_context():
        plant(users=1, todos_per_user=7)
    headers = {"Authorization": "Bearer " + client.post(
        "/api/v1/tokens", auth=("demo", "demo-password")).get_json()["access_token"]}
    replica = Replica(client, headers, limit=3)
    replica.sync()
    assert len(replica.todos) == 7 and replica.todos == server_todos(client, headers)
    with app.app_context():
        plant(users=1, todos_per_user=2, seed=1, reset=True)
    replica.sync()
    assert len(replica.todos) == 2 and replica.todos == server_todos(client, headers)


def test_account_deletion_removes_its_tombstones_and_counter(app, client, headers):
    owner = owner_of(client, headers)
    todo = _create(client, headers)
    client.delete(todo["url"], headers=headers)
    with app.app_context():
        assert Tombstone._get_collection().count_documents({"owner": owner}) == 1
    response = client.delete("/api/v1/users/me", json={"password": "correct horse"},
                             headers=headers)
    assert response.status_code == 204
    with app.app_context():
        assert Tombstone._get_collection().count_documents({"owner": owner}) == 0
        assert SyncCounter._get_collection().count_documents({"_id": owner}) == 0


def test_tombstones_expire_with_a_margin_past_the_ttl(make_app):
    app = make_app(env={"SYNC_TOMBSTONE_TTL": "60"})
    with app.app_context():
        owner = ObjectId()
        sequence.tombstone_many(owner, [ObjectId()], 1)
        tomb = Tombstone._get_collection().find_one({"owner": owner})
    kept = (tomb["expires_at"] - tomb["deleted_at"]).total_seconds()
    assert kept == 60 + sequence.TOMBSTONE_MARGIN.total_seconds()


def test_the_feed_is_bound_to_the_url_of_changes(client, headers):
    # /changes is the feed, never a todo id: a static route outranks /<todo_id>
    assert client.get(CHANGES, headers=headers).get_json().keys() == {"items", "since",
                                                                        "has_more"}


def test_db_init_numbers_todos_stored_before_the_feed(app, client, headers, runner):
    owner = owner_of(client, headers)
    with app.app_context():
        old = insert_at(owner, 0, "old")
        store.collection().update_one({"_id": old}, {"$unset": {"seq": ""}})
    assert Replica(client, headers).sync()["items"] == []  # unnumbered: invisible to the feed
    first = runner.invoke(args=["db", "init"])
    assert first.exit_code == 0 and "sequence numbers added to 1 todo(s)" in first.output
    replica = Replica(client, headers)
    replica.sync()
    assert list(replica.todos) == [str(old)]
    again = runner.invoke(args=["db", "init"])
    assert "sequence numbers added to 0 todo(s)" in again.output


class _Paused:
    """The counter collection, with one kind of call paused (``entered`` set, then waiting
    for ``go``) or followed at once by ``then()``: another thread's release caught mid-way."""

    def __init__(self, collection, name: str, then=None):
        self.collection, self.name, self.then = collection, name, then
        self.entered, self.go = threading.Event(), threading.Event()

    def __getattr__(self, name):
        method = getattr(self.collection, name)
        if name != self.name:
            return method

        def paused(*args, **kwargs):
            if self.then is None:
                self.entered.set()
                self.go.wait(10)
            result = method(*args, **kwargs)
            if self.then is not None:
                self.name = None  # once
                self.then()
            return result
        return paused


@pytest.mark.parametrize("release", ["a reservation", "the releaser"])
def test_a_client_sees_its_own_write_while_its_release_is_on_the_way(client, headers, app,
                                                                   releaser, monkeypatch,
                                                                   release):
    replica = Replica(client, headers)
    replica.sync()
    todo = _create(client, headers, "mine")  # finished in this process, not yet released
    owner = owner_of(client, headers)
    counters = sequence.counters()
    paused = _Paused(counters, "find_one_and_update" if release == "a reservation"
                     else "update_one")
    monkeypatch.setattr(sequence, "counters", lambda: paused)

    def other_request():  # another request's reservation, or the releaser's round
        with app.app_context():
            sequence.reserve(owner) if release == "a reservation" else releaser.flush()

    thread = threading.Thread(target=other_request)
    thread.start()
    try:
        assert paused.entered.wait(10)  # it holds the finished lease; its update not landed
        items = replica.page()["items"]
    finally:
        paused.go.set()
        thread.join(10)
    assert [c["id"] for c in items] == [todo["id"]]


def test_a_client_sees_its_own_write_released_between_its_reads(client, headers, app,
                                                               releaser, monkeypatch):
    replica = Replica(client, headers)
    replica.sync()
    todo = _create(client, headers, "mine")
    # the releaser's round lands right after the poll has read the counter document
    paused = _Paused(sequence.counters(), "find_one", then=releaser.flush)
    monkeypatch.setattr(sequence, "counters", lambda: paused)
    assert [c["id"] for c in replica.page()["items"]] == [todo["id"]]


def test_a_release_round_stops_at_an_unavailable_database(caplog):
    # each try waits for a server (3 s): a round, or the flush at exit, must not wait once
    # per account with finished leases
    tries = []

    class Unavailable:
        def update_one(self, *args, **kwargs):
            tries.append(args)
            raise ServerSelectionTimeoutError("no primary")

    releaser = leases.Releaser(lambda: Unavailable())
    owners = [ObjectId() for _ in range(3)]
    for owner in owners:
        releaser.give_back(owner, {str(ObjectId())})  # finished, as finish() leaves them
    releaser.flush()
    assert len(tries) == 1
    assert all(len(releaser.known(owner)) == 1 for owner in owners)  # kept for the next round
    assert "could not release" in caplog.text


def test_a_batch_a_majority_did_not_confirm_keeps_its_lease_though_some_ids_were_taken(
        app, client, headers, monkeypatch):
    # a re-run import: one id is stored already, the others inserted but not confirmed by a
    # majority (a failover may roll them back), so readers must not pass their number yet
    owner = owner_of(client, headers)
    mixed = BulkWriteError({
        "writeErrors": [{"index": 0, "code": 11000, "errmsg": "duplicate key"}],
        "writeConcernErrors": [{"code": 64, "codeName": "WriteConcernFailed",
                                "errmsg": "waiting for replication timed out"}],
        "nInserted": 1})

    class Unconfirmed:
        def __init__(self, collection):
            self.collection = collection

        def insert_many(self, documents, **kwargs):
            self.collection.insert_many(documents[1:], **kwargs)
            raise mixed

    real = store.collection
    with app.app_context():
        monkeypatch.setattr(store, "collection", lambda: Unconfirmed(real()))
        now = dates.utcnow()
        batch = [store.new_document(owner, {"name": f"i{i}"}, ObjectId(), now) for i in range(2)]
        with pytest.raises(BulkWriteError):
            store.create_many(owner, batch)
        assert sequence.safe_point(owner) == 0


@pytest.mark.parametrize("duplicate", [False, True])
def test_a_seed_batch_a_majority_did_not_confirm_keeps_its_lease(app, client, headers,
                                                                 duplicate):
    owner = owner_of(client, headers)
    unconfirmed = BulkWriteError({
        "writeErrors": [{"index": 0, "code": 11000, "errmsg": "dup"}] if duplicate else [],
        "writeConcernErrors": [{"code": 64, "codeName": "WriteConcernFailed",
                                "errmsg": "waiting for replication timed out"}],
        "nInserted": 1 if duplicate else 2})

    class Unconfirmed:
        def insert_many(self, documents, **kwargs):
            raise unconfirmed

    with app.app_context():
        now = dates.utcnow()
        batch = [store.new_document(owner, {"name": f"s{i}"}, ObjectId(), now) for i in range(2)]
        with pytest.raises(BulkWriteError):
            seed._insert_new(Unconfirmed(), batch)
        assert sequence.safe_point(owner) == 0


def test_a_delete_that_deletes_nothing_leaves_no_tombstone(client, headers, app):
    todo = _create(client, headers)
    owner = owner_of(client, headers)
    unknown = "/api/v1/todos/" + str(ObjectId())
    assert client.delete(unknown, headers=headers).status_code == 404
    stale = client.delete(todo["url"], headers={**headers, "If-Match": '"stale"'})
    assert stale.status_code == 412
    with app.app_context():
        assert Tombstone._get_collection().count_documents({"owner": owner}) == 0
    assert client.get(unknown, headers=headers).status_code == 404  # not 410: never existed
    assert client.get(todo["url"], headers=headers).status_code == 200


def test_a_deletion_whose_old_tombstone_expires_meanwhile_writes_its_own(
        app, client, headers, monkeypatch):
    todo = _create(client, headers)
    owner, todo_id = owner_of(client, headers), ObjectId(todo["id"])
    replica = Replica(client, headers)
    replica.sync()
    with app.app_context():  # a tombstone of the living todo, left by a deletion that crashed
        with sequence.stamped(owner) as crashed:
            sequence.tombstone_many(owner, [todo_id], crashed.first)
        renumber = sequence._renumber

        def expired_meanwhile(*args):  # the TTL index removes the old one between the two
            Tombstone._get_collection().delete_one({"_id": todo_id})
            renumber(*args)

        monkeypatch.setattr(sequence, "_renumber", expired_meanwhile)
    assert client.delete(todo["url"], headers=headers).status_code == 204
    assert [(c["id"], c["deleted"]) for c in replica.page()["items"]] == [(todo["id"], True)]
    assert client.get(todo["url"], headers=headers).status_code == 410


def test_another_accounts_delete_of_my_todo_writes_no_tombstone(app, client, headers, auth):
    todo = _create(client, headers)
    mallory = auth.headers("mallory")
    assert client.delete(todo["url"], headers=mallory).status_code == 404
    with app.app_context():
        assert Tombstone._get_collection().count_documents({"_id": ObjectId(todo["id"])}) == 0
    assert client.delete(todo["url"], headers=headers).status_code == 204
    assert client.get(todo["url"], headers=headers).status_code == 410
