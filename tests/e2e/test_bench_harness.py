"""Smoke run of the benchmark harness: it starts, seeds, drives every row on a tiny store and
writes its report and table. No timing is asserted (these machines are shared and noisy); the
numbers are for docs/benchmarks.md, from a full run."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.support.servers import ROOT

ROWS = {"get_todo", "revalidate_304", "list_20", "list_page_10", "list_q", "patch_if_match",
        "login", "create_todo", "delete_todo", "changes_empty", "changes_3"}


@pytest.mark.skipif(shutil.which("wrk") is None,
                    reason="wrk is not installed (.ci/run installs it with apt-get)")
def test_bench_harness_smoke_run(tmp_path):
    output = tmp_path / "bench.json"
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({"ceiling_rps": 1000.0, "results": {"15+30": {"rows": {
        "get_todo": {"rps": 100.0, "tail": {"p99_ms": 50.0}}, "list_20": {"rps": 50.0}}}}}))
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--duration", "2", "--sizes", "15+30",
         "--search-todos", "3", "--jobs-todos", "300", "--output", str(output),
         "--compare", str(previous)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert report["sizes"] == ["15+30"]
    size = report["results"]["15+30"]
    assert (size["own"], size["others"]) == (15, 30)
    assert set(size["rows"]) == ROWS
    jobs = report["jobs"]["rows"]
    assert jobs["import"]["todos_per_s"] > 0 and jobs["export"]["todos_per_s"] > 0
    assert jobs["get_during_import"]["non_2xx"] == 0
    search = report["results"]["search"]["rows"]
    assert set(search) == {"search_list_20", "search_worst_q"}
    ceiling = report["ceiling_rps"]
    ceilings = report["ceiling"]
    assert ceiling == (ceilings["first"]["rps"] + ceilings["last"]["rps"]) / 2
    # a size's rows against the ceilings measured just before and after them; the search
    # server's (measured after every size) against the run's
    assert size["ceiling_rps"] == (ceilings["first"]["rps"] + ceilings["after 15+30"]["rps"]) / 2
    delete = size["rows"]["delete_todo"]
    for rows, own in ((size["rows"], size["ceiling_rps"]), (search, ceiling)):
        for name, stats in rows.items():
            assert stats["requests"] > 0, name
            assert stats["non_2xx"] == 0 and stats["socket_errors"] == 0, (name, stats)
            assert stats["p50_ms"] <= stats["p99_ms"]
            # each request's latency as observed, beside wrk's corrected percentiles
            assert 0 < stats["p50_observed_ms"] <= stats["p99_observed_ms"]
            assert stats["ratio_to_ceiling"] == round(stats["rps"] / own, 3)
    # every row ran again from 4 clients while a login ran alongside; bare Flask too (no login)
    assert report["settings"]["tail_connections"] == 4
    for run in ceilings.values():
        assert run["tail"]["requests"] > 0 and run["tail"]["non_2xx"] == 0
    for name, stats in size["rows"].items():
        tail = stats["tail"]
        assert tail["requests"] > 0 and tail["logins_alongside"] > 0, name
        assert tail["non_2xx"] == 0 and tail["socket_errors"] == 0 and tail["login_non_2xx"] == 0
        assert tail["p50_ms"] <= tail["p99_ms"]
        if name == "login":  # the server's share of the rows below leaves logins out
            assert "server_p99_ms" not in tail
            continue
        # the server's own handling, from its access log: the tail's requests (one or two in
        # flight when wrk stopped, or logged after it read the log, may differ) and no login
        assert abs(tail["server_requests"] - tail["requests"]) <= max(8, tail["requests"] // 20)
        assert 0 < tail["server_p50_ms"] <= tail["server_p99_ms"] <= tail["server_max_ms"]
    # DELETE removed todos the create rows made (never the seeded ones), each one once
    assert delete["requests"] <= delete["pool"]
    assert delete["tail"]["requests"] <= delete["tail"]["pool"]
    # one line per row measured in both runs, against that run's own ceiling
    assert len(report["comparison"]) == 2
    get_line = next(line for line in report["comparison"] if "get_todo" in line)
    assert "vs 100 (0.10)" in get_line and "vs 50.0 ms" in get_line
    assert get_line in result.stdout
    # the goals this run can judge (no 100 or 10k size here: only the tails)
    assert {g["goal"].split()[0] for g in report["goals"]} == {
        "get_todo", "revalidate_304", "patch_if_match", "create_todo", "delete_todo", "list_20",
        "list_page_10"}
    # each p99 goal names the bare-Flask server's own p99 in the same run beside it, from as
    # many clients as the row's tail
    assert all("(bare Flask from 4 clients: " in g["measured"]
               for g in report["goals"] if "p99" in g["goal"])
    # ... and the server's own p99 of that row, from its access log
    assert all("; at the server, worst size: " in g["measured"]
               for g in report["goals"] if "p99" in g["goal"])
    assert report["settings"]["load_generator"] == "wrk"
    table = output.with_suffix(".md").read_text()
    assert "| request | 15+30 |" in table and "| DELETE |" in table
    assert "worst-case search / plain list" in table
    assert "| goal (issue 23) | measured | met |" in table
    assert "req/s" in result.stdout


def test_bench_needs_no_package_beyond_the_runtime_ones():
    # `./scripts/serve` installs only the runtime dependencies: the harness must run there
    # (issue 15: it failed with ModuleNotFoundError: requests)
    source = (ROOT / "scripts" / "bench.py").read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert "requests" not in imports
    check = subprocess.run(
        [sys.executable, "-c", "import runpy, sys; sys.modules['requests'] = None; "
         "sys.argv = ['bench.py', '--help']; runpy.run_path('scripts/bench.py', "
         "run_name='__main__')"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "--sizes" in check.stdout and "--tail-connections" in check.stdout


def test_bench_refuses_an_unreadable_comparison_before_running(tmp_path):
    check = subprocess.run(
        [sys.executable, "scripts/bench.py", "--compare", str(tmp_path / "missing.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert check.returncode != 0
    assert "--compare" in check.stderr and "missing.json" in check.stderr


def test_bench_feed_smoke_run():
    """scripts/bench_feed.py (docs/benchmarks.md, "The changes feed") runs and prints one row
    per request kind, each with a share or a multiple of a 304."""
    result = subprocess.run([sys.executable, "scripts/bench_feed.py", "--sizes", "5",
                             "--rounds", "1"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines()
            if line.startswith("| 5 |")]
    assert [cells[1].strip() for cells in rows] == [
        "create", "patch", "delete", "304", "empty poll", "3 changes"]
    for cells in rows[:3]:  # with the feed (a burst, a reservation each), without, shares
        assert all(float(cell) > 0 for cell in cells[2:5])
        assert cells[5].strip().endswith("%") and cells[6].strip().endswith("%")
    assert all(cells[5].strip().endswith("x a 304") for cells in rows[3:])


@pytest.mark.skipif(shutil.which("wrk") is None,
                    reason="wrk is not installed (.ci/run installs it with apt-get)")
def test_bench_ab_smoke_run():
    """scripts/bench_ab.py (docs/benchmarks.md, round 4) serves two checkouts and the ceiling
    side by side and prints one line per row; here the other checkout is this one."""
    result = subprocess.run([sys.executable, "scripts/bench_ab.py", "--against", str(ROOT),
                             "--rounds", "2", "--duration", "1", "patch", "delete"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["patch", "delete"], result.stdout
    for line in lines:
        words = line.split()
        this, other = float(words[2]), float(words[6])
        assert this > 0 and other > 0
        assert float(words[10]) == pytest.approx(this / other, abs=0.001)


def test_bench_ab_refuses_a_directory_that_is_no_checkout(tmp_path):
    check = subprocess.run([sys.executable, "scripts/bench_ab.py", "--against", str(tmp_path),
                            "get"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert check.returncode == 2
    assert "is not a checkout of this project" in check.stderr
