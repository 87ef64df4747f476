#!/usr/bin/env python3
"""Which of two checkouts serves a row faster, measured side by side (interleaved).

    .venv/bin/python scripts/bench_ab.py --against ../other-checkout create delete
    .venv/bin/python scripts/bench_ab.py --against /tmp/old --rounds 6 --duration 2 patch

``git worktree add /tmp/old <commit>`` makes the other checkout. Three gunicorn servers run at
once on loopback with the production settings (config/gunicorn.conf.py, as scripts/bench.py
starts them): bare Flask (the ceiling), the other checkout's API and this one's, each API seeded
with 100 todos through the API. Then each row is driven by wrk (-c2) on the three in turn, the
order reversed every round, and the medians are printed: requests per second, and as a ratio
to the ceiling measured in the same rounds.

Why: on a shared machine the speed drifts by a third within minutes, so two separate
``scripts/bench.py`` runs cannot tell a 5 % change from the drift (docs/benchmarks.md, round
4). Alternating the servers every couple of seconds puts both under the same drift. Needs only
the standard library, gunicorn and wrk, as scripts/bench.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402

ROWS = ("get", "create", "patch", "delete", "list")


def drive(row: str, base: str, state, args, workdir: Path, name: str) -> dict:
    """One wrk run of ``row`` against one server; its stats."""
    options = argparse.Namespace(connections=2)
    if state is None:  # the ceiling
        return bench.run_wrk(base + "/json", bench.lua_get(None), options, workdir, name,
                             args.duration)
    token, ids = state
    if row == "get":
        url, script = f"{base}/api/v1/todos/{ids[0]}", bench.lua_get(token)
    elif row == "list":
        url, script = f"{base}/api/v1/todos?limit=20", bench.lua_get(token)
    elif row == "patch":
        url, script = base, bench.lua_patch(token, ids[1:3])
    elif row == "create":
        url, script = f"{base}/api/v1/todos", bench.lua_create(token, workdir / f"{name}.ids")
    else:  # delete: what an unmeasured create run three times as long made (a DELETE runs
        # up to twice as fast as a create, more when the machine's speed shifts between the
        # two runs: past its pool it would answer 404, shown as non-2xx)
        bench.run_wrk(f"{base}/api/v1/todos", bench.lua_create(token, workdir / f"{name}.ids"),
                      options, workdir, f"{name}-pool", 3 * args.duration)
        pool = (workdir / f"{name}.ids").read_text().split()
        url, script = f"{base}/api/v1/todos", bench.lua_delete(token, pool, 2)
    return bench.run_wrk(url, script, options, workdir, name, args.duration)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", choices=ROWS)
    parser.add_argument("--against", type=Path, required=True,
                        help="the other checkout (its config/ and mongo_todos/ are used)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=2, help="seconds of each wrk run")
    args = parser.parse_args(argv)
    if not (args.against / "mongo_todos" / "__init__.py").is_file():
        parser.error(f"{args.against} is not a checkout of this project")
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    servers = {"ceiling": (bench.ROOT, "bench_ceiling:app"), "other": (args.against, None),
               "this": (bench.ROOT, None)}
    results: dict = {}
    with ExitStack() as stack:
        bases, states = {}, {}
        for name, (root, app) in servers.items():
            port = bench.free_port()
            stack.enter_context(bench.gunicorn(app, port, 1, workdir / f"{name}.log",
                                               bench.SERVER_ENV, root.resolve()))
            bases[name] = f"http://127.0.0.1:{port}"
            states[name] = None if app else bench.seed(bench.Client(bases[name]), 100, 0)
        for row in args.rows:
            rps: dict = {name: [] for name in servers}
            for round_ in range(args.rounds):
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    stats = drive(row, bases[name], states[name], args, workdir,
                                  f"{row}-{name}-{round_}")
                    if stats["non_2xx"] or stats["socket_errors"]:
                        print(f"  {row} {name}: {stats['non_2xx']} non-2xx, "
                              f"{stats['socket_errors']} socket errors", flush=True)
                    rps[name].append(stats["rps"])
            ceiling = statistics.median(rps["ceiling"])
            results[row] = {name: {"median_rps": statistics.median(values), "runs": values,
                                   "ratio": round(statistics.median(values) / ceiling, 3)}
                            for name, values in rps.items()}
            this, other = results[row]["this"], results[row]["other"]
            print(f"{row:<7} this {this['median_rps']:8.1f} req/s ({this['ratio']:.3f})  "
                  f"other {other['median_rps']:8.1f} req/s ({other['ratio']:.3f})  "
                  f"this/other {this['median_rps'] / other['median_rps']:.3f}  "
                  f"ceiling {ceiling:.0f}", flush=True)
    return results


if __name__ == "__main__":
    main()
