"""Benchmark rows of the background jobs (issue 20), run by scripts/bench.py (``--jobs-todos``).

On a fresh embedded-store server: an import of N todos (NDJSON, one request, then polling the
job every 20 ms until it has finished), an export of the same N todos (NDJSON, until the job
has finished, then its download), and the latency of a point GET driven in a loop by a second
connection for as long as the import runs: the job holds the store one batch at a time, so
those GETs wait at most a batch. Reported as seconds, todos per second, and p50/p99/max ms.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

import bench  # its helpers, looked up when called (bench.py imports this module)

POLL = 0.02


def _job(client: bench.Client, auth: dict, path: str, body: bytes, media: str) -> tuple[float, dict]:
    """Start a job and poll it to its end: (seconds, the finished job)."""
    started = time.perf_counter()
    client.connection.request("POST", path, body, {**auth, "Content-Type": media})
    response = client.connection.getresponse()
    response.read()
    if response.status != 202:
        raise RuntimeError(f"POST {path}: {response.status}")
    url = response.getheader("Location").split("://", 1)[1].split("/", 1)[1]
    while True:
        _, _, job = client.request("GET", "/" + url, headers=auth, expect=200)
        if job["status"] not in ("queued", "running"):
            return time.perf_counter() - started, job
        time.sleep(POLL)


def _poll_gets(base: str, auth: dict, path: str, stop: threading.Event, out: list) -> None:
    client = bench.Client(base)
    while not stop.is_set():
        started = time.perf_counter()
        status, _, _ = client.request("GET", path, headers=auth)
        out.append((time.perf_counter() - started, status))


def _rate(seconds: float, count: int) -> dict:
    return {"seconds": round(seconds, 3), "todos_per_s": round(count / seconds, 1)}


def bench_jobs(count: int, workers: int, env: dict, workdir) -> dict:
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    with bench.gunicorn(None, port, workers, workdir / "api-jobs.log", env):
        client = bench.Client(base)
        auth = {"Authorization": f"Bearer {bench.register(client, 'jobs')}"}
        _, _, probe = client.request("POST", "/api/v1/todos", {"name": "polled"}, auth,
                                     expect=201)
        lines = "".join(json.dumps({"name": f"todo {i:05d}", "task": "imported",
                                    "tags": ["bench", f"t{i % 5}"]}) + "\n"
                        for i in range(count)).encode()
        stop, gets = threading.Event(), []
        poller = threading.Thread(target=_poll_gets, args=(
            base, auth, f"/api/v1/todos/{probe['id']}", stop, gets))
        poller.start()
        try:
            seconds, job = _job(client, auth, "/api/v1/imports", lines, "application/x-ndjson")
        finally:
            stop.set()
            poller.join()
        if job["status"] != "succeeded" or job["result"]["created"] != count:
            raise RuntimeError(f"import: {job}")
        results = {"import": _rate(seconds, count)}
        seconds, job = _job(client, auth, "/api/v1/exports", b'{"format": "ndjson"}',
                            "application/json")
        if job["status"] != "succeeded":
            raise RuntimeError(f"export: {job}")
        results["export"] = {**_rate(seconds, count + 1), "bytes": job["result"]["bytes"]}
    latencies = sorted(seconds * 1000 for seconds, _ in gets)
    results["get_during_import"] = {
        "requests": len(gets), "non_2xx": sum(1 for _, status in gets if status != 200),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
        "max_ms": round(latencies[-1], 2) if latencies else None}
    return {"todos": count, "rows": results}


def markdown(jobs: dict) -> list[str]:
    rows = jobs["rows"]
    during = rows["get_during_import"]
    return ["", f"| background jobs ({jobs['todos']} todos) | result |", "|---|---|",
            f"| import | {rows['import']['seconds']} s, {rows['import']['todos_per_s']:.0f} "
            "todos/s |",
            f"| export (NDJSON) | {rows['export']['seconds']} s, "
            f"{rows['export']['todos_per_s']:.0f} todos/s |",
            f"| GET one todo during the import | p50 {during['p50_ms']} ms, p99 "
            f"{during['p99_ms']} ms, max {during['max_ms']} ms ({during['requests']} "
            f"requests, {during['non_2xx']} non-2xx) |"]
