#!/usr/bin/env python3
"""The worst-case search next to a plain list, as ratios measured in one run.

    .venv/bin/python scripts/bench_search.py                 # issue 10's reproduction
    .venv/bin/python scripts/bench_search.py --todos 20 --runs 1   # smoke run (the tests)

Issue 10's reproduction: one account with --todos todos whose task is --length ``a``s, then
``GET /api/v1/todos?q=<199 a's then b>&count=true``. Each request is timed in-process (the
embedded store through Flask's test client: no network, so the numbers are the server's own
work) --runs times; the median is reported, with each row's ratio to the plain list. A search
whose cost depended on the pattern would show a ratio far above the plain ``q``'s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bson import ObjectId  # noqa: E402

from mongo_todos import create_app  # noqa: E402
from mongo_todos.dates import FAR_FUTURE, utcnow  # noqa: E402
from mongo_todos.store.documents import Todo  # noqa: E402

ENV = {"SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
       "JWT_SECRET_KEY": "bench-jwt-secret-key-that-is-long-enough-0123",
       "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--todos", type=int, default=300)
    parser.add_argument("--length", type=int, default=10_000, help="characters of each task")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    app = create_app({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}, env=ENV)
    client = app.test_client()
    client.post("/api/v1/users", json={"username": "bench", "password": "correct horse"})
    token = client.post("/api/v1/tokens", auth=("bench", "correct horse")).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    owner = ObjectId(client.get("/api/v1/users/me", headers=headers).get_json()["id"])
    task, now = "a" * args.length, utcnow()
    with app.app_context():  # stored as the API stores them, in one round trip
        Todo._get_collection().insert_many([
            {"_id": ObjectId(), "owner": owner, "name": f"t{i}", "name_key": f"t{i}",
             "task": task, "task_key": task, "done": False, "due_at": None,
             "due_sort": FAR_FUTURE, "tags": [], "created_at": now, "updated_at": now,
             "version": 1} for i in range(args.todos)])

    rows = {
        "list_count": {"count": "true"},
        "q_plain": {"q": "zzz", "count": "true"},
        "q_worst_case": {"q": "a" * 199 + "b", "count": "true"},
        "q_worst_case_upper": {"q": "A" * 199 + "B", "count": "true"},
    }
    results = {}
    for name, query in rows.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get("/api/v1/todos", headers=headers, query_string=query)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.get_json()
        results[name] = {"median_ms": round(statistics.median(times) * 1000, 2)}
    base = results["list_count"]["median_ms"]
    print(f"{args.todos} todos, tasks of {args.length} characters, median of {args.runs} runs")
    for name, row in results.items():
        row["ratio_to_list"] = round(row["median_ms"] / base, 2)
        print(f"  {name:20} {row['median_ms']:9.2f} ms   ratio to the plain list {row['ratio_to_list']:6.2f}")
    if args.output:
        args.output.write_text(json.dumps({"settings": vars(args) | {"output": str(args.output)},
                                           "results": results}, indent=2))


if __name__ == "__main__":
    main()
