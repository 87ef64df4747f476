#!/usr/bin/env python3
"""Where a request's time goes: cProfile over N requests of one kind, self time by layer.

    .venv/bin/python scripts/profile_requests.py get      # or: list, create, patch, ceiling
    .venv/bin/python scripts/profile_requests.py list --functions 30   # plus the top functions

Requests run in-process through Flask's test client on the embedded store (one user, 100
todos). Each function's own time (not counting what it calls) is attributed to the layer its
module belongs to, so the layers add up to the total: the embedded store (mongomock, and
this service's part of it in mongo_todos/store), JWT, rate limiter, request parsing and
schemas, MongoEngine, the rest of this service's own code, and
Flask/Werkzeug (which includes the test client's own share); standard-library time is charged
to the layer that called it. ``ceiling`` profiles the bare
Flask JSON endpoint of scripts/bench_ceiling.py the same way, for comparison.
"""

import argparse
import cProfile
import os
import pstats
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "profile-secret-key-that-is-long-enough-012345")
os.environ.setdefault("JWT_SECRET_KEY", "profile-jwt-secret-key-that-is-long-enough-0123")
os.environ.setdefault("RATELIMIT_DEFAULT", "100000000 per minute")
os.environ.setdefault("LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))

LAYERS = [  # (layer, path fragments), first match wins
    ("embedded store (mongomock)", ["/mongomock/", "/bson/", "/pymongo/"]),
    ("JWT (flask-jwt-extended, PyJWT)", ["/flask_jwt_extended/", "/jwt/"]),
    ("rate limiter (flask-limiter)", ["/flask_limiter/", "/limits/"]),
    ("parsing + schemas (webargs, marshmallow, flask-smorest)",
     ["/webargs/", "/marshmallow/", "/flask_smorest/"]),
    ("MongoEngine", ["/mongoengine/", "/flask_mongoengine/"]),
    ("embedded store, this service's part (mongo_todos/store)", ["/mongo_todos/store/"]),
    ("mongo_todos", ["/mongo_todos/"]),
    ("Flask, Werkzeug", ["/flask/", "/werkzeug/", "/itsdangerous/"]),
]


OTHER = "Python, not attributable to a caller"


def layer_of(filename: str) -> str:
    for layer, fragments in LAYERS:
        if any(f in filename for f in fragments):
            return layer
    return OTHER


def attribute(table, func, seen) -> dict[str, float]:
    """The layers a function's own time belongs to. Standard-library code (copy, json, re...)
    is charged to whoever called it, in proportion to the time each caller spent in it."""
    layer = layer_of(func[0])
    if layer != OTHER or func in seen:
        return {layer: 1.0}
    callers = table[func][4]
    total = sum(entry[2] for entry in callers.values())
    if not callers or total <= 0:
        return {OTHER: 1.0}
    shares: dict[str, float] = defaultdict(float)
    for caller, entry in callers.items():
        if caller not in table:
            shares[OTHER] += entry[2] / total
            continue
        for name, share in attribute(table, caller, seen | {func}).items():
            shares[name] += share * entry[2] / total
    return shares


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["get", "304", "list", "create", "patch", "delete",
                                         "ceiling"])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--functions", type=int, default=0, help="also list the top functions")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"],
                        help="order of the functions listed (cumulative: the hooks and layers)")
    args = parser.parse_args()

    if args.kind == "ceiling":
        from bench_ceiling import app

        client = app.test_client()

        def once():
            client.get("/json")
    else:
        from mongo_todos import create_app

        app = create_app()
        client = app.test_client()
        credentials = {"username": "profile", "password": "profile-password"}
        client.post("/api/v1/users", json=credentials)
        token = client.post("/api/v1/tokens", json=credentials).get_json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        urls = [client.post("/api/v1/todos", json={"name": f"t{i}", "tags": ["a"]}, headers=auth)
                .get_json()["url"] for i in range(100)]
        etag = {"value": "*"}
        current = client.get(urls[0], headers=auth).headers["ETag"]
        doomed = [client.post("/api/v1/todos", json={"name": f"d{i}"}, headers=auth)
                  .get_json()["url"] for i in range(args.n + 50)] if args.kind == "delete" else []

        def once():
            if args.kind == "get":
                client.get(urls[0], headers=auth)
            elif args.kind == "304":
                client.get(urls[0], headers={**auth, "If-None-Match": current})
            elif args.kind == "delete":
                client.delete(doomed.pop(), headers=auth)
            elif args.kind == "list":
                client.get("/api/v1/todos?limit=20", headers=auth)
            elif args.kind == "create":
                client.post("/api/v1/todos", json={"name": "x", "tags": ["b"]}, headers=auth)
            else:
                r = client.patch(urls[1], json={"done": True},
                                 headers={**auth, "If-Match": etag["value"]})
                etag["value"] = r.headers["ETag"]

    for _ in range(50):
        once()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.n):
        once()
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_layer: dict[str, float] = defaultdict(float)
    for func, (_, _, tottime, _, _) in stats.stats.items():
        for layer, share in attribute(stats.stats, func, set()).items():
            by_layer[layer] += tottime * share
    total = sum(by_layer.values())
    print(f"{args.kind}: {args.n} requests, {total / args.n * 1e6:.0f} us each under the profiler")
    for layer, seconds in sorted(by_layer.items(), key=lambda kv: -kv[1]):
        print(f"  {layer:<58}{seconds / args.n * 1e6:>8.0f} us {seconds / total:>6.1%}")
    if args.functions:
        stats.sort_stats(args.sort).print_stats(args.functions)


if __name__ == "__main__":
    main()
