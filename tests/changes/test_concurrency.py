"""The guarantee under load, on the embedded store: four writer threads create, replace,
patch and delete (often the same todos) for a few seconds while a syncer pages and polls;
the synced copy then equals the server's todos, todo by todo."""

from __future__ import annotations

import random
import threading
import time

from mongo_todos.todos import sequence
from tests.changes.conftest import Replica, server_todos

WRITERS = 4
SECONDS = 3.0
LONGEST = 30.0  # the bound on running on when SECONDS held too little work


def enough(polls: list, tally: dict) -> bool:
    """Whether the run held enough work: polls, creates and deletes."""
    return len(polls) > 5 and tally.get(201, 0) > 20 and tally.get(204, 0) > 5


def _writer(app, headers: dict, ids: list[str], lock: threading.Lock, stop: threading.Event,
            seed: int, tally: dict) -> None:
    client, rng = app.test_client(), random.Random(seed)
    while not stop.is_set():
        with lock:
            target = rng.choice(ids) if ids else None
        roll = rng.random()
        if target is None or roll < 0.35:
            response = client.post("/api/v1/todos", json={"name": f"w{seed}"}, headers=headers)
            if response.status_code == 201:
                with lock:
                    ids.append(response.get_json()["id"])
        elif roll < 0.65:
            response = client.patch(f"/api/v1/todos/{target}", headers=headers,
                                    json={"task": f"{seed}-{rng.random()}", "done": rng.random() < .5})
        elif roll < 0.8:
            response = client.put(f"/api/v1/todos/{target}", json={"name": f"r{seed}"},
                                  headers=headers)
        else:
            response = client.delete(f"/api/v1/todos/{target}", headers=headers)
            if response.status_code == 204:
                with lock:
                    if target in ids:
                        ids.remove(target)
        # a todo another writer deleted meanwhile is a 410; anything else is a bug
        assert response.status_code in (200, 201, 204, 410), response.get_data(as_text=True)
        tally[response.status_code] = tally.get(response.status_code, 0) + 1


def test_a_syncing_client_ends_with_the_servers_todos(app, client, headers, monkeypatch):
    writers_and_a_syncer(app, client, headers, monkeypatch)


def test_a_client_syncing_through_another_process_ends_with_the_servers_todos(
        app, client, headers, monkeypatch):
    # its reader knows only the leases released in the database (by reservations taking them
    # along, and by this process's releaser thread), not which ones this process finished
    monkeypatch.setattr(sequence.RELEASER, "known", lambda owner: {})
    writers_and_a_syncer(app, client, headers, monkeypatch)


def writers_and_a_syncer(app, client, headers: dict, monkeypatch) -> None:
    """The run and its checks (the real-MongoDB suite runs it too)."""
    def slow(numbers):
        def slow_numbers(*args, **kwargs):
            # a writer that pauses between taking its number and its write (a slow network,
            # a busy server): the window in which a reader must not pass its number
            reservation = numbers(*args, **kwargs)
            time.sleep(random.random() * 0.003)
            return reservation
        return slow_numbers

    # a request's number, from this process's block or a new reservation; a batch's
    monkeypatch.setattr(sequence, "take", slow(sequence.take))
    monkeypatch.setattr(sequence, "reserve", slow(sequence.reserve))
    ids: list[str] = []
    lock, stop, tally = threading.Lock(), threading.Event(), {}
    failures: list[BaseException] = []

    def guarded(target, *args):
        try:
            target(*args)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
            stop.set()

    replica = Replica(app.test_client(), headers, limit=7)
    polls = []

    def syncer():
        while not stop.is_set():
            replica.sync()
            polls.append(len(replica.todos))
            time.sleep(0.001)  # a client polls now and then: the writers get their turns

    threads = [threading.Thread(target=guarded, args=(_writer, app, headers, ids, lock, stop,
                                                      n, tally)) for n in range(WRITERS)]
    threads.append(threading.Thread(target=guarded, args=(syncer,)))
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    # a loaded machine may fit little work into those seconds (the syncer's polls take turns
    # with the writers): run on until there is enough for the comparison to mean something
    deadline = time.monotonic() + LONGEST
    while not enough(polls, tally) and not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    with app.app_context():
        sequence.RELEASER.flush()  # the writers' last leases, released as a moment later
    replica.sync()  # the writers have stopped: one last poll
    server = server_todos(client, headers)
    assert enough(polls, tally), (len(polls), tally)
    assert sorted(replica.todos) == sorted(server)
    for todo_id, todo in server.items():
        assert replica.todos[todo_id] == todo
