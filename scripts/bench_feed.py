#!/usr/bin/env python3
"""What the changes feed costs a write, and what a poll costs, measured in process.

    .venv/bin/python scripts/bench_feed.py            # 100 and 10,000 todos
    .venv/bin/python scripts/bench_feed.py --sizes 100 --rounds 3

The wrk rows of scripts/bench.py measure whole servers, and on a shared machine their noise
is larger than the few percent in question. Here one process times the same requests (Flask's
test client, the embedded store, the full request path) with the feed's write side on and
stubbed out (:func:`mongo_todos.todos.sequence.stamped` yielding a dummy reservation, and no
tombstone written; a DELETE is then its ``delete_one`` alone, as before the feed: the read that
precedes the tombstone is the feed's too, so it counts as its cost), alternating the two in
blocks so that load changes hit both alike, after one warm-up round, and reports medians:
create, PATCH and DELETE with and without the feed, and a 304 revalidation next to an empty
changes poll and a poll with 3 changes.

The writes come in bursts of 50 per kind, as from a seed script or a client flushing its
offline queue, so with the feed they share blocks of numbers (mongo_todos.todos.leases). A
third mode reserves every write's number on its own (``BLOCK_MAX`` of 1), which is what a lone
write pays, and what every write paid before blocks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bson import ObjectId  # noqa: E402

from mongo_todos import create_app, dates  # noqa: E402
from mongo_todos.todos import leases, sequence, store  # noqa: E402

ENV = {"SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
       "JWT_SECRET_KEY": "bench-jwt-secret-key-that-is-long-enough-01234",
       "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "TODO_QUOTA": "0"}
BLOCK = 50


@contextmanager
def _no_feed(owner, count=1, deferred=False):
    yield sequence.Reservation(owner, 0, 0, dates.utcnow())


def _delete_without_feed(query: dict) -> None:
    """:func:`mongo_todos.todos.store.delete` as it was before the feed: no read first (it is
    there so that no tombstone is written for another account's todo), no tombstone."""
    if not store.collection().delete_one(query).deleted_count:
        store.missing_or_changed(query)


def _timed(times: list, call, *args, **kwargs):
    """``call(*args, **kwargs)``, its duration in ms appended to ``times``; its result."""
    started = time.perf_counter()
    result = call(*args, **kwargs)
    times.append((time.perf_counter() - started) * 1000)
    return result


def _account(size: int):
    app = create_app({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}, env=ENV)
    client = app.test_client()
    user = {"username": "bench", "password": "bench-password"}
    client.post("/api/v1/users", json=user)
    token = client.post("/api/v1/tokens", json=user).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    owner = ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])
    now = dates.utcnow()
    with app.app_context(), sequence.stamped(owner, size) as reservation:
        store.collection().insert_many([
            {"_id": ObjectId(), "owner": owner,
             **store.stored_fields({"name": f"todo {i:05d}", "task": "seeded", "due_at": None}),
             "done": False, "tags": [], "created_at": now, "updated_at": now, "version": 1,
             "seq": reservation.first + i} for i in range(size)])
    return app, client, headers


def writes(client, headers, rounds: int) -> dict[str, dict[str, list[float]]]:
    modes = ("feed", "stub", "lone")
    times = {kind: {mode: [] for mode in modes} for kind in ("create", "patch", "delete")}
    warm_up = {kind: {mode: [] for mode in modes} for kind in ("create", "patch", "delete")}
    for round_ in range(rounds + 1):  # the first round warms up (caches, indexes): not counted
        kept = times if round_ else warm_up
        for mode in modes + modes[::-1]:
            real = sequence.stamped, sequence.tombstone_many, leases.BLOCK_MAX, store.delete
            if mode == "stub":  # no reservation, no tombstone, no read before a deletion
                sequence.stamped = _no_feed
                sequence.tombstone_many = lambda owner, ids, seq: None
                store.delete = _delete_without_feed
            elif mode == "lone":  # a reservation per write
                leases.BLOCK_MAX = 1
            try:
                urls = [_timed(kept["create"][mode], client.post, "/api/v1/todos",
                               json={"name": "bench"}, headers=headers).headers["Location"]
                        for _ in range(BLOCK)]
                for url in urls:
                    _timed(kept["patch"][mode], client.patch, url, json={"done": True},
                           headers=headers)
                for url in urls:
                    _timed(kept["delete"][mode], client.delete, url, headers=headers)
            finally:
                sequence.stamped, sequence.tombstone_many, leases.BLOCK_MAX, store.delete = real
                sequence.RELEASER.flush()  # no block open across modes
    return times


def reads(client, headers, rounds: int) -> dict[str, list[float]]:
    url = client.get("/api/v1/todos?limit=1", headers=headers).get_json()["items"][0]["url"]
    etag = client.get(url, headers=headers).headers["ETag"]
    since, page = None, {"has_more": True}
    while page["has_more"]:
        query = {"limit": 1000, **({"since": since} if since else {})}
        page = client.get("/api/v1/todos/changes", query_string=query, headers=headers).get_json()
        since = page["since"]
    times = {"304": [], "empty poll": [], "3 changes": []}
    for _ in range(rounds * 4):
        for _ in range(BLOCK):
            _timed(times["304"], client.get, url, headers={**headers, "If-None-Match": etag})
            _timed(times["empty poll"], client.get, "/api/v1/todos/changes",
                   query_string={"since": since}, headers=headers)
    todos = client.get("/api/v1/todos?limit=3", headers=headers).get_json()["items"]
    for todo in todos:
        client.patch(todo["url"], json={"task": "changed"}, headers=headers)
    for _ in range(rounds * 4 * BLOCK):
        _timed(times["3 changes"], client.get, "/api/v1/todos/changes",
               query_string={"since": since}, headers=headers)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    print("| todos | request | median ms with the feed (a burst) | a reservation each "
          "| without | feed's share (burst) | (a reservation each) |")
    print("|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        app, client, headers = _account(size)
        for kind, modes in writes(client, headers, args.rounds).items():
            feed, stub = statistics.median(modes["feed"]), statistics.median(modes["stub"])
            lone = statistics.median(modes["lone"])
            print(f"| {size} | {kind} | {feed:.3f} | {lone:.3f} | {stub:.3f} "
                  f"| {feed / stub - 1:+.0%} | {lone / stub - 1:+.0%} |")
        timed = reads(client, headers, args.rounds)
        base = statistics.median(timed["304"])
        for kind, values in timed.items():
            median = statistics.median(values)
            print(f"| {size} | {kind} | {median:.3f} | | | {median / base:.2f}x a 304 | |")


if __name__ == "__main__":
    main()
