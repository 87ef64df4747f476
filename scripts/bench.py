#!/usr/bin/env python3
"""Benchmark harness: mongo_todos against the bare-Flask ceiling, in one run.

    .venv/bin/python scripts/bench.py                  # 10 s per endpoint
    .venv/bin/python scripts/bench.py --duration 1     # smoke run (what CI does)

It starts two gunicorn servers on loopback with the production settings
(config/gunicorn.conf.py) and the same fixed worker count: mongo_todos on its embedded store,
and a bare Flask app returning a static todo-shaped JSON document (scripts/bench_ceiling.py).
It seeds a known data set through the API (one user, --todos todos), then drives each endpoint
for --duration seconds with wrk (Debian's package: a separate C process, so the client costs
little of the two cores) and reports requests per second, p50/p99 latency, and each endpoint's
throughput as a ratio to the ceiling measured in the same run. Results go to a JSON file.

Absolute numbers depend on the machine and whatever else runs on it; the ratios are the
result. Rate limiting stays on (with a limit high enough never to trigger), as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
    "JWT_SECRET_KEY": "bench-jwt-secret-key-that-is-long-enough-01234",
}

# wrk script pieces. done() prints one JSON line the harness parses.
DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def lua_get(token: str | None) -> str:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    return auth + DONE


def lua_post(token: str) -> str:
    return (
        f'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer {token}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.body = \'{"name": "bench todo", "task": "created by wrk", "tags": ["bench"]}\'\n'
        + DONE
    )


def lua_patch(token: str, ids: list[str]) -> str:
    """Each wrk thread (one connection each) PATCHes its own todo with the ETag it last saw."""
    id_list = ", ".join(f'"{i}"' for i in ids)
    return f"""
local ids = {{{id_list}}}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("todo_id", ids[counter])
end
init = function(args)
  etag = "*"
  flip = false
end
request = function()
  flip = not flip
  local body = flip and '{{"done": true}}' or '{{"done": false}}'
  return wrk.format("PATCH", "/api/v1/todos/" .. todo_id, {{
    ["Authorization"] = "Bearer {token}",
    ["Content-Type"] = "application/json",
    ["If-Match"] = etag,
  }}, body)
end
response = function(status, headers, body)
  if headers["ETag"] then etag = headers["ETag"] end
end
""" + DONE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app: str | None, port: int, workers: int, log: Path, env: dict):
    """gunicorn with the production settings, on loopback, until the block ends."""
    args = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    if app:
        args += ["--pythonpath", "scripts", app]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "RATELIMIT_"))}
    full_env.update(env)
    with open(log, "w") as out:
        process = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start; see {log}") from None
                time.sleep(0.1)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_wrk(url: str, script: str, args, workdir: Path, name: str) -> dict:
    path = workdir / f"{name}.lua"
    path.write_text(script)
    command = ["wrk", "-t", str(args.connections), "-c", str(args.connections),
               "-d", f"{args.duration}s", "--timeout", "5s", "-s", str(path), url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 60)
    if output.returncode != 0:
        raise RuntimeError(f"wrk failed: {output.stderr}")
    line = next(ln for ln in output.stdout.splitlines() if ln.startswith('{"requests"'))
    stats = json.loads(line)
    seconds = stats["duration_us"] / 1e6
    return {
        "requests": stats["requests"],
        "rps": round(stats["requests"] / seconds, 1),
        "p50_ms": round(stats["p50_us"] / 1000, 3),
        "p90_ms": round(stats["p90_us"] / 1000, 3),
        "p99_ms": round(stats["p99_us"] / 1000, 3),
        "non_2xx": stats["non_2xx"],
        "socket_errors": stats["socket_errors"],
    }


def seed(base: str, todos: int) -> tuple[str, list[str]]:
    """One user with ``todos`` todos, through the API; its access token and todo ids."""
    s = requests.Session()
    credentials = {"username": "bench", "password": "bench-password"}
    s.post(f"{base}/api/v1/users", json=credentials, timeout=10).raise_for_status()
    token = s.post(f"{base}/api/v1/tokens", json=credentials, timeout=10).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    ids = []
    for i in range(todos):
        response = s.post(f"{base}/api/v1/todos", headers=auth, timeout=10, json={
            "name": f"todo {i:03d}", "task": "seeded", "tags": ["seed", f"t{i % 5}"],
            "due_at": None if i % 3 == 0 else f"2030-01-{1 + i % 28:02d}T09:00:00Z"})
        response.raise_for_status()
        ids.append(response.json()["id"])
    return token, ids


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=2,
                        help="wrk threads = connections (each sequential, so If-Match holds)")
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn workers for both servers (the embedded store needs 1)")
    parser.add_argument("--todos", type=int, default=100, help="todos seeded for the user")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "latest.json")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra setting for the API server, e.g. RATELIMIT_ENABLED=false "
                             "to measure what a layer costs")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    env = {**SECRETS, "RATELIMIT_DEFAULT": "100000000 per minute", "LOG_LEVEL": "WARNING"}
    api_env = {**env, **dict(item.split("=", 1) for item in args.env)}
    ceiling_port, api_port = free_port(), free_port()
    results: dict = {}
    with gunicorn("bench_ceiling:app", ceiling_port, args.workers, workdir / "ceiling.log", env):
        results["bare_flask_json"] = run_wrk(
            f"http://127.0.0.1:{ceiling_port}/json", lua_get(None), args, workdir, "ceiling")
    with gunicorn(None, api_port, args.workers, workdir / "api.log", api_env):
        base = f"http://127.0.0.1:{api_port}"
        token, ids = seed(base, args.todos)
        results["get_todo"] = run_wrk(f"{base}/api/v1/todos/{ids[0]}", lua_get(token), args,
                                      workdir, "get")
        results["list_20"] = run_wrk(f"{base}/api/v1/todos?limit=20", lua_get(token), args,
                                     workdir, "list")
        results["patch_if_match"] = run_wrk(base, lua_patch(token, ids[1:1 + args.connections]),
                                            args, workdir, "patch")
        # last: it grows the data set
        results["create_todo"] = run_wrk(f"{base}/api/v1/todos", lua_post(token), args, workdir,
                                         "create")
    ceiling = results["bare_flask_json"]["rps"]
    for stats in results.values():
        stats["ratio_to_ceiling"] = round(stats["rps"] / ceiling, 3) if ceiling else None
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "settings": {"duration_s": args.duration, "connections": args.connections,
                     "api_env": dict(item.split("=", 1) for item in args.env),
                     "workers": args.workers, "seeded_todos": args.todos,
                     "load_generator": "wrk", "server": "gunicorn -c config/gunicorn.conf.py"},
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'endpoint':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}{'ratio':>8}")
    for name, stats in results.items():
        print(f"{name:<18}{stats['rps']:>10.0f}{stats['p50_ms']:>10.2f}{stats['p99_ms']:>10.2f}"
              f"{stats['non_2xx']:>9}{stats['ratio_to_ceiling']:>8.2f}")
    print(f"results: {args.output}")
    return report


if __name__ == "__main__":
    main()
