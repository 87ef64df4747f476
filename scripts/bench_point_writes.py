#!/usr/bin/env python3
"""What a single-document write by ``_id`` costs on the embedded store, direct and mongomock's.

    .venv/bin/python scripts/bench_point_writes.py
    .venv/bin/python scripts/bench_point_writes.py --ops 2000 --rounds 5

Times the writes the app makes (the changes feed's counter update, a todo's PATCH, an
``update_one`` and a ``delete_one`` by ``_id``) on an embedded collection of 100 documents, with
mongo_todos.store.embedded_point's direct path and with it turned off (mongomock's generic
update, as before it existed), alternating the two in rounds so that load changes hit both
alike; reports the best round's microseconds per operation (the least disturbed by other
work on a shared machine) and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bson import ObjectId  # noqa: E402
from pymongo import ReturnDocument  # noqa: E402

from mongo_todos.store import embedded_point  # noqa: E402
from mongo_todos.store.embedded import EmbeddedClient  # noqa: E402

PROJECTION = {key: 1 for key in ("name", "task", "done", "due_at", "tags", "created_at",
                                 "updated_at", "version", "seq")}
NOW = datetime(2030, 1, 1, 12, 0, 0, 123456)


def _collections():
    database = EmbeddedClient().db
    owner = ObjectId()
    counters = database.sync_counters
    counters.insert_one({"_id": owner, "seq": 0, "leases": {}})
    todos = database.todos
    todos.create_index([("owner", 1), ("updated_at", 1), ("_id", 1)])
    todos.insert_many([{"owner": owner, "name": f"todo {i}", "task": "", "done": False,
                        "due_at": None, "tags": ["a"], "created_at": NOW, "updated_at": NOW,
                        "version": 1, "seq": i} for i in range(100)])
    return owner, counters, todos


def _counter(owner, counters, n):
    tags = [f"{ObjectId()}" for _ in range(n + 1)]
    for i in range(n):
        counters.find_one_and_update(
            {"_id": owner},
            {"$inc": {"seq": 1},
             "$set": {f"leases.{tags[i + 1]}": {"s": i, "n": 1, "until": NOW + timedelta(i)}},
             "$unset": {f"leases.{tags[i]}": ""}},
            {"seq": 1, "leases": 1}, upsert=True)


def _patch(owner, todos, ids, n):
    for i in range(n):
        todo_id = ids[i % len(ids)]
        current = todos.find_one({"_id": todo_id}, {"version": 1})
        todos.find_one_and_update(
            {"_id": todo_id, "owner": owner, "version": current["version"]},
            {"$set": {"name": f"renamed {i}", "updated_at": NOW + timedelta(seconds=i),
                      "seq": i}, "$inc": {"version": 1}},
            projection=PROJECTION, return_document=ReturnDocument.AFTER)


def _update_one(owner, todos, ids, n):
    for i in range(n):
        todos.update_one({"_id": ids[i % len(ids)], "owner": owner}, {"$set": {"done": i % 2 == 0}})


def _delete_one(owner, todos, n):
    ids = todos.insert_many([{"owner": owner, "name": "x", "updated_at": NOW}
                             for _ in range(n)]).inserted_ids
    started = time.perf_counter()
    for todo_id in ids:
        todos.delete_one({"_id": todo_id, "owner": owner})
    return time.perf_counter() - started


def _time(kind: str, n: int) -> float:
    owner, counters, todos = _collections()
    ids = [todo["_id"] for todo in todos.find({}, {"_id": 1})]
    if kind == "delete_one":
        return _delete_one(owner, todos, n) / n * 1e6
    started = time.perf_counter()
    if kind == "counter":
        _counter(owner, counters, n)
    elif kind == "patch":
        _patch(owner, todos, ids, n)
    else:
        _update_one(owner, todos, ids, n)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="operations per timing")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two paths")
    args = parser.parse_args()
    names = ("find_one_and_update", "update_one", "delete_one")
    direct = {name: getattr(embedded_point, name) for name in names}
    print("| write | direct µs | mongomock's µs | ratio |")
    print("|---|---|---|---|")
    for kind, label in (("counter", "feed counter: find_one_and_update, $inc/$set/$unset"),
                        ("patch", "PATCH: find_one + find_one_and_update AFTER"),
                        ("update_one", "update_one by _id"), ("delete_one", "delete_one by _id")):
        fast, slow = [], []
        for _ in range(args.rounds):
            fast.append(_time(kind, args.ops))
            for name in names:
                setattr(embedded_point, name, lambda *a, **k: embedded_point.SLOW)
            try:
                slow.append(_time(kind, args.ops))
            finally:
                for name, function in direct.items():
                    setattr(embedded_point, name, function)
        f, s = min(fast), min(slow)
        print(f"| {label} | {f:.1f} | {s:.1f} | {s / f:.1f}x |")


if __name__ == "__main__":
    main()
